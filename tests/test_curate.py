"""The curate stage: decisions by curate.order, the measurement cache (resume, re-decide), safety, CLIP agreement,
the report against hostile text, the caption stage's use of curation.csv, and the stage on the demo store."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter

from pakfashion.captioning.card import render_dataset_card
from pakfashion.captioning.dataset import build_dataset, card_inputs, with_faces_blurred
from pakfashion.common.errors import StageError
from pakfashion.config import (
    CaptionConfig,
    Captioner,
    CurateConfig,
    DatasetConfig,
    FaceAction,
    PathsConfig,
    VocabConfig,
)
from pakfashion.contracts import CurationReason
from pakfashion.curation.agreement import ClipScorer, judge_agreement
from pakfashion.curation.run import (
    AGREEMENT,
    CONTENT,
    QUALITY,
    SAFETY,
    UNREADABLE,
    Checks,
    run_curation,
)
from pakfashion.curation.safety import (
    Detection,
    SafetyDetector,
    blur_jpeg,
    grown,
    judge_safety,
)
from pakfashion.curation.signals import Finding, ImageView, Measured
from pakfashion.demo.images import DrawSpec, render_image
from pakfashion.images.store import ImageStore
from tests.helpers import REPO_ROOT, configured, paths_under, store_image

# The shipped settings (demo profile), scored against no labels, one image at a time on one thread.
SETTINGS = configured(CurateConfig, ground_truth="", batch_size=2, workers=1)
R = CurationReason


def with_agreement(settings: CurateConfig, **changes: Any) -> CurateConfig:
    return dataclasses.replace(settings, agreement=dataclasses.replace(settings.agreement, **changes))


def with_safety(settings: CurateConfig, **changes: Any) -> CurateConfig:
    return dataclasses.replace(settings, safety=dataclasses.replace(settings.safety, **changes))


@dataclass(frozen=True)
class Item:
    """One images.csv row and its product (the image is stored unless it is raw bytes of a broken one)."""

    sha: str
    title: str = "Red Lawn Kurta"
    site: str = "s"
    product_id: str = ""
    image: Image.Image | bytes | None = None
    status: str = "ok"
    duplicate_of: str = ""
    product_url: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.site}.example/cdn/{self.sha[:6]}.jpg"


def drawing(colour: str = "red", shape: str = "tunic") -> Image.Image:
    return render_image(DrawSpec(shape, colour, width=256, height=256))


def write_inputs(root: Path, items: list[Item]) -> PathsConfig:
    """products.csv, images.csv and the image store as csv and download write them."""
    paths = paths_under(root)
    products, ledger = {}, []
    for position, item in enumerate(items):
        pid = item.product_id or item.sha[:6]
        products[(item.site, pid)] = {"site": item.site, "product_id": pid, "title": item.title,
                                      "product_url": item.product_url or f"http://{item.site}.example/p/{pid}",
                                      "description": "", "category": "", "tags": "[]", "price": "", "currency": "",
                                      "image_urls": "[]", "crawled_at": "", "image_colours": "[]"}
        if isinstance(item.image, bytes):
            ImageStore(paths.images).put(item.sha, item.image)
        elif item.status == "ok":
            store_image(paths.images, item.sha, item.image or drawing())
        ledger.append({"site": item.site, "product_id": pid, "position": position, "url": item.url,
                       "status": item.status, "path": "", "sha256": item.sha, "duplicate_of": item.duplicate_of})
    paths.products_csv.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(list(products.values())).to_csv(paths.products_csv, index=False)
    pd.DataFrame(ledger).to_csv(paths.images_csv, index=False)
    return paths


def sha(n: int) -> str:
    return f"{n:04d}".ljust(64, "c")


@dataclass
class Calls:
    """Fake checks that count what they measure (per image sha of the title they were given)."""

    quality: list[int] = field(default_factory=list)
    detector: list[int] = field(default_factory=list)
    scorer: list[str] = field(default_factory=list)


def fake_checks(calls: Calls, *, quality: Callable[[ImageView], Measured] | None = None,
                content: Callable[[ImageView], Measured] | None = None, detections: list[Detection] | None = None,
                score: Callable[[str], float] | None = None) -> Checks:
    """Checks made of fakes: every one on, recording its calls in ``calls``."""

    def measure_quality(view: ImageView) -> Measured:
        calls.quality.append(view.size[0])
        return quality(view) if quality else Measured({"q": 1.0})

    class Detector:
        def detect(self, view: ImageView) -> list[Detection]:
            calls.detector.append(view.size[0])
            return list(detections or [])

    def scorer(images: list[Image.Image], texts: list[str]) -> list[float]:
        calls.scorer.extend(texts)
        return [score(t) if score else 80.0 for t in texts]

    return Checks(quality=measure_quality, content=content or (lambda view: Measured()), detector=Detector(),
                  scorer=scorer, keys={QUALITY: ["fake"], CONTENT: ["fake"], SAFETY: ["fake"], AGREEMENT: ["fake"]})


def curation(paths: PathsConfig) -> pd.DataFrame:
    return pd.read_csv(paths.curation_csv, dtype=str, keep_default_na=False)


# --- decisions --------------------------------------------------------------------------------------------


def test_the_first_reason_in_curate_order_decides_and_every_finding_is_recorded(tmp_path: Path) -> None:
    paths = write_inputs(tmp_path, [Item(sha(1)), Item(sha(2))])

    def quality(view: ImageView) -> Measured:
        return Measured({"sharpness": 0.1}, (Finding(R.blurry, "sharpness 0.10 < 0.5"),))

    def content(view: ImageView) -> Measured:
        return Measured({"rules": 9.0}, (Finding(R.size_chart, "grid lines 9 x 9"),))

    checks = fake_checks(Calls(), quality=quality, content=content, score=lambda text: 5.0)
    run_curation(paths, SETTINGS, checks)
    row = curation(paths).iloc[0]
    assert (row["decision"], row["reason"], row["signal"]) == ("drop", "blurry", "sharpness 0.10 < 0.5")
    assert list(json.loads(row["findings"])) == ["blurry", "size_chart", "text_mismatch"]
    assert json.loads(row["scores"]) == {"clip_score": 5.0, "face_score": 0.0, "faces": 0.0, "nsfw_score": 0.0,
                                         "rules": 9.0, "sharpness": 0.1}
    reordered = [R.text_mismatch, R.size_chart, *[r for r in SETTINGS.order if r not in (R.text_mismatch, R.size_chart)]]
    run_curation(paths, dataclasses.replace(SETTINGS, order=reordered), checks)
    assert curation(paths)["reason"].tolist() == ["text_mismatch", "text_mismatch"]


def test_curate_order_must_list_every_reason_once() -> None:
    with pytest.raises(ValueError, match=r"missing \['faces'\], repeated \['nsfw'\]"):
        configured(CurateConfig, order=[r if r != R.faces else R.nsfw for r in SETTINGS.order])


def test_an_unreadable_stored_image_is_recorded_and_dropped_not_a_crash(tmp_path: Path) -> None:
    paths = write_inputs(tmp_path, [Item(sha(1)), Item(sha(2), image=b"\xff\xd8 not a jpeg")])
    metrics = run_curation(paths, SETTINGS, fake_checks(Calls()))
    rows = curation(paths)
    assert rows["decision"].tolist() == ["keep", "drop"]
    assert rows["reason"].iloc[1] == UNREADABLE and "UnidentifiedImageError" in rows["signal"].iloc[1]
    assert metrics["by_reason"] == {UNREADABLE: 1} and metrics["kept"] == 1


# --- the measurement cache ------------------------------------------------------------------------------


def test_a_killed_run_resumes_without_measuring_finished_images_again(tmp_path: Path) -> None:
    paths = write_inputs(tmp_path, [Item(sha(n)) for n in range(6)])
    first = Calls()

    def dies_on_the_fifth(view: ImageView) -> Measured:
        if len(first.quality) == 5:
            raise KeyboardInterrupt  # the run is killed while it measures the third batch
        return Measured({"q": 1.0})

    with pytest.raises(KeyboardInterrupt):
        run_curation(paths, SETTINGS, fake_checks(first, quality=dies_on_the_fifth))
    assert not paths.curation_csv.exists()
    cache = next((paths.state / "cache" / "curation" / QUALITY).glob("*.jsonl"))
    with cache.open("a") as handle:
        handle.write('{"key": "' + sha(5) + '", "val')  # and a line torn by the kill
    second = Calls()
    metrics = run_curation(paths, SETTINGS, fake_checks(second))
    assert len(second.quality) == 2  # the two images of the killed batch; four were cached
    assert metrics["measured"] == 2 and len(curation(paths)) == 6


def test_a_changed_threshold_re_decides_without_measuring_again(tmp_path: Path) -> None:
    paths = write_inputs(tmp_path, [Item(sha(1), title="Red Lawn Kurta"), Item(sha(2), title="Blue Lawn Kurta")])
    calls = Calls()
    breast = Detection("FEMALE_BREAST_EXPOSED", 0.62, (10, 10, 40, 40))
    checks = fake_checks(calls, detections=[breast], score=lambda text: 70.0 if "Red" in text else 40.0)
    lenient = with_safety(with_agreement(SETTINGS, min_score=30.0), nsfw_min_score=0.7)
    run_curation(paths, lenient, checks)
    assert curation(paths)["decision"].tolist() == ["keep", "keep"]
    measured = (len(calls.quality), len(calls.detector), len(calls.scorer))
    strict = with_agreement(lenient, min_score=50.0)
    run_curation(paths, strict, checks)
    assert curation(paths)["reason"].tolist() == ["", "text_mismatch"]
    run_curation(paths, with_safety(strict, nsfw_min_score=0.6), checks)
    assert curation(paths)["reason"].tolist() == ["nsfw", "nsfw"]
    assert curation(paths)["signal"].iloc[0] == "FEMALE_BREAST_EXPOSED 0.62 >= 0.6"
    assert (len(calls.quality), len(calls.detector), len(calls.scorer)) == measured == (2, 2, 2)
    # A new product text is a new measurement for that image only.
    products = pd.read_csv(paths.products_csv, dtype=str, keep_default_na=False)
    products.loc[1, "title"] = "Red Lawn Kurta"
    products.to_csv(paths.products_csv, index=False)
    run_curation(paths, strict, checks)
    assert calls.scorer[2:] == ["Red Lawn Kurta"] and len(calls.detector) == 2


# --- safety -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("faces", "reasons", "boxes"),
    [(FaceAction.keep, [], []), (FaceAction.exclude, [R.faces], []), (FaceAction.blur, [], [(5, 6, 30, 40)])],
)
def test_faces_keep_blur_or_exclude(faces: FaceAction, reasons: list[CurationReason], boxes: list) -> None:
    found = [Detection("FACE_FEMALE", 0.9, (5, 6, 30, 40)), Detection("FACE_MALE", 0.3, (50, 50, 60, 60)),
             Detection("FEMALE_BREAST_COVERED", 0.95, (0, 40, 60, 90))]
    verdict = judge_safety(found, dataclasses.replace(SETTINGS.safety, faces=faces))
    assert [f.reason for f in verdict.measured.findings] == reasons  # a covered label is not NSFW
    assert verdict.face_boxes == boxes and verdict.measured.scores["faces"] == 1.0  # 0.3 is below face_min_score


def test_faces_blur_keeps_the_image_and_records_its_face_boxes(tmp_path: Path) -> None:
    paths = write_inputs(tmp_path, [Item(sha(1)), Item(sha(2))])
    checks = fake_checks(Calls(), detections=[Detection("FACE_MALE", 0.8, (12, 20, 50, 64))])
    metrics = run_curation(paths, with_safety(SETTINGS, faces=FaceAction.blur), checks)
    rows = curation(paths)
    assert rows["decision"].tolist() == ["keep", "keep"] and metrics["faces_blurred"] == 2
    assert json.loads(rows["face_boxes"].iloc[0]) == [[12, 20, 50, 64]]
    run_curation(paths, with_safety(SETTINGS, faces=FaceAction.exclude), checks)  # re-decided from the cache
    assert curation(paths)["reason"].tolist() == ["faces", "faces"] and curation(paths)["face_boxes"].iloc[0] == "[]"


def test_nudenet_runs_offline_on_a_garment_drawing_and_finds_nothing_unsafe() -> None:
    view = ImageView.of(drawing("maroon", "suit"), analysis_px=SETTINGS.analysis_px)
    verdict = judge_safety(SafetyDetector().detect(view), SETTINGS.safety)
    assert verdict.measured.findings == () and verdict.measured.scores["nsfw_score"] < SETTINGS.safety.nsfw_min_score


def noisy_photo(size: tuple[int, int] = (160, 120)) -> Image.Image:
    """Fine photo-like detail everywhere (so any change shows)."""
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    return noise.filter(ImageFilter.GaussianBlur(1.5))


def test_blur_changes_only_the_face_boxes_pixels() -> None:
    photo = noisy_photo()
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=92)  # as download stores it
    box = (40, 30, 80, 70)
    before = np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float32)
    after = np.asarray(Image.open(io.BytesIO(blur_jpeg(buffer.getvalue(), [box]))).convert("RGB"), dtype=np.float32)
    x0, y0, x1, y1 = grown(box, photo.size)
    assert (x0, y0, x1, y1) == (30, 20, 90, 80)  # grown by a quarter of the box on every side
    inside = np.zeros(before.shape[:2], dtype=bool)
    inside[y0:y1, x0:x1] = True
    near = np.zeros_like(inside)  # JPEG blocks (8 px) straddling the box's edge are re-encoded with it
    near[max(0, y0 - 8):y1 + 8, max(0, x0 - 8):x1 + 8] = True
    diff = np.abs(after - before).mean(axis=2)
    assert diff[~near].mean() < 1.5 and diff[~near].max() <= 10  # elsewhere: JPEG rounding only
    detail_before, detail_after = (np.abs(np.diff(a[y0:y1, x0:x1], axis=1)).mean() for a in (before, after))
    assert detail_after < 0.1 * detail_before  # inside: the face's detail is gone


def test_the_caption_getter_blurs_only_images_with_face_boxes() -> None:
    photo = io.BytesIO()
    noisy_photo().save(photo, format="JPEG", quality=95)
    stored = {sha(1): photo.getvalue(), sha(2): photo.getvalue()}
    examples = pd.DataFrame({"sha256": [sha(1), sha(2)], "face_boxes": ["[[40, 30, 80, 70]]", "[]"]})
    read = with_faces_blurred(stored.__getitem__, examples)
    assert read(sha(2)) == stored[sha(2)] and read(sha(1)) != stored[sha(1)]


# --- image-text agreement ---------------------------------------------------------------------------------


def test_agreement_drops_an_image_whose_text_names_another_colour_stub_scorer(tmp_path: Path) -> None:
    paths = write_inputs(tmp_path, [Item(sha(1), title="Red Lawn Kurta", image=drawing("red")),
                                    Item(sha(2), title="Blue Lawn Kurta", image=drawing("red"))])
    calls = Calls()
    run_curation(paths, SETTINGS, fake_checks(calls, score=lambda text: 75.0 if text.startswith("Red") else 3.0))
    rows = curation(paths)
    assert rows["reason"].tolist() == ["", "text_mismatch"]
    assert rows["signal"].iloc[1] == f"CLIP score 3.0 < {SETTINGS.agreement.min_score}"
    assert calls.scorer == ["Red Lawn Kurta", "Blue Lawn Kurta"]  # curate.agreement.text "{title}"


@pytest.mark.slow
def test_the_tiny_clip_drops_a_drawing_whose_title_names_another_colour() -> None:
    """The demo's CLIP (evaluate.clip_model) and threshold: the right title passes, the wrong colour does not."""
    scorer = ClipScorer(SETTINGS.agreement, device="cpu")
    image = Image.fromarray(ImageView.of(drawing("green"), analysis_px=SETTINGS.analysis_px).rgb)
    right, wrong = scorer([image, image], ["Green Embroidered Lawn Kurta", "Red Embroidered Lawn Kurta"])
    assert judge_agreement(right, SETTINGS.agreement).findings == ()
    assert [f.reason for f in judge_agreement(wrong, SETTINGS.agreement).findings] == [R.text_mismatch]


