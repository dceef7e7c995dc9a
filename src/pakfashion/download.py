"""Stage `download`: every image of every kept product → verified, normalised, content-addressed JPEGs.

Reads ``paths.products_csv``; writes ``<paths.images>/<sha256>.jpg`` (RGB JPEG; the name is the sha256
of the decoded pixels, so identical images are stored once), ``paths.images_csv`` (a ledger row for
every image URL, failures included) and ``<paths.metrics>/download.json``.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
import logging
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import imagehash
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

from pakfashion.config import CrawlConfig, DownloadConfig, PathsConfig, as_typed, stage_main
from pakfashion.files import write_bytes_atomic, write_json, write_text_atomic
from pakfashion.web import FetchError, PoliteClient, RobotsDisallowedError
from pakfashion.web.http import ClientSettings

log = logging.getLogger(__name__)

OPT_OUT_DIRECTIVES = frozenset({"noai", "noimageai"})


class Status(str, enum.Enum):
    ok = "ok"
    duplicate = "duplicate"
    opted_out = "opted_out"
    disallowed = "disallowed"
    fetch_failed = "fetch_failed"
    decode_failed = "decode_failed"
    too_small = "too_small"


@dataclass(frozen=True)
class ImageTask:
    site: str
    product_id: str
    position: int
    url: str


@dataclass(frozen=True)
class ImageRow:
    """One line of images.csv: what happened to one image URL."""

    site: str
    product_id: str
    position: int
    url: str
    status: Status
    path: str = ""
    sha256: str = ""
    phash: str = ""
    w: int = 0
    h: int = 0
    bytes: int = 0
    error: str = ""
    duplicate_of: str = ""


@dataclass(frozen=True)
class NormalisedImage:
    jpeg: bytes
    sha256: str
    phash: str
    width: int
    height: int


class ImageRejected(Exception):
    """The bytes are not a usable image; ``status`` says which way."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status


def image_tasks(products: pd.DataFrame, *, max_per_product: int) -> list[ImageTask]:
    """One task per image URL of each product, in the product's image order."""
    tasks = []
    for row in products.itertuples(index=False):
        urls = json.loads(row.image_urls)
        if max_per_product:
            urls = urls[:max_per_product]
        tasks.extend(ImageTask(str(row.site), str(row.product_id), i, url) for i, url in enumerate(urls))
    return tasks


def opted_out(x_robots_tag: str, *, agent_token: str) -> bool:
    """Whether ``X-Robots-Tag`` forbids AI use (``noai``/``noimageai``) for all agents or ours.

    ``otherbot: noai`` binds only otherbot; directives after an agent name belong to that agent.
    """
    agent: str | None = None
    for part in x_robots_tag.split(","):
        name, has_agent, directive = part.rpartition(":")
        if has_agent:
            agent = name.strip().lower()
        if directive.strip().lower() in OPT_OUT_DIRECTIVES and agent in (None, "*", agent_token.lower()):
            return True
    return False


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB on white: alpha and palette transparency are flattened, CMYK/L/P converted."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def normalise_image(data: bytes, settings: DownloadConfig) -> NormalisedImage:
    """Decode, orient, convert to RGB and re-encode; ImageRejected when unusable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                if opened.width * opened.height > settings.max_image_pixels:
                    raise ImageRejected(Status.decode_failed, f"{opened.width}x{opened.height} exceeds max_image_pixels")
                opened.load()
                image = _to_rgb(ImageOps.exif_transpose(opened))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as err:
        raise ImageRejected(Status.decode_failed, f"{type(err).__name__}: {err}") from err
    if min(image.size) < settings.min_side_px:
        raise ImageRejected(Status.too_small, f"{image.width}x{image.height} below min_side_px={settings.min_side_px}")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=settings.jpeg_quality, optimize=True)
    digest = hashlib.sha256(image.tobytes() + f"{image.width}x{image.height}".encode()).hexdigest()
    return NormalisedImage(out.getvalue(), digest, str(imagehash.phash(image)), image.width, image.height)


class ImageDownloader:
    """Fetch and normalise one image per call; configured once, called from worker threads."""

    def __init__(self, client: PoliteClient, settings: DownloadConfig, images_dir: Path) -> None:
        self.client = client
        self.settings = settings
        self.images_dir = images_dir

    def __call__(self, task: ImageTask) -> ImageRow:
        base = ImageRow(task.site, task.product_id, task.position, task.url, Status.fetch_failed)
        try:
            resp = self.client.get(task.url)
        except RobotsDisallowedError as err:
            return replace(base, status=Status.disallowed, error=str(err))
        except FetchError as err:
            return replace(base, error=str(err))
        if resp.status != 200:
            return replace(base, error=f"HTTP {resp.status}")
        if self.settings.honor_noai and opted_out(
            resp.header("x-robots-tag"), agent_token=self.client.robots.agent_token
        ):
            return replace(base, status=Status.opted_out, error=f"X-Robots-Tag: {resp.header('x-robots-tag')}")
        if resp.content_type and not resp.content_type.startswith("image/"):
            return replace(base, status=Status.decode_failed, error=f"content-type {resp.content_type!r}")
        try:
            image = normalise_image(resp.body, self.settings)
        except ImageRejected as err:
            return replace(base, status=err.status, error=str(err))
        path = self.images_dir / f"{image.sha256}.jpg"
        if not path.exists():
            write_bytes_atomic(path, image.jpeg)
        return replace(base, status=Status.ok, path=path.as_posix(), sha256=image.sha256, phash=image.phash,
                       w=image.width, h=image.height, bytes=len(resp.body))


def mark_duplicates(rows: list[ImageRow]) -> list[ImageRow]:
    """Second and later rows with the same pixels become ``duplicate`` pointing at the first URL."""
    first_url: dict[str, str] = {}
    marked = []
    for row in rows:
        if row.status is Status.ok and row.sha256 in first_url:
            row = replace(row, status=Status.duplicate, duplicate_of=first_url[row.sha256])
        elif row.status is Status.ok:
            first_url[row.sha256] = row.url
        marked.append(row)
    return marked


def download_all(tasks: list[ImageTask], downloader: ImageDownloader, *, workers: int) -> list[ImageRow]:
    """Run every task on a thread pool; rows come back in task order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        rows = list(tqdm(pool.map(downloader, tasks), total=len(tasks), desc="images", unit="img", mininterval=2.0))
    return mark_duplicates(rows)


