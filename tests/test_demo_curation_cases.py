"""The demo store's problem images (`pakfashion.demo.curation_cases`) and their ground truth (issue #20).

The curate stage is scored against `assets/demo/curation_labels.csv`; these tests check that the file is the
world's, that every labelled image is served where a crawl finds it, that the cases are what they claim (pixel
checks per reason), and that download's near-duplicate folding never merges a case with another image.
"""

from __future__ import annotations

import functools
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import requests
import yaml
from PIL import Image

from pakfashion.contracts import CurationReason
from pakfashion.demo import (
    AtelierProduct,
    DemoProduct,
    DemoServer,
    ImageSpec,
    build_world,
    running_demo,
)
from pakfashion.demo.__main__ import main as demo_cli
from pakfashion.demo.curation_cases import (
    CASE_SITES,
    CASES_PER_REASON,
    LABELS_FILE,
    curation_labels,
    read_labels,
)
from pakfashion.demo.images import BACKGROUND, colour_rgb, content_type, nearest_colour
from pakfashion.demo.problem_images import (
    DARK_LUMA,
    GUTTER_RGB,
    PROBLEM_REASONS,
    collage_grid,
    garment_photo,
)
from pakfashion.images.normalise import ImagePolicy, hamming, normalise_image

REPO_ROOT = Path(__file__).resolve().parents[1]
WORLD = build_world()
LUMA = np.array([0.299, 0.587, 0.114])


def _cases() -> list[tuple[DemoProduct, ImageSpec]]:
    """Every (carrier, problem image) of the world, in product order."""
    return [(product, spec) for product in WORLD.products() for spec in product.image_specs if spec.problem]


def _of(reason: str) -> list[ImageSpec]:
    return [spec for _, spec in _cases() if spec.problem and spec.problem.reason == reason]


@functools.cache
def _encoded(path: str) -> bytes:
    """The file of the world's problem image at `path`, drawn once per test session."""
    return next(spec for _, spec in _cases() if spec.path == path).encoded()


def _pixels(spec: ImageSpec) -> np.ndarray:
    """The served file decoded to RGB floats."""
    return np.asarray(Image.open(io.BytesIO(_encoded(spec.path))).convert("RGB"), dtype=np.float64)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ LUMA / 255.0


def _high_frequency(luma: np.ndarray) -> float:
    """Mean squared 4-neighbour Laplacian: the fine detail an image has."""
    lap = 4 * luma[1:-1, 1:-1] - luma[:-2, 1:-1] - luma[2:, 1:-1] - luma[1:-1, :-2] - luma[1:-1, 2:]
    return float((lap ** 2).mean())


def _coarse(luma: np.ndarray, k: int = 8) -> np.ndarray:
    """`luma` averaged over k x k blocks (sensor noise and fine detail averaged out), flattened."""
    h, w = luma.shape[0] // k * k, luma.shape[1] // k * k
    return luma[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3)).ravel()


def _stem(path: str) -> str:
    """A gallery file's name without its image index: "DS0012-RED" for ".../DS0012-RED_3.jpg"."""
    return path.rsplit("/", 1)[-1].rsplit("_", 1)[0]


def _ext(spec: ImageSpec) -> str:
    return "jpg" if spec.draw.fmt == "JPEG" else "png"


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True in a 1-D boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.astype(int), [0]))))
    return list(zip(edges[::2], edges[1::2]))


# --- ground truth ------------------------------------------------------------------------------------------


def test_committed_labels_are_the_worlds() -> None:
    committed = read_labels(REPO_ROOT / LABELS_FILE)
    assert committed == curation_labels(WORLD) == curation_labels(build_world(platform_demos=True))
    assert len(committed) == len({path for path, _ in committed}) == len(_cases())


def test_labels_cli_regenerates_the_committed_file(tmp_path: Path) -> None:
    out = tmp_path / "labels.csv"
    assert demo_cli(["labels", "--out", str(out), "--log-level", "WARNING"]) == 0
    assert out.read_bytes() == (REPO_ROOT / LABELS_FILE).read_bytes()


def test_demo_profile_scores_against_the_labels_of_the_sites_it_crawls() -> None:
    profile = yaml.safe_load((REPO_ROOT / "conf" / "profile" / "demo.yaml").read_text())
    assert profile["curate"]["ground_truth"] == LABELS_FILE.as_posix()
    assert tuple(profile["crawl"]["sites"]) == CASE_SITES


