"""The download stage: validation, normalisation, opt-out, dedup, and a ledger row for every URL."""

from __future__ import annotations

import io
import struct
import json
import random
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from pakfashion.config import DownloadConfig, ResizeMode
from pakfashion.contracts import ImageRow, ImageStatus
from pakfashion.crawling.pages import SitemapCrawl
from pakfashion.images.download import (
    adopt_loose_images,
    check_success_rate,
    mark_duplicates,
    run_download,
    write_ledger,
)
from pakfashion.images.normalise import (
    ImagePolicy,
    PhashIndex,
    Rejected,
    hamming,
    normalise_image,
)
from pakfashion.images.store import ImageStore
from pakfashion.web import PoliteClient
from pakfashion.web.frontier import Frontier
from tests.helpers import configured, quick_web
from tests.helpers.http import Reply, scripted_server

# The shipped download settings at loopback pace.
SETTINGS = configured(DownloadConfig, min_delay_s=0.0)
WEB = quick_web()


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def test_cmyk_palette_and_alpha_become_rgb_on_white() -> None:
    settings = ImagePolicy(min_side_px=8)
    cmyk = normalise_image(encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG"), settings)
    assert Image.open(io.BytesIO(cmyk.jpeg)).mode == "RGB"
    transparent = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    flat = Image.open(io.BytesIO(normalise_image(encode(transparent, "PNG"), settings).jpeg))
    assert min(flat.getpixel((16, 16))) > 240  # transparent → white
    palette = Image.new("P", (32, 32), 3)
    assert Image.open(io.BytesIO(normalise_image(encode(palette, "PNG"), settings).jpeg)).mode == "RGB"


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), "blue")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    result = normalise_image(encode(image, "JPEG", exif=exif), ImagePolicy(min_side_px=8))
    assert (result.width, result.height) == (20, 40)


# A DDS whose pixel format (FourCC "ZZZZ") Pillow does not implement: it raises NotImplementedError, as on
# Pillow's own unimplemented_*.dds test images (benchmarks/problem_images.py found them escaping as crashes).
UNIMPLEMENTED_DDS = (b"DDS " + struct.pack("<7I", 124, 0x1007, 64, 64, 0, 0, 0) + bytes(44)
                     + struct.pack("<2I4s5I", 32, 0x4, b"ZZZZ", 0, 0, 0, 0, 0) + struct.pack("<5I", 0x1000, 0, 0, 0, 0)
                     + bytes(4096))


@pytest.mark.parametrize(
    ("data", "status"),
    [(b"<html>not an image</html>", ImageStatus.decode_failed),
     (encode(Image.new("RGB", (64, 64), "red"), "JPEG")[:200], ImageStatus.decode_failed),
     (encode(Image.new("RGB", (4000, 4000), "red"), "PNG"), ImageStatus.decode_failed),
     (encode(Image.new("RGB", (20, 20), "red"), "PNG"), ImageStatus.too_small),
     (UNIMPLEMENTED_DDS, ImageStatus.decode_failed)],
    ids=["html", "truncated", "bomb", "tiny", "unimplemented_variant"],
)
def test_unusable_images_are_rejected_with_a_status(data: bytes, status: ImageStatus) -> None:
    with pytest.raises(Rejected) as info:
        normalise_image(data, ImagePolicy(min_side_px=32, max_image_pixels=1_000_000))
    assert info.value.reason == status.value


def test_same_pixels_same_name_other_pixels_other_name() -> None:
    settings = ImagePolicy(min_side_px=8)
    red = Image.new("RGB", (64, 64), "red")
    as_png = normalise_image(encode(red, "PNG"), settings)
    as_png_again = normalise_image(encode(red, "PNG", optimize=True), settings)
    blue = normalise_image(encode(Image.new("RGB", (64, 64), "blue"), "PNG"), settings)
    assert as_png.sha256 == as_png_again.sha256 != blue.sha256


PRODUCT_PAGE = b'<script type="application/ld+json">{"@type": "Product", "name": "Red Kurta", "image": "/red.png"}</script>'


