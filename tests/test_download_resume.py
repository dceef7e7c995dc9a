"""A download killed with SIGKILL resumes from its ledger: same ledger and files as an uninterrupted run."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pakfashion.config import DownloadConfig
from pakfashion.images.download import (
    ledger_path,
    prune_unlisted,
    run_download,
    write_ledger,
)
from tests.helpers import configured, quick_web

pytestmark = [pytest.mark.network, pytest.mark.slow]

SETTINGS = configured(DownloadConfig, min_delay_s=0.0, workers=2, per_host_concurrency=1)
WEB = quick_web()
# The child downloads with the same settings (pickled to argv[4]).
CHILD = """
import pickle
import sys
from pathlib import Path
from pakfashion.images.download import run_download
settings, web = pickle.loads(Path(sys.argv[4]).read_bytes())
run_download(Path(sys.argv[1]), Path(sys.argv[2]), settings, web=web, state_dir=Path(sys.argv[3]))
"""


def write_products(demo, path: Path) -> None:  # noqa: ANN001
    rows = []
    for name in ("demo_shop", "demo_boutique"):
        netloc = demo.base_url(name).split("//")[1]
        for product in demo.world.products(name):
            urls = [("http:" + i["src"]) if i["src"].startswith("//") else i["src"] for i in product.render(netloc)["images"]]
            rows.append({"site": name, "product_id": str(product.id), "title": product.title, "image_urls": json.dumps(urls)})
    pd.DataFrame(rows).to_csv(path, index=False)


def finished(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM images").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path: Path, demo_store) -> None:  # noqa: ANN001
    products = tmp_path / "products.csv"
    write_products(demo_store, products)
    demo_store.faults.slow_s = 0.05
    killed, state, settings = tmp_path / "killed", tmp_path / "state", tmp_path / "settings.pickle"
    db = ledger_path(state, SETTINGS)
    settings.write_bytes(pickle.dumps((SETTINGS, WEB)))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(products), str(killed / "images"), str(state),
                              str(settings)])
    deadline = time.monotonic() + 60
    while finished(db) < 20 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    done_at_kill = finished(db)
    total = sum(len(json.loads(urls)) for urls in pd.read_csv(products)["image_urls"])
    assert 20 <= done_at_kill < total, "kill the download halfway"
    time.sleep(0.2)
    demo_store.clear_log()

    rows, _ = run_download(products, killed / "images", SETTINGS, web=WEB, state_dir=state)
    image_requests = [r for r in demo_store.request_log if r.path.startswith("/cdn/")]
    # Only unfinished images are fetched again (plus retries of the ones in flight at the kill).
    assert len(image_requests) <= total - done_at_kill + SETTINGS.workers
    write_ledger(rows, killed / "images.csv")

    demo_store.faults.slow_s = 0.0
    fresh = tmp_path / "fresh"
    fresh_rows, _ = run_download(products, fresh / "images", SETTINGS, web=WEB, state_dir=tmp_path / "fresh-state")
    write_ledger(fresh_rows, fresh / "images.csv")
    killed_table = (killed / "images.csv").read_text().replace(str(killed), "")
    fresh_table = (fresh / "images.csv").read_text().replace(str(fresh), "")
    assert killed_table == fresh_table
    # The stage ends by sealing the shards: a member torn by the kill is gone, and the order images finished in
    # no longer shows, so the resumed store has the bytes of the uninterrupted one.
    assert prune_unlisted(killed / "images", rows) == prune_unlisted(fresh / "images", fresh_rows) == 0
    assert files(killed / "images") == files(fresh / "images")
