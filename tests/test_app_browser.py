"""The web app on the demo outputs, driven by headless Chromium (Debian's, through its chromedriver).

`make test` installs chromium and chromium-driver first (`make browser`); without them, or without the
`app` extra (gradio) or selenium, these tests skip and say why. The app runs in a subprocess on a free
127.0.0.1 port against a copy of the session's `demo_repo` (one `dvc repro` on the demo store), so the
pipeline is not run again. In that copy the base model is the committed pretrained tiny SD
(`assets/tiny/sd` of this checkout, absolute) and the default run is a LoRA trained here for a few dozen
steps on purple and pink world drawings (colours the base never saw), so base and fine-tuned images of
one seed must differ visibly. Screenshots go to the test's tmp dir; `generate.png` and the two generated
PNGs are also kept in `tests/artifacts/` (git-ignored) for a look after the run.
"""

from __future__ import annotations

import io
import shutil
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

from tests.helpers import REPO_ROOT, configured, paths_under
from tests.helpers.browser import UI_TIMEOUT_S, RunningApp, chromium, needs_chromium, open_tab, served_app, text_of

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

BASE_SD = REPO_ROOT / "assets" / "tiny" / "sd"
RUN = "lora-world"
PROMPT = "purple lawn kurta"
# DPM-Solver++ (the tiny SD's scheduler) needs about 20 steps for a clean image (2 leave mostly noise).
STEPS = 20
LORA_STEPS = 40
# Mean |base - fine-tuned| over pixels and channels, 0-255. The same seed starts both from the same noise
# on CPU, so a LoRA that is not applied gives exactly 0; this LoRA redraws the base's green kurta in
# purple, about 30 grey levels (22-31 over seeds 0-3). 10 is a third of that and far above float noise.
MIN_PIXEL_DIFFERENCE = 10.0
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"

pytestmark = [pytest.mark.slow, pytest.mark.network, needs_chromium]


def train_world_lora(base: Path, work: Path, models: Path) -> dict[str, object]:
    """``models/RUN``: a LoRA briefly trained (our train stage, ``train=lora``) on purple and pink world
    drawings, the colours the pretrained tiny SD lacks; returns the train metrics."""
    from pakfashion.config import ModelConfig, TrainConfig
    from pakfashion.pretraining.world import HELD_OUT_COLOURS, world_images, write_imagefolder
    from pakfashion.training.loop import train

    model = configured(ModelConfig, pretrained=str(base), weights=str(base))
    write_imagefolder(world_images(7, 64, px=model.resolution, colours=HELD_OUT_COLOURS), work / "data" / "train")
    paths = paths_under(work, dataset=work / "data", models=models)
    settings = configured(
        TrainConfig, "train=lora", run_name=RUN, max_steps=LORA_STEPS, batch_size=16, lr=1e-3, rank=8,
        lora_alpha=8, mixed_precision="no", aspect_buckets=False, checkpoint_every=0, validation_every=0,
    )  # fmt: skip
    return train(paths, model, settings, seed=0)