@pytest.mark.parametrize(
    ("x_robots_tag", "opted_out"),
    [(["otherbot: noai"], False), (["pakfashion-bot: noimageai"], True), (["otherbot: noindex", "noai"], True)],
)
def test_page_crawl_and_download_honour_the_same_opt_outs(tmp_path: Path, x_robots_tag: list[str], opted_out: bool) -> None:
    png = encode(Image.new("RGB", (64, 64), "red"), "PNG")
    routes = {"/robots.txt": [Reply(404)],
              "/products/red.html": [Reply(200, PRODUCT_PAGE, {"Content-Type": "text/html", "X-Robots-Tag": x_robots_tag})],
              "/red.png": [Reply(200, png, {"Content-Type": "image/png", "X-Robots-Tag": x_robots_tag})]}
    products_csv = tmp_path / "products.csv"
    with scripted_server(routes) as (base, _), Frontier(tmp_path / "frontier.sqlite") as frontier:
        client = PoliteClient(WEB, min_delay_s=0.0, pool_size=1)
        pages = SitemapCrawl(client, frontier, base, r"/products/")
        found = list(pages.products([f"{base}/products/red.html"]))
        client.close()
        pd.DataFrame([{"site": "s", "product_id": "1", "image_urls": json.dumps([f"{base}/red.png"])}]).to_csv(products_csv)
        rows, _ = run_download(products_csv, tmp_path / "images", SETTINGS, web=WEB, state_dir=tmp_path / "state")
    assert (pages.pages_opted_out, len(found)) == ((1, 0) if opted_out else (0, 1))
    assert [row.status for row in rows] == [ImageStatus.opted_out if opted_out else ImageStatus.ok]


def test_success_rate_floor() -> None:
    with pytest.raises(RuntimeError, match="min_success_rate"):
        check_success_rate([], 0.5)


@pytest.mark.network
def test_download_from_demo_store(tmp_path: Path, demo_store) -> None:  # noqa: ANN001
    """Every image URL of the demo products ends in the ledger with the right status."""
    keep = next(p for p in demo_store.world.products("demo_shop") if p.expected == "keep" and len(p.image_specs) > 1)
    demo_store.faults.noai_images = {keep.image_specs[0].path}
    rows = []
    for name in ("demo_shop", "demo_boutique"):
        for product in demo_store.world.products(name):
            rendered = product.render(demo_store.base_url(name).split("//")[1])
            urls = [("http:" + i["src"]) if i["src"].startswith("//") else i["src"] for i in rendered["images"]]
            rows.append({"site": name, "product_id": str(product.id), "image_urls": json.dumps(urls)})
    products_csv = tmp_path / "products.csv"
    pd.DataFrame(rows).to_csv(products_csv, index=False)
    ledger, metrics = run_download(products_csv, tmp_path / "images", SETTINGS, web=WEB, state_dir=tmp_path / "state")
    write_ledger(ledger, tmp_path / "images.csv")
    table = pd.read_csv(tmp_path / "images.csv", dtype=str, keep_default_na=False)
    assert len(table) == metrics["images"] == sum(len(json.loads(r["image_urls"])) for r in rows)
    statuses = table.groupby("status").size().to_dict()
    assert statuses.get("fetch_failed", 0) == 2  # the two broken-image products
    assert statuses.get("opted_out", 0) == 1
    assert statuses.get("duplicate", 0) + statuses.get("near_duplicate", 0) >= 2  # the identical-image pairs
    ok = table[table["status"] == "ok"]
    assert ok["sha256"].is_unique
    stored = table[table["status"].isin(["ok", "duplicate", "near_duplicate"])]
    store = ImageStore(tmp_path / "images")
    assert all(store.has(sha) for sha in stored["sha256"])
    assert sorted(store.names()) == sorted(stored["sha256"].unique())
    assert set(stored["path"]) == {str(store.shard_path(sha)) for sha in stored["sha256"]}
    assert set(table[table["status"] == "duplicate"]["duplicate_of"]) <= set(table["url"])
    user_agents = {record.user_agent for record in demo_store.request_log}
    assert user_agents == {WEB.user_agent}


