"""The Dataset tab's Curation view in headless Chromium: the curate stage's dropped images, by reason and site.

No pipeline run and no curate code: the fixture writes what the curate stage hands the app, ``curation.csv``
(:class:`CurationRow` fields) and ``curation.json``, beside a tiny image store (a solid colour per image) under
a copy of params.yaml. Picking a reason must show exactly that reason's thumbnails, each with its deciding
signal, served from the store; one dropped image's signal, findings and URL are hostile and must show as text.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from pakfashion.app.settings import load_settings
from pakfashion.common.files import write_json
from pakfashion.contracts import (
    CURATION_METRICS,
    CurationDecision,
    CurationReason,
    CurationRow,
)
from pakfashion.images.store import ImageStore
from tests.helpers import REPO_ROOT, store_image
from tests.helpers.browser import (
    UI_TIMEOUT_S,
    RunningApp,
    choose,
    chromium,
    needs_chromium,
    open_tab,
    served_app,
    text_of,
    write_curation_csv,
)

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

pytestmark = [pytest.mark.slow, needs_chromium]

PAGE_SIZE = 2
HOSTILE = "<img src=x id=\"pwn-signal\" onerror=\"window.__pwned='signal'\"><script>window.__pwned=1</script>"


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def row(name: str, site: str, decision: CurationDecision, reason: CurationReason | str = "", signal: str = "",
        **fields: str) -> CurationRow:  # fmt: skip
    return CurationRow(sha(name), site, name, 0, f"https://{site}.example/images/{name}.jpg", decision, reason, signal,
                       **fields)  # fmt: skip


KEEP, DROP = CurationDecision.keep, CurationDecision.drop
ROWS = [
    row("k1", "shop", KEEP),
    row("b1", "shop", DROP, CurationReason.blurry, "sharpness 12.3 < 40.0",
        findings='{"blurry": "sharpness 12.3 < 40.0", "too_dark": "brightness 0.05 < 0.10"}'),
    row("s1", "shop", DROP, CurationReason.size_chart, "text area 0.41 > 0.25"),
    row("b2", "boutique", DROP, CurationReason.blurry, "sharpness 3.1 < 40.0"),
    row("d1", "shop", DROP, CurationReason.too_dark, f"brightness {HOSTILE}",
        findings=json.dumps({f"logo{HOSTILE}": HOSTILE})),
    row("k2", "boutique", KEEP),
]  # fmt: skip
COLOURS = ["white", "red", "blue", "green", "black", "yellow"]


@pytest.fixture(scope="module")
def curation_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """params.yaml, the image store and the curate stage's outputs (nothing else: the other views say so)."""
    repo = tmp_path_factory.mktemp("curation") / "repo"
    repo.mkdir()
    shutil.copy(REPO_ROOT / "params.yaml", repo / "params.yaml")
    paths = load_settings(repo).paths
    for curation_row, colour in zip(ROWS, COLOURS, strict=True):
        store_image(paths.images, curation_row.sha256, Image.new("RGB", (48, 64), colour))
    write_curation_csv(paths.curation_csv, ROWS)
    write_json(paths.metrics / CURATION_METRICS, {"ground_truth": {"blurry": {"precision": 1.0, "recall": 0.5}}})
    return repo


