"""The download stage: validation, normalisation, opt-out, dedup, and a ledger row for every URL."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from pakfashion.config import DownloadConfig, ResizeMode
from pakfashion.download import Status, check_success_rate, opted_out, run_download, write_ledger
from pakfashion.imaging import ImagePolicy, Rejected, normalise_image

UA = "pakfashion-bot/0.1 (+mailto:test@example.org)"


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


@pytest.mark.parametrize(
    ("data", "status"),
    [(b"<html>not an image</html>", Status.decode_failed),
     (encode(Image.new("RGB", (64, 64), "red"), "JPEG")[:200], Status.decode_failed),
     (encode(Image.new("RGB", (4000, 4000), "red"), "PNG"), Status.decode_failed),
     (encode(Image.new("RGB", (20, 20), "red"), "PNG"), Status.too_small)],
    ids=["html", "truncated", "bomb", "tiny"],
)
def test_unusable_images_are_rejected_with_a_status(data: bytes, status: Status) -> None:
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


@pytest.mark.parametrize(
    ("header", "expected"),
    [("noai", True), ("noindex, noimageai", True), ("otherbot: noai", False),
     ("pakfashion-bot: noai", True), ("noindex", False), ("", False)],
)
def test_x_robots_tag_opt_out(header: str, expected: bool) -> None:
    assert opted_out(header, agent_token="pakfashion-bot") is expected


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
    ledger, metrics = run_download(products_csv, tmp_path / "images", DownloadConfig(min_delay_s=0.0), user_agent=UA,
                                   state_dir=tmp_path / "state")
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
    assert all((tmp_path / "images" / f"{sha}.jpg").exists() for sha in stored["sha256"])
    assert len(list((tmp_path / "images").iterdir())) == stored["sha256"].nunique()
    assert set(table[table["status"] == "duplicate"]["duplicate_of"]) <= set(table["url"])
    user_agents = {record.user_agent for record in demo_store.request_log}
    assert user_agents == {UA}


@pytest.mark.parametrize(
    ("mode", "size", "expected"),
    [(ResizeMode.keep, (800, 400), (256, 128)), (ResizeMode.center_crop, (800, 400), (256, 256)),
     (ResizeMode.pad, (800, 400), (256, 256)), (ResizeMode.keep, (100, 80), (100, 80))],
)
def test_resize_policies(mode: ResizeMode, size: tuple[int, int], expected: tuple[int, int]) -> None:
    data = encode(Image.new("RGB", size, "green"), "JPEG")
    result = normalise_image(data, ImagePolicy(min_side_px=8, target_side_px=256, resize_mode=mode))
    assert (result.width, result.height) == expected


def row(url: str, sha: str, phash: str) -> "ImageRow":  # noqa: F821
    from pakfashion.download import ImageRow

    return ImageRow("s", "1", 0, url, Status.ok, sha256=sha, phash=phash)


def test_duplicates_point_at_the_kept_image() -> None:
    from pakfashion.download import mark_duplicates

    rows = [row("a", "1", "ffff0000ffff0000"), row("b", "1", "ffff0000ffff0000"),
            row("c", "2", "ffff0000ffff0003"), row("d", "3", "0000ffff0000ffff")]
    marked = mark_duplicates(rows, near_distance=4)
    assert [(r.status.value, r.duplicate_of) for r in marked] == [
        ("ok", ""), ("duplicate", "a"), ("near_duplicate", "a"), ("ok", "")]
    assert [r.status for r in mark_duplicates(rows, near_distance=-1)][2] is Status.ok


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
    settings = DownloadConfig(min_delay_s=0.0, min_side_px=64, max_image_pixels=50_000_000)
    rows, metrics = run_download(products_csv, tmp_path / "images", settings, user_agent=UA, state_dir=tmp_path / "s")
    outcome = {row.url.split("/faults/")[1].split(".")[0]: row for row in rows}
    assert {case: row.status.value for case, row in outcome.items()} == dict(IMAGE_FAULT_CASES)
    for case, (width, height) in IMAGE_FAULT_SIZES.items():
        if outcome[case].status is Status.ok:
            assert (outcome[case].w, outcome[case].h) == (width, height), case
    assert outcome["exact_duplicate"].duplicate_of == outcome["ok"].url
    assert outcome["near_duplicate_resized"].duplicate_of == outcome["ok"].url
    assert metrics["images"] == len(urls)  # nothing lost: one ledger row per URL