@pytest.mark.parametrize(
    ("mode", "size", "expected"),
    [(ResizeMode.keep, (800, 400), (256, 128)), (ResizeMode.center_crop, (800, 400), (256, 256)),
     (ResizeMode.pad, (800, 400), (256, 256)), (ResizeMode.keep, (100, 80), (100, 80))],
)
def test_resize_policies(mode: ResizeMode, size: tuple[int, int], expected: tuple[int, int]) -> None:
    data = encode(Image.new("RGB", size, "green"), "JPEG")
    result = normalise_image(data, ImagePolicy(min_side_px=8, target_side_px=256, resize_mode=mode))
    assert (result.width, result.height) == expected


def row(url: str, sha: str, phash: str) -> ImageRow:
    return ImageRow("s", "1", 0, url, ImageStatus.ok, sha256=sha, phash=phash)


@pytest.mark.parametrize("distance", range(7))
def test_the_near_duplicate_index_finds_exactly_what_a_full_scan_finds(distance: int) -> None:
    rng = random.Random(distance)
    # Clusters of hashes a few bits apart, as copies of one product photo are.
    centres = [rng.getrandbits(64) for _ in range(60)]
    hashes = [f"{centre ^ rng.getrandbits(64) & rng.getrandbits(64) & rng.getrandbits(64):016x}"
              for centre in centres for _ in range(10)]
    index, kept = PhashIndex(distance), []
    for phash in hashes:
        found = index.find(phash)
        within = [k for k in kept if hamming(phash, k) <= distance]
        assert (found is not None) == bool(within) and (found is None or found in within)
        if found is None:
            index.add(phash, phash)
            kept.append(phash)


def test_duplicates_point_at_the_kept_image() -> None:
    rows = [row("a", "1", "ffff0000ffff0000"), row("b", "1", "ffff0000ffff0000"),
            row("c", "2", "ffff0000ffff0003"), row("d", "3", "0000ffff0000ffff")]
    marked = mark_duplicates(rows, near_distance=4)
    assert [(r.status.value, r.duplicate_of) for r in marked] == [
        ("ok", ""), ("duplicate", "a"), ("near_duplicate", "a"), ("ok", "")]
    assert [r.status for r in mark_duplicates(rows, near_distance=-1)][2] is ImageStatus.ok


@pytest.mark.network
def test_every_image_fault_ends_in_the_right_ledger_status(tmp_path: Path, demo_store) -> None:  # noqa: ANN001
    """Broken, truncated, bomb, wrong type, CMYK, palette, EXIF, exact/near duplicates, noai, 429/500."""
    from pakfashion.demo import IMAGE_FAULT_CASES
    from pakfashion.demo.image_faults import IMAGE_FAULT_SIZES, IMAGE_FAULTS_PRODUCT_ID

    demo_store.faults.image_faults = True
    netloc = demo_store.base_url("demo_shop").split("//")[1]
    import requests

    product = requests.get(f"http://{netloc}/products/image-faults-test-kurta.json", timeout=10).json()["product"]
    urls = ["http:" + image["src"] for image in product["images"]]
    products_csv = tmp_path / "products.csv"
    pd.DataFrame([{"site": "demo_shop", "product_id": str(IMAGE_FAULTS_PRODUCT_ID),
                   "image_urls": json.dumps(urls)}]).to_csv(products_csv, index=False)
    rows, metrics = run_download(products_csv, tmp_path / "images", SETTINGS, web=WEB, state_dir=tmp_path / "s")
    outcome = {row.url.split("/faults/")[1].split(".")[0]: row for row in rows}
    assert {case: row.status.value for case, row in outcome.items()} == dict(IMAGE_FAULT_CASES)
    for case, (width, height) in IMAGE_FAULT_SIZES.items():
        if outcome[case].status is ImageStatus.ok:
            assert (outcome[case].w, outcome[case].h) == (width, height), case
    assert outcome["exact_duplicate"].duplicate_of == outcome["ok"].url
    assert outcome["near_duplicate_resized"].duplicate_of == outcome["ok"].url
    assert metrics["images"] == len(urls)  # nothing lost: one ledger row per URL


def test_loose_images_of_the_earlier_layout_move_into_the_shards(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / f"{'ab' * 32}.jpg").write_bytes(b"an earlier run's image")
    assert adopt_loose_images(images) == 1
    assert not list(images.glob("*.jpg"))
    assert ImageStore(images).get("ab" * 32) == b"an earlier run's image"
