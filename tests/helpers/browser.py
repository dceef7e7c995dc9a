"""The app in a subprocess and headless Chromium (Debian's, through its chromedriver), for the browser tests,
and stage outputs the app's tests write without running the stage (:func:`write_curation_csv`).

Without chromium and chromium-driver (`make browser`), the `app` extra (gradio) or selenium, the tests that
use these skip and say why.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from pakfashion.contracts import CurationRow

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

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
    reason=f"{CHROMIUM} or {CHROMEDRIVER} not installed: run `make browser` (apt-get install chromium "
    "chromium-driver; needs root or passwordless sudo)",
)


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


@contextmanager
def served_app(repo: Path, work: Path, *, page_size: int | None = None) -> Iterator[RunningApp]:
    """``python -m pakfashion.app --repo repo`` on a free 127.0.0.1 port (``--page-size`` when given), its log and
    gradio's files in ``work``; the start-up time is process start to HTTP 200. Skips without gradio."""
    pytest.importorskip("gradio", reason="the app extra is not installed: pip install -e '.[app]'")
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
    command = [sys.executable, "-m", "pakfashion.app", "--repo", str(repo), "--host", "127.0.0.1", "--port", str(port)]
    if page_size is not None:
        command += ["--page-size", str(page_size)]
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


@contextmanager
def chromium(profile: Path) -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile in ``profile``, no background traffic. Skips without selenium."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (test extra)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
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


def choose(driver: WebDriver, element_id: str, value: str) -> None:
    """Pick ``value`` (letters, digits, ``_-()``) in the gradio Dropdown ``element_id``: open it, click the option.

    The app re-renders a dropdown when another filter changes its choices, so an option found may be gone when
    clicked (a stale element): then the dropdown is opened again and the option found again.
    """
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    option = f"li[data-testid='dropdown-option'][aria-label='{value}']"

    def pick(d: WebDriver) -> bool:
        options = d.find_elements(By.CSS_SELECTOR, option)
        if not options:
            d.find_element(By.CSS_SELECTOR, f"#{element_id} input").click()
            return False
        options[0].click()
        return True

    WebDriverWait(driver, UI_TIMEOUT_S, ignored_exceptions=(StaleElementReferenceException,)).until(pick)


def write_curation_csv(path: Path, rows: Iterable[CurationRow]) -> None:
    """``curation.csv`` as the curate stage writes it: the :class:`CurationRow` fields as columns, enums as values."""
    records = [
        {name: value.value if isinstance(value, enum.Enum) else value for name, value in vars(row).items()}
        for row in rows
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [field.name for field in dataclasses.fields(CurationRow)]
    pd.DataFrame(records, columns=columns).to_csv(path, index=False)
