"""The download stage's work: image tasks, worker processes, the resumable ledger, de-duplication.

The stage entry is :mod:`pakfashion.download`."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import multiprocessing
import sqlite3
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image
from tqdm import tqdm

from pakfashion.common.errors import StageError, describe
from pakfashion.common.files import write_text_atomic
from pakfashion.config import DownloadConfig, WebConfig
from pakfashion.contracts import STORED_STATUSES, ImageRow, ImageStatus
from pakfashion.images.normalise import (
    ImagePolicy,
    PhashIndex,
    Rejected,
    contact_sheet,
    normalise_image,
)
from pakfashion.images.store import ImageStore
from pakfashion.web import FetchError, PoliteClient, RobotsDisallowedError
from pakfashion.web.robots import host_key
from pakfashion.web.urls import url_problem

log = logging.getLogger(__name__)


# Outcomes a rerun keeps; fetch failures are tried again.
FINAL = frozenset(ImageStatus) - {ImageStatus.fetch_failed}


@dataclass(frozen=True)
class ImageTask:
    site: str
    product_id: str
    position: int
    url: str


def image_tasks(products: pd.DataFrame, *, max_per_product: int) -> list[ImageTask]:
    """One task per image URL of each product, in the product's image order."""
    tasks = []
    for row in products.itertuples(index=False):
        urls = json.loads(row.image_urls)
        if max_per_product:
            urls = urls[:max_per_product]
        tasks.extend(ImageTask(str(row.site), str(row.product_id), i, url) for i, url in enumerate(urls))
    return tasks


