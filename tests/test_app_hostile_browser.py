"""The app treats crawled text as hostile: headless Chromium on a tiny repository whose every web-sourced value
(captions, titles, signals, evidence, product URLs, robots.txt, Content-Signal, statuses) carries markup,
script or a non-http(s) link; and the file route serves nothing outside the dataset folder.

No pipeline run: the fixture writes the stages' outputs directly (``metadata.jsonl`` with small Pillow
images, ``excluded.csv``, ``images.csv``, ``crawl.json``) under a copy of params.yaml. The Generate tab
has no trained run and the Runs tab no DVC repository: both must show a message, not fail. Every payload
would set ``window.__pwned`` / ``document.title`` or add an element with id ``pwn-<where>`` if rendered
as HTML; rendered as text, ``pwn-<where>`` shows on the page.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest
from PIL import Image

from pakfashion.app import views
from pakfashion.app.settings import load_settings
from pakfashion.common.files import write_json, write_jsonl
from pakfashion.contracts import CRAWL_REPORT_FILE, EXCLUDED_COLUMNS, METADATA_FILE
from tests.helpers import REPO_ROOT
from tests.helpers.browser import (
    UI_TIMEOUT_S,
    RunningApp,
    chromium,
    needs_chromium,
    open_tab,
    served_app,
    text_of,
)

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

pytestmark = [pytest.mark.slow, needs_chromium]

SITE = "hostile"
GOOD_URL = "https://shop.example/products/ok?a=1&b=2"
BAD_SCHEMES = [
    "javascript:window.__pwned='js-url'",
    "JaVaScRiPt:document.title='PWNED'",
    " \x01javascript:window.__pwned='ctl-url'",
    "java\tscript:window.__pwned='tab-url'",
    "data:text/html,<script>window.__pwned='data-url'</script>",
    "vbscript:msgbox(1)",
    "http://[oops/",
]
# Closes the Markdown link, then raw HTML (the excluded table's bug), and an attribute breakout.
BREAKOUT_URL = (
    "http://shop.example/p1) <img src=x id=\"pwn-url\" onerror=\"window.__pwned='url'\"> "
    "[x](javascript:window.__pwned='md-url') ("
)
ATTRIBUTE_URL = "http://shop.example/p2\" onmouseover=\"window.__pwned='attr'\" id=\"pwn-attr"


def payload(where: str) -> str:
    """Markup that, if rendered, adds ``#pwn-<where>``, runs script, links to ``javascript:``, sets bold or math."""
    return (
        f"<img src=x id=\"pwn-{where}\" onerror=\"window.__pwned='{where}';document.title='PWNED'\">"
        f"<script>window.__pwned='{where}'</script>"
        f"[md-{where}](javascript:window.__pwned='{where}') **bold-{where}** $$x^{{{where}}}$$"
    )


def write_image(path: Path, colour: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (48, 64), colour).save(path)


@pytest.fixture(scope="module")
def hostile_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """params.yaml and the outputs the app reads, every crawled value hostile."""
    repo = tmp_path_factory.mktemp("hostile") / "repo"
    repo.mkdir()
    shutil.copy(REPO_ROOT / "params.yaml", repo / "params.yaml")
    paths = load_settings(repo).paths
    urls = [*BAD_SCHEMES, BREAKOUT_URL, ATTRIBUTE_URL, GOOD_URL]
    rows = []
    for i, url in enumerate(urls):
        name = f"h{i}.png" if i % 2 else f"h{i}.jpg"
        write_image(paths.dataset / "train" / name, ["red", "blue", "green"][i % 3])
        rows.append({"file_name": name, "text": f"red kurta {i} {payload('caption')}", "site": SITE,
                     "product_id": f"H{i}", "product_url": url, "title": payload("title"),
                     "garment": payload("garment"), "colours": ["red"]})  # fmt: skip
    write_jsonl(paths.dataset / "train" / METADATA_FILE, rows)
    (paths.dataset / "train" / "leak.yaml").symlink_to(repo / "params.yaml")

    excluded = [
        {"site": SITE, "product_id": f"X{i}", "product_url": url, "title": payload("extitle"),
         "reason": "children" if i else payload("reason"), "signal": payload("signal"),
         "evidence": f"title: '{payload('evidence')}' (+3.0 children) | {payload('bare')}"}  # fmt: skip
        for i, url in enumerate([BREAKOUT_URL, *BAD_SCHEMES[:2], GOOD_URL])
    ]
    paths.excluded_csv.parent.mkdir(parents=True, exist_ok=True)
    excluded_rows = pd.DataFrame(excluded).reindex(columns=list(EXCLUDED_COLUMNS), fill_value="")
    excluded_rows.to_csv(paths.excluded_csv, index=False)
    pd.DataFrame({"site": [SITE, SITE], "status": ["ok", payload("status")]}).to_csv(paths.images_csv, index=False)

    robots = {
        "url": "javascript:window.__pwned='robots-url'",
        "status": 200,
        "policy": payload("policy"),
        "sha256": payload("sha"),  # shown cut to 16 characters
        "fetched_at": payload("fetched"),
        "content_signals": {"ai-train": payload("signal-value"), payload("signal-key"): "no"},
        "text": f"User-agent: *\nDisallow: /cart\n# {payload('robots')}\n",
    }
    report = {"site": SITE, "platform": payload("platform"), "products": 4, "opted_out": True,
              "stopped_reason": payload("stopped"), "http": {"robots/forbidden": 1}, "pages": {"opted_out": 2},
              "robots": [robots]}  # fmt: skip
    write_json(paths.raw / SITE / CRAWL_REPORT_FILE, report)
    return repo