def test_every_reason_has_its_cases_on_every_crawled_site() -> None:
    reasons = Counter(reason for _, reason in curation_labels(WORLD))
    assert reasons == {reason: CASES_PER_REASON for reason in PROBLEM_REASONS}
    assert CASES_PER_REASON >= 3 and set(reasons) <= {reason.value for reason in CurationReason}
    for site in CASE_SITES:
        assert {spec.problem.reason for product, spec in _cases() if product.site == site and spec.problem} \
            == set(PROBLEM_REASONS), site
    assert {product.site for product, _ in _cases()} == set(CASE_SITES)


def test_problem_images_end_ordinary_galleries() -> None:
    carriers = {product.id: product for product, _ in _cases()}
    for product in carriers.values():
        problems = [i for i, spec in enumerate(product.image_specs) if spec.problem]
        assert problems == [len(product.image_specs) - 1], product.title  # one, last, never the first
        assert problems[0] > 0 and not any(spec.broken for spec in product.image_specs)
        assert product.expected == "keep" and product.garment and not product.notes and not product.colourway
        images = product.shopify["images"]
        assert [image["position"] for image in images] == list(range(1, len(product.image_specs) + 1))
        assert images[-1]["variant_ids"] == [] and len({image["id"] for image in images}) == len(images)
        last = product.image_specs[-1]
        assert (images[-1]["width"], images[-1]["height"]) == (last.draw.width, last.draw.height)
        # Named like the product's other images (<code><number>..._<index>.<ext>): the path gives nothing away.
        assert _stem(last.path) == _stem(product.image_specs[0].path)
        assert last.path.endswith(f"_{len(images)}.{_ext(last)}")
        assert last.problem and last.problem.garment.colour == product.colour
    for site in CASE_SITES:
        assert sum(product.site == site for product in carriers.values()) == \
            sum(1 for product, _ in _cases() if product.site == site)  # one problem image per carrier
    ids = [image["id"] for product in WORLD.products() for image in product.shopify["images"]]
    assert len(ids) == len(set(ids))


# --- served where a crawl finds them -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoServer]:
    with running_demo() as server:
        yield server


def _listed_urls(demo: DemoServer, http: requests.Session, product: DemoProduct) -> list[str]:
    """The image URLs the product's own listing gives a crawler (Shopify JSON, or the atelier's page)."""
    site = WORLD.sites[product.site]
    if isinstance(product, AtelierProduct):
        page = http.get(product.url(site.netloc(demo.port)), timeout=5).text
        return [url for url in product.image_urls(site.netloc(demo.port)) if url in page]
    body = http.get(f"{demo.base_url(product.site)}/products/{product.handle}.json", timeout=5).json()
    return [image["src"] for image in body["product"]["images"]]


@pytest.mark.network
@pytest.mark.slow
def test_every_label_is_served_and_listed_last(demo: DemoServer) -> None:
    labels = dict(read_labels(REPO_ROOT / LABELS_FILE))
    served = set()
    with requests.Session() as http:
        for product, spec in _cases():
            urls = _listed_urls(demo, http, product)
            assert len(urls) == len(product.image_specs), product.title
            url = urls[-1]
            assert spec.problem and urlsplit(url).path == spec.path and labels[spec.path] == spec.problem.reason
            response = http.get("http:" + url if url.startswith("//") else url, timeout=5)
            assert response.status_code == 200, url
            assert response.headers["Content-Type"] == content_type(spec.draw.fmt)
            image = Image.open(io.BytesIO(response.content))
            assert image.format == spec.draw.fmt and image.size == (spec.draw.width, spec.draw.height)
            assert min(image.size) >= 64 and response.content == _encoded(spec.path)
            served.add(spec.path)
    assert served == set(labels)


@pytest.mark.slow
def test_no_problem_image_is_a_near_duplicate_of_another_image() -> None:
    """Download folds pHash neighbours (<= near_duplicate_distance) into the first seen: no case may be folded
    into a clean photo, nor a clean photo into a case, nor two cases together."""
    download = yaml.safe_load((REPO_ROOT / "conf" / "download" / "default.yaml").read_text())
    policy = ImagePolicy(min_side_px=download["min_side_px"], target_side_px=download["target_side_px"])
    hashes = {(product.site, spec.path): (bool(spec.problem), normalise_image(spec.encoded(), policy).phash)
              for site in CASE_SITES for product in WORLD.products(site)
              for spec in product.image_specs if not spec.broken}
    closest = min(hamming(a, b) for key, (problem, a) in hashes.items() if problem
                  for other, (_, b) in hashes.items() if other != key)
    assert closest > download["near_duplicate_distance"] + 2, closest


# --- each case is what it claims ---------------------------------------------------------------------------


def test_the_cases_are_deterministic() -> None:
    fresh = {spec.path: spec for product in build_world().products() for spec in product.image_specs}
    for reason in PROBLEM_REASONS:
        spec = _of(reason)[0]
        assert fresh[spec.path] == spec and fresh[spec.path].encoded() == _encoded(spec.path)