class Ledger:
    """SQLite (WAL) record of finished image URLs, shared by worker threads and processes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        # No fsync per row: WAL survives a killed process; only a power cut could lose the last rows.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS images (url TEXT PRIMARY KEY, row TEXT NOT NULL)")

    def get(self, url: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._db.execute("SELECT row FROM images WHERE url = ?", (url,)).fetchone()
        return json.loads(found[0]) if found else None

    def put(self, row: ImageRow) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO images VALUES (?, ?)", (row.url, json.dumps(asdict(row))))

    def close(self) -> None:
        self._db.close()


def ledger_path(state_dir: Path, settings: DownloadConfig) -> Path:
    """One ledger per normalisation policy: other sizes or quality mean other files."""
    policy = json.dumps(asdict(ImagePolicy.from_config(settings)), sort_keys=True, default=str)
    return state_dir / "download" / f"ledger-{hashlib.sha256(policy.encode()).hexdigest()[:12]}.sqlite"


class ImageDownloader:
    """Fetch and normalise one image per call; configured once, called from worker threads."""

    def __init__(self, client: PoliteClient, settings: DownloadConfig, store: ImageStore, ledger: Ledger) -> None:
        self.client = client
        self.settings = settings
        self.policy = ImagePolicy.from_config(settings)
        self.store = store
        self.ledger = ledger
        self._host_slots: dict[str, threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()

    def __call__(self, task: ImageTask) -> ImageRow:
        """The image's row: from the ledger when a run already finished it, else downloaded now.

        A URL that is not http(s), or does not parse, is not requested; one image's unexpected failure
        is its row's error (retried next run), never the others'.
        """
        problem = url_problem(task.url)
        if problem is not None:
            return ImageRow(task.site, task.product_id, task.position, task.url, ImageStatus(problem[0].value),
                            error=problem[1])
        try:
            return self._row(task)
        except Exception as err:  # noqa: BLE001 (one image's bug must not cost the others)
            log.exception("image %s failed unexpectedly", task.url)
            return ImageRow(task.site, task.product_id, task.position, task.url, ImageStatus.fetch_failed,
                            error=f"unexpected error: {describe(err)}")

    def _row(self, task: ImageTask) -> ImageRow:
        done = self.ledger.get(task.url)
        if done is not None and self._still_valid(done):
            return ImageRow(**{**done, "site": task.site, "product_id": task.product_id,
                               "position": task.position, "status": ImageStatus(done["status"])})
        with self._slot(host_key(task.url)):
            row = self._download(task)
        self.ledger.put(row)
        return row

    def _still_valid(self, done: dict[str, Any]) -> bool:
        status = ImageStatus(done["status"])
        return status in FINAL and (status not in STORED_STATUSES or self.store.has(done["sha256"]))

    def _slot(self, host: str) -> threading.BoundedSemaphore:
        with self._slots_lock:
            return self._host_slots.setdefault(host, threading.BoundedSemaphore(self.settings.per_host_concurrency))

    def _download(self, task: ImageTask) -> ImageRow:
        base = ImageRow(task.site, task.product_id, task.position, task.url, ImageStatus.fetch_failed)
        try:
            resp = self.client.get(task.url)
        except RobotsDisallowedError as err:
            return replace(base, status=ImageStatus.disallowed, error=str(err))
        except FetchError as err:
            return replace(base, error=str(err))
        if resp.status != 200:
            return replace(base, error=f"HTTP {resp.status}")
        if self.settings.honor_noai and self.client.forbids_ai_use(resp):
            return replace(base, status=ImageStatus.opted_out, error=f"X-Robots-Tag: {resp.header('x-robots-tag')}")
        if resp.content_type and not resp.content_type.startswith(("image/", "application/octet-stream")):
            return replace(base, status=ImageStatus.decode_failed, error=f"content-type {resp.content_type!r}")
        try:
            image = normalise_image(resp.body, self.policy)
        except Rejected as err:
            return replace(base, status=ImageStatus(err.reason), error=str(err))
        self.store.put(image.sha256, image.jpeg)
        return replace(base, status=ImageStatus.ok, path=self.store.shard_path(image.sha256).as_posix(),
                       sha256=image.sha256, phash=image.phash,
                       w=image.width, h=image.height, bytes=len(resp.body))


def mark_duplicates(rows: list[ImageRow], *, near_distance: int) -> list[ImageRow]:
    """In task order, later copies become ``duplicate`` (same pixels) or ``near_duplicate`` (pHash).

    Each points at the URL of the image that is kept, so nothing is silently dropped.
    """
    exact: dict[str, str] = {}
    near = PhashIndex(near_distance) if near_distance >= 0 else None
    marked = []
    for row in rows:
        if row.status in (ImageStatus.duplicate, ImageStatus.near_duplicate):
            row = replace(row, status=ImageStatus.ok, duplicate_of="")
        if row.status is ImageStatus.ok:
            row = _dedup_one(row, exact, near)
        marked.append(row)
    return marked


def _dedup_one(row: ImageRow, exact: dict[str, str], near: PhashIndex | None) -> ImageRow:
    if row.sha256 in exact:
        return replace(row, status=ImageStatus.duplicate, duplicate_of=exact[row.sha256])
    similar = near.find(row.phash) if near is not None else None
    if similar is not None:
        return replace(row, status=ImageStatus.near_duplicate, duplicate_of=similar)
    exact[row.sha256] = row.url
    if near is not None:
        near.add(row.phash, row.url)
    return row


@dataclass(frozen=True)
class Shard:
    """What one worker process needs (picklable)."""

    tasks: list[ImageTask]
    settings: DownloadConfig
    web: WebConfig
    images_dir: Path
    ledger: Path
    show_progress: bool


def build_client(web: WebConfig, settings: DownloadConfig, *, processes: int) -> PoliteClient:
    """The web client at the download's pace, one connection per thread, images capped at ``download.max_bytes``."""
    # Each process spaces its own requests, so a host's spacing is shared out between processes.
    return PoliteClient(web, min_delay_s=settings.min_delay_s * processes, pool_size=settings.workers,
                        max_response_bytes=settings.max_bytes, deadline_s=settings.deadline_s)


def download_shard(shard: Shard) -> tuple[list[ImageRow], dict[str, int]]:
    """Download one shard on a thread pool; rows in task order, plus the client's counters."""
    client = build_client(shard.web, shard.settings, processes=max(1, shard.settings.processes))
    ledger = Ledger(shard.ledger)
    downloader = ImageDownloader(client, shard.settings, ImageStore(shard.images_dir), ledger)
    rows: list[ImageRow] = []
    counts: Counter[str] = Counter()
    last_log = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=shard.settings.workers) as pool:
            results = pool.map(downloader, shard.tasks)
            for row in tqdm(results, total=len(shard.tasks), desc="images", unit="img", mininterval=2.0,
                            disable=not shard.show_progress):
                rows.append(row)
                counts[row.status.value] += 1
                if time.monotonic() - last_log >= shard.settings.log_every_s:
                    log.info("%d/%d images: %s", len(rows), len(shard.tasks), dict(counts))
                    last_log = time.monotonic()
    finally:
        client.close()
        ledger.close()
    return rows, dict(client.stats)


