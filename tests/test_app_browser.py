"""The web app on the demo outputs, driven by headless Chromium (Debian's, through its chromedriver).

`make test` installs chromium and chromium-driver first (`make browser`); without them, or without the
`app` extra (gradio) or selenium, these tests skip and say why. The app runs in a subprocess on a free
127.0.0.1 port against the session's `demo_repo` (one `dvc repro` on the demo store), so the pipeline is
not run again. Screenshots go to the test's tmp dir.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", shutil.which("chromedriver") or "/usr/bin/chromedriver"))
STARTUP_TIMEOUT_S = 90.0
UI_TIMEOUT_S = 60.0
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1800",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.network,
    pytest.mark.skipif(
        not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
        reason=f"{CHROMIUM} or {CHROMEDRIVER} not installed: run `make browser` (apt-get install chromium "
        "chromium-driver; needs root or passwordless sudo)",
    ),
]


@dataclass(frozen=True)
class RunningApp:
    url: str
    startup_s: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log_file: Path) -> None:
    """Poll ``url`` until it answers 200; fail with the app's log if it exits or takes too long."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"app exited with {process.returncode}:\n{log_file.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    pytest.fail(f"app not ready after {STARTUP_TIMEOUT_S:.0f} s:\n{log_file.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def running_app(demo_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """``python -m pakfashion.app`` on ``demo_repo``; the start-up time is process start to HTTP 200."""
    pytest.importorskip("gradio", reason="the app extra is not installed: pip install -e '.[app]'")
    work = tmp_path_factory.mktemp("app")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log_file = work / "app.log"
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(work / "gradio"),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        "-m",
        "pakfashion.app",
        "--repo",
        str(demo_repo),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log_file.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_ready(url, process, log_file)
            yield RunningApp(url=url, startup_s=time.perf_counter() - started)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile, no background traffic."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (test extra)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def text_of(driver: WebDriver, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text


def open_tab(driver: WebDriver, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.XPATH, f"//button[@role='tab' and normalize-space()='{name}']").click()


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

    # Generate: base and the demo LoRA side by side, 2 steps, the images load.
    open_tab(browser, "Generate")
    prompt = browser.find_element(By.CSS_SELECTOR, "#gen-prompt input, #gen-prompt textarea")
    prompt.clear()
    prompt.send_keys("green silk dupatta")
    steps = browser.find_element(By.CSS_SELECTOR, "#gen-steps input[type=number]")
    steps.clear()
    steps.send_keys("2", Keys.TAB)
    browser.find_element(By.ID, "gen-button").click()
    loaded = "return [...document.querySelectorAll(arguments[0])].filter(i => i.complete && i.naturalWidth > 0).length"
    wait.until(lambda d: d.execute_script(loaded, "#gen-base img") and d.execute_script(loaded, "#gen-tuned img"))
    status = text_of(browser, "gen-status")
    assert "2 steps" in status and "lora-tiny" in status, status
    # The download links serve the PNGs with the settings embedded.
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#gen-files a[download]")]
    assert [link.rsplit("/", 1)[-1] for link in links] == ["base-seed0.png", "lora-tiny-seed0.png"], links
    with urllib.request.urlopen(links[1], timeout=10) as response:
        parameters = Image.open(io.BytesIO(response.read())).text["parameters"]
    assert parameters.startswith("green silk dupatta\nSteps: 2,") and "Model: lora-tiny" in parameters, parameters
    browser.save_screenshot(str(tmp_path / "generate.png"))

    # Runs: the dvc exp show table and the workspace's sample grid.
    open_tab(browser, "Runs")
    wait.until(lambda d: "runs:" in text_of(d, "runs-status"))
    wait.until(lambda d: d.execute_script(loaded, "#runs-samples img"))
    assert "workspace" in text_of(browser, "runs-table")
    browser.save_screenshot(str(tmp_path / "runs.png"))