# --- report and near-duplicates ---------------------------------------------------------------------------


def test_near_duplicates_are_listed_on_the_kept_image_and_grouped_across_sites(tmp_path: Path) -> None:
    kept = Item(sha(1), site="a")
    paths = write_inputs(tmp_path, [kept, Item(sha(2), site="b", status="near_duplicate", duplicate_of=kept.url),
                                    Item(sha(3), site="a", status="duplicate", duplicate_of=kept.url), Item(sha(4))])
    metrics = run_curation(paths, SETTINGS, fake_checks(Calls()))
    rows = curation(paths)
    assert rows["sha256"].tolist() == [sha(1), sha(4)]  # stored images only, images.csv order
    assert json.loads(rows["near_duplicates"].iloc[0]) == [Item(sha(2), site="b").url, Item(sha(3), site="a").url]
    assert (metrics["near_duplicate_groups"], metrics["near_duplicate_groups_across_sites"]) == (1, 1)
    report = (paths.reports / "curation.html").read_text()
    assert "across sites: a, b" in report and report.count("<figure>") == 3


def test_the_report_escapes_hostile_titles_and_urls(tmp_path: Path) -> None:
    hostile = '<script>alert("t")</script><img src=x onerror=alert(1)>'
    paths = write_inputs(tmp_path, [Item(sha(1), title=hostile, product_url="javascript:alert(document.cookie)"),
                                    Item(sha(2), title="Kurta", product_url='http://s.example/p?a="><b>x</b>'),
                                    Item(sha(3), title="Shawl", product_url="http://[::1/unclosed")])
    run_curation(paths, SETTINGS, fake_checks(Calls(), score=lambda text: 1.0))
    report = (paths.reports / "curation.html").read_text()
    assert "<script" not in report and "<img src=x" not in report and "<b>x" not in report
    assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;" in report
    assert "javascript:" not in report  # not a link, and its text is not shown either (the title is)
    assert 'href="http://s.example/p?a=&quot;&gt;&lt;b&gt;x&lt;/b&gt;"' in report
    assert report.count("data:image/jpeg;base64,") == 3  # thumbnails inlined: the page stands alone