def test_too_dark_is_an_underexposed_photo_of_the_garment() -> None:
    for spec in _of("too_dark"):
        assert spec.problem is not None
        luma = _luma(_pixels(spec))
        assert DARK_LUMA[0] - 0.01 < luma.mean() < min(0.15, DARK_LUMA[1] + 0.01), spec.path
        photo = _luma(np.asarray(garment_photo(spec.problem), dtype=np.float64))
        # The garment is still there: the dark image is the photo, darker (plus a little noise).
        assert np.corrcoef(_coarse(luma), _coarse(photo))[0, 1] > 0.9, spec.path


def test_blurry_has_far_less_fine_detail_than_its_sharp_photo() -> None:
    for spec in _of("blurry"):
        assert spec.problem is not None
        blurred = _luma(_pixels(spec))
        sharp = _luma(np.asarray(garment_photo(spec.problem), dtype=np.float64))
        assert _high_frequency(blurred) < 0.05 * _high_frequency(sharp), spec.path
        assert np.corrcoef(_coarse(blurred), _coarse(sharp))[0, 1] > 0.8, spec.path  # the same picture


def test_collage_cells_are_separated_by_gutters() -> None:
    for spec in _of("collage"):
        assert spec.problem is not None
        rows, cols, gutter, _ = collage_grid(spec.problem)
        # A gutter line is white from end to end (JPEG rings a little at its edges); cell backdrops are greyer.
        level = _pixels(spec).min(axis=2)
        for axis, cells in ((0, cols), (1, rows)):  # axis 0: full-height white columns
            lines = level.mean(axis=axis) >= min(GUTTER_RGB) - 5
            inner = [run for run in _runs(lines) if run[0] > 0 and run[1] < len(lines)]
            assert len(inner) == cells - 1, (spec.path, axis, inner)
            assert all(end - start >= gutter - 2 for start, end in inner), spec.path
            assert len(_runs(~lines)) == cells  # a cell between every two gutters


def test_size_chart_is_a_ruled_table_of_dark_text_on_white() -> None:
    for spec in _of("size_chart"):
        luma = _luma(_pixels(spec))
        assert np.median(luma) > 0.95 and (luma < 0.4).mean() > 0.004, spec.path  # white paper, dark ink
        ruled = luma < 0.9
        # Thin grey rules across the table: one under each size row, evenly spaced, and the column rules.
        rules = [start for start, end in _runs(ruled.mean(axis=1) > 0.35) if end - start <= 3]
        columns = [start for start, end in _runs(ruled.mean(axis=0) > 0.2) if end - start <= 3]
        assert len(rules) >= 5 and len(columns) >= 4, (spec.path, rules, columns)
        gaps = np.diff(rules[-5:])
        assert gaps.max() - gaps.min() <= 2, (spec.path, rules)


def test_text_banner_is_wide_with_large_text_on_a_smooth_colour() -> None:
    for spec in _of("text_banner"):
        luma = _luma(_pixels(spec))
        height, width = luma.shape
        assert 2.0 <= width / height <= 2.5, spec.path
        strip = max(2, height // 50)  # the top and bottom edges: backdrop only
        backdrop = np.median(np.concatenate([luma[:strip], luma[-strip:]]), axis=0)
        assert np.abs(np.diff(backdrop)).max() < 0.02, spec.path  # a flat colour or a smooth gradient
        ink = np.abs(luma - backdrop) > 0.25
        assert 0.01 < ink.mean() < 0.45, (spec.path, ink.mean())
        # Lettering: rows crossing many strokes, in a band taller than small print.
        strokes = np.abs(np.diff(ink.astype(int), axis=1)).sum(axis=1)
        band = max(end - start for start, end in _runs(strokes >= 12))
        assert band > 0.06 * height, (spec.path, band)


def test_swatch_is_the_garments_print_filling_the_frame() -> None:
    for spec in _of("swatch"):
        rgb = _pixels(spec)
        near_backdrop = np.linalg.norm(rgb - np.array(BACKGROUND), axis=2) < 8
        assert near_backdrop.mean() < 0.01, spec.path  # no studio background
        assert nearest_colour(tuple(np.median(rgb.reshape(-1, 3), axis=0))) == spec.draw.colour, spec.path
        accent = np.linalg.norm(rgb - np.array(colour_rgb(spec.draw.accent)), axis=2) < 60
        assert 0.05 < accent.mean() < 0.5, spec.path  # the garment's own print in its accent colour
        for edge in (rgb[:8], rgb[-8:], rgb[:, :8], rgb[:, -8:]):  # fabric to every edge
            assert not (np.linalg.norm(edge - np.array(BACKGROUND), axis=2) < 8).all(), spec.path