@pytest.fixture(scope="module")
def app_repo(demo_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of ``demo_repo`` whose params.yaml names ``BASE_SD`` (absolute) as the base model and
    ``RUN`` (trained here into its models/) as the run the Generate tab picks first."""
    from omegaconf import OmegaConf

    assert (BASE_SD / "model_index.json").is_file(), (
        f"{BASE_SD} is missing: build it with `python -m pakfashion.pretraining --out assets/tiny`"
    )
    work = tmp_path_factory.mktemp("app-repo")
    repo = work / "repo"
    shutil.copytree(demo_repo, repo, symlinks=True)
    params_file = repo / "params.yaml"
    params = OmegaConf.load(params_file)
    train_world_lora(BASE_SD, work / "lora", repo / params.paths.models)
    params.model.pretrained = str(BASE_SD)
    params.train.run_name = RUN
    OmegaConf.save(params, params_file)
    return repo


@pytest.fixture(scope="module")
def running_app(app_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """``python -m pakfashion.app`` on ``app_repo``."""
    with served_app(app_repo, tmp_path_factory.mktemp("app")) as app:
        yield app


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(tmp_path / "chromium-profile") as driver:
        yield driver


def test_browse_search_excluded_generate_and_runs(
    running_app: RunningApp, browser: WebDriver, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    import re

    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    record_property("app_startup_s", round(running_app.startup_s, 2))
    (tmp_path / "startup.txt").write_text(f"{running_app.startup_s:.2f} s from process start to HTTP 200\n")
    wait = WebDriverWait(browser, UI_TIMEOUT_S)
    browser.get(running_app.url)

    # Dataset: every image at first, then only captions with the colour word (whole word: not "embroidered").
    wait.until(lambda d: "images match" in text_of(d, "dataset-status"))
    total = int(re.search(r"(\d+)\*?\*? images match", text_of(browser, "dataset-status")).group(1))
    search = browser.find_element(By.CSS_SELECTOR, "#dataset-search input, #dataset-search textarea")
    search.send_keys("red", Keys.ENTER)
    wait.until(lambda d: f"{total} images" not in text_of(d, "dataset-status"))
    captions = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#dataset-grid .pf-caption")]
    assert captions, "no caption shown for 'red'"
    assert all(re.search(r"(?<![\w-])red(?![\w-])", c, re.IGNORECASE) for c in captions), captions
    assert browser.find_elements(By.CSS_SELECTOR, "#dataset-grid a[href*='127.0.0.']")
    browser.save_screenshot(str(tmp_path / "dataset-search-red.png"))

    # Excluded products with their reason and deciding signal.
    open_tab(browser, "Excluded")
    wait.until(lambda d: "excluded products shown" in text_of(d, "excluded-status"))
    table = text_of(browser, "excluded-table")
    assert "children" in table and "non_clothing" in table and "age size" in table, table[:1000]
    browser.save_screenshot(str(tmp_path / "dataset-excluded.png"))

    # Generate: the pretrained base and the purple/pink LoRA side by side, same seed, 20 steps.
    open_tab(browser, "Generate")
    prompt = browser.find_element(By.CSS_SELECTOR, "#gen-prompt input, #gen-prompt textarea")
    prompt.clear()
    prompt.send_keys(PROMPT)
    steps = browser.find_element(By.CSS_SELECTOR, "#gen-steps input[type=number]")
    steps.clear()
    steps.send_keys(str(STEPS), Keys.TAB)
    browser.find_element(By.ID, "gen-button").click()
    loaded = "return [...document.querySelectorAll(arguments[0])].filter(i => i.complete && i.naturalWidth > 0).length"
    wait.until(lambda d: d.execute_script(loaded, "#gen-base img") and d.execute_script(loaded, "#gen-tuned img"))
    status = text_of(browser, "gen-status")
    assert f"{STEPS} steps" in status and RUN in status, status
    browser.save_screenshot(str(tmp_path / "generate.png"))
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy2(tmp_path / "generate.png", ARTIFACTS / "generate.png")
    # The download links serve the PNGs with the settings embedded.
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#gen-files a[download]")]
    assert [link.rsplit("/", 1)[-1] for link in links] == ["base-seed0.png", f"{RUN}-seed0.png"], links
    pngs = []
    for link in links:
        with urllib.request.urlopen(link, timeout=10) as response:
            pngs.append(response.read())
    (ARTIFACTS / "generate-base-seed0.png").write_bytes(pngs[0])
    (ARTIFACTS / f"generate-{RUN}-seed0.png").write_bytes(pngs[1])
    base_image, tuned_image = (Image.open(io.BytesIO(png)) for png in pngs)
    parameters = tuned_image.text["parameters"]
    assert parameters.startswith(f"{PROMPT}\nSteps: {STEPS},") and f"Model: {RUN}" in parameters, parameters
    # The LoRA changes what is drawn: base and fine-tuned images of the same seed differ visibly.
    base_pixels, tuned_pixels = (np.asarray(i.convert("RGB"), dtype=np.float64) for i in (base_image, tuned_image))
    assert base_pixels.shape == tuned_pixels.shape, (base_pixels.shape, tuned_pixels.shape)
    difference = float(np.abs(tuned_pixels - base_pixels).mean())
    record_property("generate_mean_abs_pixel_difference", round(difference, 2))
    assert difference > MIN_PIXEL_DIFFERENCE, (
        f"base and {RUN} images of seed 0 for {PROMPT!r} differ by {difference:.2f} grey levels (mean absolute "
        f"difference over pixels and channels, 0-255), not more than {MIN_PIXEL_DIFFERENCE}: the fine-tuned "
        f"image does not show the LoRA (not loaded, switched off, or the base kept it); see "
        f"{ARTIFACTS / 'generate.png'}"
    )

    # Runs: the dvc exp show table and the workspace's sample grid.
    open_tab(browser, "Runs")
    wait.until(lambda d: "runs:" in text_of(d, "runs-status"))
    wait.until(lambda d: d.execute_script(loaded, "#runs-samples img"))
    assert "workspace" in text_of(browser, "runs-table")
    browser.save_screenshot(str(tmp_path / "runs.png"))