# --- the caption stage's side -----------------------------------------------------------------------------


def test_caption_leaves_out_dropped_images_and_refuses_a_missing_or_stale_curation(tmp_path: Path) -> None:
    from tests.test_caption import make_stage_inputs

    paths = make_stage_inputs(tmp_path, n_products=4)
    decisions = curation(paths)
    decisions.loc[[0, 3], ["decision", "reason"]] = ["drop", "size_chart"]
    decisions.loc[5, "face_boxes"] = "[[8, 8, 40, 40]]"
    decisions.to_csv(paths.curation_csv, index=False)
    settings = configured(CaptionConfig, text_tokenizer="", captioner=Captioner.metadata_only)
    layout, vocab = configured(DatasetConfig), configured(VocabConfig)
    stats = build_dataset(paths, settings, vocab, layout, seed=1, caption_fn=None)
    files = {p.stem: p.read_bytes() for p in paths.dataset.rglob("*.jpg")}
    assert stats.images == 6 and set(files) == set(decisions["sha256"]) - {decisions["sha256"][0], decisions["sha256"][3]}
    store = ImageStore(paths.images)
    changed = {name for name, data in files.items() if data != store.get(name)}
    assert changed == {decisions["sha256"][5]}  # the one image with a face box, blurred in the dataset's copy
    card = render_dataset_card(card_inputs(paths, settings, layout, stats,
                                           safety=with_safety(SETTINGS, faces=FaceAction.blur).safety))
    assert "## Curation" in card and "- `size_chart`: 2" in card and "6 kept" in card
    assert "NudeNet" in card and "AGPL-3.0" in card and "`curate.safety.faces=blur`" in card and "(1 photos)" in card
    decisions.iloc[1:].to_csv(paths.curation_csv, index=False)
    with pytest.raises(StageError, match=r"curation.csv is older than images.csv: 1 stored images there have no decision; run `dvc repro curate`"):
        build_dataset(paths, settings, vocab, layout, seed=1, caption_fn=None)
    paths.curation_csv.unlink()
    with pytest.raises(StageError, match=r"curation.csv is missing: run the curate stage first \(dvc repro curate\)"):
        build_dataset(paths, settings, vocab, layout, seed=1, caption_fn=None)