def download_all(tasks: list[ImageTask], settings: DownloadConfig, *, web: WebConfig, images_dir: Path,
                 ledger: Path) -> tuple[list[ImageRow], dict[str, int]]:
    """Run the tasks in ``settings.processes`` processes; rows come back in task order."""
    images_dir.mkdir(parents=True, exist_ok=True)
    processes = max(1, min(settings.processes, len(tasks)))
    shards = [Shard(tasks[i::processes], settings, web, images_dir, ledger, show_progress=i == 0)
              for i in range(processes)]
    if processes == 1:
        results = [download_shard(shards[0])]
    else:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            results = pool.map(download_shard, shards)
    ordered: list[ImageRow | None] = [None] * len(tasks)
    stats: Counter[str] = Counter()
    for i, (rows, shard_stats) in enumerate(results):
        ordered[i::processes] = rows
        stats.update(shard_stats)
    rows = [row for row in ordered if row is not None]
    return mark_duplicates(rows, near_distance=settings.near_duplicate_distance), dict(stats)


def summarise(rows: list[ImageRow], *, seconds: float, client_stats: dict[str, int]) -> dict[str, Any]:
    by_status = Counter(row.status for row in rows)
    failures = set(ImageStatus) - STORED_STATUSES - {ImageStatus.opted_out}
    return {
        "images": len(rows),
        "ok": by_status[ImageStatus.ok],
        "by_status": {status.value: n for status, n in sorted(by_status.items())},
        "duplicates": by_status[ImageStatus.duplicate] + by_status[ImageStatus.near_duplicate],
        "opted_out": by_status[ImageStatus.opted_out],
        "failed": sum(by_status[status] for status in failures),
        "bytes_downloaded": sum(row.bytes for row in rows),
        "seconds": round(seconds, 2),
        "images_per_s": round(len(rows) / seconds, 2) if seconds > 0 else 0.0,
        "http": dict(sorted(client_stats.items())),
    }


def check_success_rate(rows: list[ImageRow], floor: float) -> None:
    """Raise when too few images downloaded: an empty output would poison the DVC cache."""
    usable = sum(row.status in STORED_STATUSES for row in rows)
    if not rows or usable / len(rows) < floor:
        raise StageError(
            f"only {usable}/{len(rows)} images downloaded (download.min_success_rate={floor}); "
            "see the error column of images.csv (paths.images_csv) for why"
        )


def adopt_loose_images(images_dir: Path) -> int:
    """Move the ``<sha256>.jpg`` files of the layout before the shards into the store, so that none is
    downloaded again; returns how many."""
    store = ImageStore(images_dir)
    loose = sorted(images_dir.glob("*.jpg"))
    for path in loose:
        store.put(path.stem, path.read_bytes())
        path.unlink()
    if loose:
        log.info("moved %d loose images of the earlier layout into the tar shards of %s", len(loose), images_dir)
    return len(loose)


def prune_unlisted(images_dir: Path, rows: list[ImageRow]) -> int:
    """Drop stored images no ledger row points to (left by earlier runs of a persisted output), then seal the
    shards (name order, no copies)."""
    store = ImageStore(images_dir)
    dropped = store.keep_only({row.sha256 for row in rows if row.status in STORED_STATUSES})
    store.seal()
    return dropped


def write_ledger(rows: list[ImageRow], path: Path) -> None:
    frame = pd.DataFrame([{**asdict(r), "status": r.status.value} for r in rows], columns=list(ImageRow.__dataclass_fields__))
    write_text_atomic(path, frame.to_csv(index=False))


def write_contact_sheet(rows: list[ImageRow], products: pd.DataFrame, images_dir: Path, path: Path, *,
                        count: int) -> None:
    """A sample of kept images (evenly spread) with their products' titles."""
    kept = [r for r in rows if r.status is ImageStatus.ok]
    sample = kept[:: max(1, len(kept) // count)][:count]
    titles = dict(zip(zip(products["site"], products["product_id"].astype(str)), products["title"]))
    store = ImageStore(images_dir)
    sheet = contact_sheet([(Image.open(io.BytesIO(store.get(r.sha256))), titles.get((r.site, r.product_id), ""))
                           for r in sample])
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=85)


def run_download(products_csv: Path, images_dir: Path, settings: DownloadConfig, *, web: WebConfig,
                 state_dir: Path) -> tuple[list[ImageRow], dict[str, Any]]:
    """Download every image of the products table; returns the ledger rows and metrics."""
    Image.MAX_IMAGE_PIXELS = settings.max_image_pixels
    products = pd.read_csv(products_csv, dtype=str, keep_default_na=False)
    tasks = image_tasks(products, max_per_product=settings.max_images_per_product)
    log.info("downloading %d images of %d products: %d processes x %d threads",
             len(tasks), len(products), settings.processes, settings.workers)
    started = time.monotonic()
    adopt_loose_images(images_dir)
    rows, stats = download_all(tasks, settings, web=web, images_dir=images_dir,
                               ledger=ledger_path(state_dir, settings))
    return rows, summarise(rows, seconds=time.monotonic() - started, client_stats=stats)