@pytest.fixture(scope="module")
def running_app(curation_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with served_app(curation_repo, tmp_path_factory.mktemp("app"), page_size=PAGE_SIZE) as app:
        yield app


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(tmp_path / "chromium-profile") as driver:
        yield driver


CARDS = """
return [...document.querySelectorAll('#curation-grid .pf-card')].map(card => {
  const image = card.querySelector('img'), link = card.querySelector('.pf-meta a');
  return {reason: card.dataset.reason, signal: card.querySelector('.pf-signal').textContent,
          image: image ? image.src : '', loaded: !!image && image.complete && image.naturalWidth > 0,
          link: link ? link.getAttribute('href') : null};
});
"""
INJECTED = """
return {pwned: window.__pwned === undefined ? null : String(window.__pwned),
        elements: document.querySelectorAll('[id^="pwn-"]').length,
        links: [...document.querySelectorAll('a[href]')]
          .filter(a => /^javascript:/i.test(a.getAttribute('href'))).length};
"""


def shown(driver: WebDriver, reasons: set[str], count: int) -> list[dict[str, object]] | None:
    """The cards, once exactly ``count`` of them show with only ``reasons`` and every thumbnail loaded."""
    cards = driver.execute_script(CARDS)
    if len(cards) != count or {card["reason"] for card in cards} - reasons or not all(c["loaded"] for c in cards):
        return None
    return cards


def test_curation_filters_by_reason_and_site_with_thumbnails(
    running_app: RunningApp, browser: WebDriver, curation_repo: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, UI_TIMEOUT_S)
    browser.get(running_app.url)
    wait.until(lambda d: "dvc repro caption" in text_of(d, "dataset-status"))  # loaded; no dataset here
    open_tab(browser, "Curation")
    wait.until(lambda d: "dropped images match" in text_of(d, "curation-status"))
    summary = text_of(browser, "curation-summary")
    assert "6 images: 2 kept, 4 dropped (blurry 2, size_chart 1, too_dark 1)" in summary, summary
    assert "blurry precision 1.00, recall 0.50" in summary, summary

    # Every dropped image, two a page, no kept one.
    assert "Page 1 of 2 · 4 dropped images match" in text_of(browser, "curation-status")
    first = wait.until(lambda d: shown(d, {"blurry", "size_chart"}, 2))
    browser.find_element(By.ID, "curation-next").click()
    wait.until(lambda d: "Page 2 of 2" in text_of(d, "curation-status"))
    second = wait.until(lambda d: shown(d, {"blurry", "too_dark"}, 2))
    assert {card["signal"] for card in first + second} == {row.signal for row in ROWS if row.decision is DROP}

    # A reason: exactly its thumbnails, each with its deciding signal, from the store; the others hidden.
    choose(browser, "curation-reason", "blurry")
    cards = wait.until(lambda d: shown(d, {"blurry"}, 2) if "Page 1 of 1" in text_of(d, "curation-status") else None)
    assert sorted(card["signal"] for card in cards) == ["sharpness 12.3 < 40.0", "sharpness 3.1 < 40.0"]
    grid = text_of(browser, "curation-grid")
    assert "too_dark: brightness 0.05 < 0.10" in grid and "text area" not in grid and "size_chart" not in grid, grid
    assert sorted(card["link"] for card in cards) == sorted(row.url for row in ROWS if row.reason == "blurry")
    with urllib.request.urlopen(cards[0]["image"], timeout=10) as response:
        served = response.read()
    stored = {ImageStore(load_settings(curation_repo).paths.images).get(row.sha256) for row in ROWS}
    assert served in stored
    browser.save_screenshot(str(tmp_path / "curation-blurry.png"))

    # And a site.
    choose(browser, "curation-site", "boutique")
    cards = wait.until(lambda d: shown(d, {"blurry"}, 1))
    assert cards[0]["signal"] == "sharpness 3.1 < 40.0"
    choose(browser, "curation-reason", "size_chart")
    wait.until(lambda d: "No dropped image matches" in text_of(d, "curation-grid"))

    # The hostile signal and findings: text, nothing injected.
    choose(browser, "curation-site", "(any)")
    choose(browser, "curation-reason", "too_dark")
    wait.until(lambda d: shown(d, {"too_dark"}, 1))
    grid = text_of(browser, "curation-grid")
    assert f"brightness {HOSTILE}" in grid and f"logo{HOSTILE}: {HOSTILE}" in grid, grid
    assert browser.execute_script(INJECTED) == {"pwned": None, "elements": 0, "links": 0}

    # Without curation.csv: which stage makes it.
    load_settings(curation_repo).paths.curation_csv.unlink()
    browser.get(running_app.url)
    wait.until(lambda d: "dvc repro caption" in text_of(d, "dataset-status"))
    open_tab(browser, "Curation")
    wait.until(lambda d: "dvc repro curate" in text_of(d, "curation-summary"))
    assert "curation.csv not found" in text_of(browser, "curation-summary")