# --- the stage on the demo store --------------------------------------------------------------------------

LABELS = REPO_ROOT / "assets" / "demo" / "curation_labels.csv"
DEMO_SITES = ("demo_shop", "demo_boutique", "demo_atelier")


def download_demo(demo: Any, root: Path) -> PathsConfig:
    """The kept products of the demo profile's sites, as the csv stage lists them, downloaded from the store."""
    from pakfashion.config import DownloadConfig
    from pakfashion.demo import AtelierProduct
    from pakfashion.images.download import run_download, write_ledger
    from tests.helpers import quick_web

    paths = paths_under(root)
    rows = []
    for name in DEMO_SITES:
        netloc = demo.base_url(name).split("//")[1]
        for product in (p for p in demo.world.products(name) if p.expected == "keep"):
            if isinstance(product, AtelierProduct):
                urls, page = product.image_urls(netloc), product.url(netloc)
            else:
                urls = ["http:" + i["src"] if i["src"].startswith("//") else i["src"]
                        for i in product.render(netloc)["images"]]
                page = f"{demo.base_url(name)}/products/{product.handle}"
            rows.append({"site": name, "product_id": str(product.id), "product_url": page, "title": product.title,
                         "description": "", "category": "", "tags": "[]", "price": "", "currency": "PKR",
                         "image_urls": json.dumps(urls), "crawled_at": "", "image_colours": "[]"})
    paths.products_csv.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(paths.products_csv, index=False)
    ledger, _ = run_download(paths.products_csv, paths.images, configured(DownloadConfig, min_delay_s=0.0),
                             web=quick_web(), state_dir=paths.state)
    write_ledger(ledger, paths.images_csv)
    return paths


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.skipif(not LABELS.is_file(), reason=f"no ground truth yet: {LABELS} (python -m pakfashion.demo labels)")
def test_the_stage_on_the_demo_store_finds_every_problem_image_and_drops_no_clean_photo(
        tmp_path: Path, demo_store: Any) -> None:
    """``python -m pakfashion.curate`` as DVC runs it (the demo profile's params), on the demo store's images."""
    paths = download_demo(demo_store, tmp_path)
    overrides = [f"paths.{f.name}={getattr(paths, f.name)}" for f in dataclasses.fields(PathsConfig)]
    done = subprocess.run([sys.executable, "-m", "pakfashion.curate", *overrides, f"curate.ground_truth={LABELS}"],
                          cwd=REPO_ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((paths.metrics / "curation.json").read_text())
    labels = dict(pd.read_csv(LABELS, dtype=str, keep_default_na=False).values)
    rows = curation(paths)
    clean_dropped = [(row.url, row.reason, row.signal) for row in rows.itertuples()
                     if row.decision == "drop" and not labels.get(urlsplit(row.url).path)]
    assert metrics["clean_dropped"] == len(clean_dropped) == 0, clean_dropped
    labelled = {reason for reason, n in metrics["support"].items() if n}
    assert labelled >= {"size_chart", "text_banner", "swatch", "collage", "blurry", "too_dark"}
    weak = {r: (metrics["precision"][r], metrics["recall"][r]) for r in labelled
            if min(metrics["precision"][r], metrics["recall"][r]) < 0.9}
    assert not weak, f"precision, recall below 0.9: {weak}; by reason {metrics['by_reason']}"
    assert set(metrics["seconds_per_image"]) >= {"quality", "content", "safety", "agreement", "stage"}
    assert metrics["clip_score"]["min"] >= 0 and (paths.reports / "curation.html").is_file()