@pytest.fixture(scope="module")
def running_app(hostile_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with served_app(hostile_repo, tmp_path_factory.mktemp("app")) as app:
        yield app


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(tmp_path / "chromium-profile") as driver:
        yield driver


INJECTED = """
const found = [...document.querySelectorAll('[id^="pwn-"], script, iframe, object, embed')]
  .filter(e => e.id.startsWith('pwn-') || (e.textContent || '').includes('__pwned'));
return {
  pwned: window.__pwned === undefined ? null : String(window.__pwned),
  title: document.title,
  elements: found.map(e => e.outerHTML.slice(0, 200)),
  bold: [...document.querySelectorAll('strong, b')].map(e => e.textContent).filter(t => t.startsWith('bold-')),
  math: document.querySelectorAll('.katex').length,
  links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))
    .filter(h => /^((java|vb)script|data):/i.test(h.replace(/[\\x00-\\x20]/g, ''))),
};
"""


def assert_nothing_injected(driver: WebDriver, where: str) -> None:
    """No payload ran, added an element, turned into Markdown or math, or left a script/data link on the page."""
    found = driver.execute_script(INJECTED)
    assert found == {"pwned": None, "title": "pakfashion", "elements": [], "bold": [], "math": 0, "links": []}, where


def assert_shown_as_text(driver: WebDriver, element_id: str, *wheres: str) -> str:
    """Each payload's markup (``id="pwn-<where>"``, the Markdown link) is visible as text in ``element_id``."""
    text = text_of(driver, element_id)
    for where in wheres:
        assert f'id="pwn-{where}"' in text and f"[md-{where}](javascript:" in text, (where, text[:2000])
    return text


def test_hostile_values_render_as_text_and_links_only_http(running_app: RunningApp, browser: WebDriver) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, UI_TIMEOUT_S)
    browser.get(running_app.url)

    # Browse: the cards' captions and garments as text; a product link only for the http(s) URLs.
    wait.until(lambda d: "images match" in text_of(d, "dataset-status"))
    grid = assert_shown_as_text(browser, "dataset-grid", "caption", "garment")
    assert grid.count("product page") == len(BAD_SCHEMES) + 3, grid
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#dataset-grid .pf-meta a")]
    assert sorted(links) == sorted(views.safe_url(url) for url in (BREAKOUT_URL, ATTRIBUTE_URL, GOOD_URL)), links
    assert_nothing_injected(browser, "browse")

    # Excluded: titles, signals, evidence and reasons as text; the breakout URL stays one link.
    open_tab(browser, "Excluded")
    wait.until(lambda d: "excluded products shown" in text_of(d, "excluded-status"))
    assert_shown_as_text(browser, "excluded-table", "extitle", "signal", "evidence", "bare")
    assert_shown_as_text(browser, "excluded-status", "reason")
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#excluded-table a[href]")]
    assert set(links) == {views.safe_url(BREAKOUT_URL), GOOD_URL}, links  # (gradio draws a row twice)
    assert_nothing_injected(browser, "excluded")

    # Sites & robots: per-site counts (the status and reason become column names), the ledger, robots.txt.
    open_tab(browser, "Sites & robots")
    wait.until(lambda d: "sites crawled" in text_of(d, "sites-status"))
    assert_shown_as_text(browser, "site-counts", "platform", "status", "reason")
    assert_shown_as_text(browser, "robots-ledger", "policy", "fetched", "signal-value", "signal-key", "stopped")
    wait.until(lambda d: "pwn-robots" in text_of(d, "robots-text"))
    assert_nothing_injected(browser, "sites")

    # No trained run, no DVC repository: messages, not failures.
    open_tab(browser, "Generate")
    assert "Base model" in text_of(browser, "gen-status")
    open_tab(browser, "Runs")
    wait.until(lambda d: "dvc exp show" in text_of(d, "runs-status"))
    assert_nothing_injected(browser, "generate and runs")


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_file_route_serves_only_the_dataset_folder(running_app: RunningApp, hostile_repo: Path) -> None:
    dataset = load_settings(hostile_repo).paths.dataset
    route = f"{running_app.url}gradio_api/file="
    image = dataset / "train" / "h0.jpg"
    with urllib.request.urlopen(route + str(image), timeout=10) as response:
        assert (response.status, response.read()) == (200, image.read_bytes())
    params = hostile_repo / "params.yaml"
    outside = [
        "/etc/passwd",
        str(params),
        f"{dataset}/../../params.yaml",
        f"{dataset}/train/../../../params.yaml",
        f"{dataset}/%2e%2e/%2e%2e/params.yaml",
        f"{dataset}/%2E%2E%2F%2E%2E%2Fparams.yaml",
        f"{dataset}/%252e%252e/%252e%252e/params.yaml",
        "%2Fetc%2Fpasswd",
        "..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "../../../../../../etc/passwd",
        f"{dataset}/train/leak.yaml",  # a symlink out of the dataset folder
        str(REPO_ROOT / "pyproject.toml"),
        f"{running_app.url}config",  # gradio fetches http(s) URLs: never its own loopback
    ]
    answers = {path: status_of(route + path) for path in outside}
    assert all(code in (403, 404) for code in answers.values()), answers