def summarise(rows: list[ImageRow], *, seconds: float, client_stats: dict[str, int]) -> dict[str, Any]:
    by_status = Counter(row.status.value for row in rows)
    ok = by_status.get(Status.ok.value, 0)
    return {
        "images": len(rows),
        "ok": ok,
        "by_status": dict(sorted(by_status.items())),
        "unique_images": ok,
        "bytes_downloaded": sum(row.bytes for row in rows),
        "seconds": round(seconds, 2),
        "images_per_s": round(len(rows) / seconds, 2) if seconds > 0 else 0.0,
        "http": dict(sorted(client_stats.items())),
    }


def check_success_rate(rows: list[ImageRow], floor: float) -> None:
    """Raise when too few images downloaded: an empty output would poison the DVC cache."""
    usable = sum(row.status in (Status.ok, Status.duplicate) for row in rows)
    if not rows or usable / len(rows) < floor:
        raise RuntimeError(
            f"only {usable}/{len(rows)} images downloaded (download.min_success_rate={floor}); "
            "see the error column of the ledger for why"
        )


def write_ledger(rows: list[ImageRow], path: Path) -> None:
    frame = pd.DataFrame([{**asdict(r), "status": r.status.value} for r in rows], columns=list(ImageRow.__dataclass_fields__))
    write_text_atomic(path, frame.to_csv(index=False))


def run_download(products_csv: Path, images_dir: Path, settings: DownloadConfig, *, user_agent: str) -> tuple[list[ImageRow], dict[str, Any]]:
    """Download every image of the products table; returns the ledger rows and metrics."""
    Image.MAX_IMAGE_PIXELS = settings.max_image_pixels
    products = pd.read_csv(products_csv, dtype=str, keep_default_na=False)
    tasks = image_tasks(products, max_per_product=settings.max_images_per_product)
    client = PoliteClient(ClientSettings(
        user_agent=user_agent, timeout_s=settings.timeout_s, min_delay_s=settings.min_delay_s,
        max_retries=settings.max_retries, max_response_bytes=settings.max_bytes, pool_size=settings.workers,
    ))
    log.info("downloading %d images of %d products with %d workers", len(tasks), len(products), settings.workers)
    started = time.monotonic()
    try:
        rows = download_all(tasks, ImageDownloader(client, settings, images_dir), workers=settings.workers)
    finally:
        client.close()
    return rows, summarise(rows, seconds=time.monotonic() - started, client_stats=dict(client.stats))


@stage_main
def main(cfg: Any) -> None:
    paths = as_typed(cfg.paths, PathsConfig)
    settings = as_typed(cfg.download, DownloadConfig)
    rows, metrics = run_download(paths.products_csv, paths.images, settings,
                                 user_agent=as_typed(cfg.crawl, CrawlConfig).user_agent)
    write_ledger(rows, paths.images_csv)
    write_json(paths.metrics / "download.json", metrics)
    log.info("images: %s", metrics["by_status"])
    check_success_rate(rows, settings.min_success_rate)


if __name__ == "__main__":
    main()
