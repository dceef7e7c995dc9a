"""The curate stage's work: measure every stored image once (cached), decide keep or drop, score, report.

The stage entry is :mod:`pakfashion.curate`. Measuring is split from deciding: each check's measurements are
cached under ``paths.state`` per image and per the settings that change them (JSON Lines, appended after every
batch, so a killed run loses at most one batch), and a decision is a cheap pass over the cache. A changed
NSFW, face or CLIP threshold only re-decides; a changed quality or content setting re-runs that check alone
(its thresholds live inside it), never the detector or CLIP.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from pakfashion.common.errors import describe
from pakfashion.common.files import file_sha256, write_json, write_text_atomic
from pakfashion.config import CurateConfig, PathsConfig
from pakfashion.contracts import (
    CURATION_METRICS,
    CURATION_REPORT,
    CurationDecision,
    CurationReason,
    CurationRow,
    ImageStatus,
)
from pakfashion.curation import agreement, content, quality, safety, signals
from pakfashion.curation.agreement import ScoreFn, judge_agreement, product_text
from pakfashion.curation.report import (
    Dropped,
    Group,
    Shown,
    render_report,
    thumbnail_uri,
)
from pakfashion.curation.safety import Detection, judge_safety
from pakfashion.curation.signals import Finding, ImageView, Measured
from pakfashion.images.store import ImageStore

log = logging.getLogger(__name__)

# The reason of a stored image that cannot be read back (missing from its shard, or not decodable): it is
# dropped with the error as its signal. Not a check, so not in curate.order; named as download names it.
UNREADABLE = ImageStatus.decode_failed.value
QUALITY, CONTENT, SAFETY, AGREEMENT, DECODE = "quality", "content", "safety", "agreement", "decode"


class Detector(Protocol):
    def detect(self, view: ImageView) -> list[Detection]: ...


@dataclass(frozen=True)
class Checks:
    """The measuring collaborators, built once by the stage (tests hand in fakes); None: the check is off.

    ``keys`` name, per check, what its measurements depend on beyond the image (settings, model, code):
    measurements are cached under a hash of it.
    """

    quality: Callable[[ImageView], Measured] | None
    content: Callable[[ImageView], Measured] | None
    detector: Detector | None
    scorer: ScoreFn | None
    keys: dict[str, Any]


def source_digest(*modules: ModuleType) -> str:
    """sha256 (16 hex) of the modules' source: changed check code, new measurements."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:16]


def weights_digest(name_or_path: str) -> str:
    """A hub model's name, or the sha256 of a local folder's files (a retrained tiny CLIP, new scores)."""
    folder = Path(name_or_path)
    if not folder.is_dir():
        return name_or_path
    return settings_key([(p.relative_to(folder).as_posix(), file_sha256(p)) for p in sorted(folder.rglob("*"))
                         if p.is_file()])


def build_checks(settings: CurateConfig, *, device: str) -> Checks:
    """The enabled checks (NudeNet and CLIP load at their first use), and what each one's measurements depend
    on."""
    if settings.safety.detects:
        safety.check_labels(settings.safety)
    view = [settings.analysis_px, source_digest(signals)]
    keys = {QUALITY: [asdict(settings.quality), source_digest(quality), *view],
            CONTENT: [asdict(settings.content), source_digest(content), *view],
            SAFETY: [safety.detector_version(), source_digest(safety), *view]}
    scorer = None
    if settings.agreement.enabled:
        from pakfashion.evaluation import clip  # imports torch: only when CLIP runs

        agreement.check_text_template(settings.agreement.text)
        keys[AGREEMENT] = [weights_digest(settings.agreement.clip_model), source_digest(clip), *view]
        scorer = agreement.ClipScorer(settings.agreement, device=device)
    return Checks(
        quality=partial(quality.measure_quality, settings=settings.quality) if settings.quality.enabled else None,
        content=partial(content.measure_content, settings=settings.content) if settings.content.enabled else None,
        detector=safety.SafetyDetector() if settings.safety.detects else None,
        scorer=scorer, keys=keys,
    )


def settings_key(*parts: Any) -> str:
    """16 hex digits naming one check setting (the cache file of its measurements)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class MeasurementCache:
    """One check's measurements for one setting: ``{"key": ..., "value": ..., "s": seconds}`` per line, appended.

    A line cut short by a killed run is skipped when read (its image is measured again).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.values: dict[str, Any] = {}
        self.seconds: dict[str, float] = {}
        if path.exists():
            self._cut_torn_tail()
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    log.warning("%s: skipped a line that is not JSON; its image is measured again", path)
                    continue
                self.values[record["key"]] = record["value"]
                self.seconds[record["key"]] = float(record.get("s", 0.0))

    def _cut_torn_tail(self) -> None:
        """Cut a last line without its newline (a run killed mid-write), so the next append starts a line."""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            log.warning("%s: cut a torn last line (a killed run); its image is measured again", self.path)
            os.truncate(self.path, data.rfind(b"\n") + 1)

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def add(self, items: list[tuple[str, Any, float]]) -> None:
        """Append (key, value, seconds) records and flush them to disk."""
        if not items:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            for key, value, seconds in items:
                handle.write(json.dumps({"key": key, "value": value, "s": round(seconds, 5)}) + "\n")
        for key, value, seconds in items:
            self.values[key], self.seconds[key] = value, seconds


def open_caches(state_dir: Path, checks: Checks) -> dict[str, MeasurementCache]:
    """The cache of each enabled check, under ``<state>/cache/curation/<check>/<settings key>.jsonl``."""
    enabled = {QUALITY: checks.quality, CONTENT: checks.content, SAFETY: checks.detector, AGREEMENT: checks.scorer}
    return {name: MeasurementCache(state_dir / "cache" / "curation" / name / f"{settings_key(checks.keys[name])}.jsonl")
            for name, check in enabled.items() if check is not None}


@dataclass(frozen=True)
class Inputs:
    """The stored images to decide (one per sha256, images.csv order, with their product's columns), the whole
    ledger, and the products."""

    images: pd.DataFrame
    ledger: pd.DataFrame
    products: pd.DataFrame


def load_inputs(images_csv: Path, products_csv: Path) -> Inputs:
    ledger = pd.read_csv(images_csv, dtype=str, keep_default_na=False)
    products = pd.read_csv(products_csv, dtype=str, keep_default_na=False)
    ok = ledger[ledger["status"] == ImageStatus.ok.value].drop_duplicates("sha256")
    columns = [c for c in products.columns if c not in ok.columns or c in ("site", "product_id")]
    joined = ok.merge(products[columns], on=["site", "product_id"], how="left", validate="many_to_one").fillna("")
    return Inputs(joined.reset_index(drop=True), ledger, products)


def agreement_key(sha256: str, text: str) -> str:
    """An agreement score's cache key: the image and the exact text it was scored against."""
    return f"{sha256}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def cache_keys(sha256: str, text: str) -> dict[str, str]:
    """Each check's cache key for one image (agreement's names the text too)."""
    return {QUALITY: sha256, CONTENT: sha256, SAFETY: sha256, AGREEMENT: agreement_key(sha256, text)}


@dataclass
class Pending:
    """What one image still needs measured, and what was measured of it in this batch."""

    sha256: str
    text: str
    needs: set[str]
    view: ImageView | None = None
    error: str = ""
    results: dict[str, tuple[Any, float]] = field(default_factory=dict)


def pending_images(images: pd.DataFrame, caches: dict[str, MeasurementCache], template: str) -> list[Pending]:
    """The images some enabled check has no cached measurement of."""
    todo = []
    for sha, record in zip(images["sha256"], images.to_dict("records")):
        text = product_text(template, record) if AGREEMENT in caches else ""
        keys = cache_keys(sha, text)
        needs = {name for name, cache in caches.items() if keys[name] not in cache}
        if needs:
            todo.append(Pending(sha, text, needs))
    return todo


def decode_view(store: ImageStore, sha256: str, *, analysis_px: int) -> ImageView:
    """The stored image decoded once into the view every check reads."""
    with Image.open(io.BytesIO(store.get(sha256))) as image:
        return ImageView.of(image, analysis_px=analysis_px)


def _measure_one(item: Pending, store: ImageStore, checks: Checks, analysis_px: int) -> float:
    """Decode ``item`` and run the per-image checks it needs (quality, content, the detector); returns the decode
    seconds.

    Runs in a worker thread: Pillow's decoder, numpy, OpenCV and onnxruntime release the GIL for their work.
    """
    started = time.perf_counter()
    try:
        item.view = decode_view(store, item.sha256, analysis_px=analysis_px)
    except (OSError, ValueError, Image.DecompressionBombError) as err:  # missing member, bad or truncated data
        item.error = describe(err)
        return 0.0
    decoded = time.perf_counter() - started
    for name, check in ((QUALITY, checks.quality), (CONTENT, checks.content)):
        if name in item.needs and check is not None:
            began = time.perf_counter()
            item.results[name] = (_measured_json(check(item.view)), time.perf_counter() - began)
    if SAFETY in item.needs and checks.detector is not None:
        began = time.perf_counter()
        found = checks.detector.detect(item.view)
        item.results[SAFETY] = ([d.to_json() for d in found], time.perf_counter() - began)
    return decoded


def _measured_json(measured: Measured) -> dict[str, Any]:
    return {"scores": {k: float(v) for k, v in measured.scores.items()},
            "findings": [[f.reason.value, f.signal] for f in measured.findings]}


def _measured_of(value: dict[str, Any]) -> Measured:
    return Measured(dict(value["scores"]), tuple(Finding(CurationReason(r), s) for r, s in value["findings"]))


def measure_batch(batch: list[Pending], store: ImageStore, checks: Checks, *, analysis_px: int,
                  pool: ThreadPoolExecutor | None) -> float:
    """Measure what each image of ``batch`` needs (per-image checks on ``pool``, CLIP here in one batch);
    returns the seconds spent decoding."""
    work = (lambda item: _measure_one(item, store, checks, analysis_px))
    decoded = sum(pool.map(work, batch) if pool else map(work, batch))
    scored = [item for item in batch if item.view is not None and AGREEMENT in item.needs]
    if checks.scorer is not None and scored:
        began = time.perf_counter()
        values = checks.scorer([Image.fromarray(i.view.rgb) for i in scored], [i.text for i in scored])  # type: ignore[union-attr]
        each = (time.perf_counter() - began) / len(scored)
        for item, value in zip(scored, values):
            item.results[AGREEMENT] = (float(value), each)
    return decoded


def store_batch(batch: list[Pending], caches: dict[str, MeasurementCache]) -> None:
    """Append the batch's measurements to each check's cache (the unit a killed run can lose)."""
    for name, cache in caches.items():
        cache.add([(cache_keys(i.sha256, i.text)[name], *i.results[name]) for i in batch if name in i.results])


def load_models(checks: Checks) -> None:
    """Load the detector and CLIP now, before their time per image is measured (both load at first use, so a
    rerun that only re-decides loads neither)."""
    for model in (checks.detector, checks.scorer):
        load = getattr(model, "load", None)
        if load is not None:
            load()


def measure_all(images: pd.DataFrame, paths: PathsConfig, settings: CurateConfig, checks: Checks,
                caches: dict[str, MeasurementCache]) -> dict[str, Any]:
    """Measure every image some check lacks, batch by batch; returns what this run measured (counts, seconds)
    and the unreadable images (sha256 -> error)."""
    todo = pending_images(images, caches, settings.agreement.text)
    store, errors, decode_s, decoded = ImageStore(paths.images), {}, 0.0, 0
    log.info("curate: %d of %d images to measure (%s cached)", len(todo), len(images),
             ", ".join(f"{name} {len(cache.values)}" for name, cache in caches.items()) or "no check on")
    batches = [todo[i : i + settings.batch_size] for i in range(0, len(todo), settings.batch_size)]
    if todo:
        load_models(checks)
    pool = ThreadPoolExecutor(settings.workers) if settings.workers > 1 else None
    try:
        with tqdm(total=len(todo), desc="curate", unit="img", mininterval=2.0) as bar:
            for batch in batches:
                decode_s += measure_batch(batch, store, checks, analysis_px=settings.analysis_px, pool=pool)
                decoded += sum(item.view is not None for item in batch)
                errors.update({item.sha256: item.error for item in batch if item.error})
                store_batch(batch, caches)
                for item in batch:
                    item.view = None  # free the pixels: a batch's views are all that is held
                bar.update(len(batch))
    finally:
        if pool:
            pool.shutdown()
    return {"measured": len(todo), "errors": errors, "decode_s": decode_s, "decoded": decoded}


@dataclass(frozen=True)
class Decided:
    """The decision of one image, what it rests on, and the cache keys it was read under."""

    row: CurationRow
    measured: Measured
    keys: dict[str, str]


def decide(record: dict[str, Any], caches: dict[str, MeasurementCache], settings: CurateConfig, *,
           error: str, near_duplicates: list[str]) -> Decided:
    """Keep or drop one image from its cached measurements: the first reason in ``curate.order`` that fired
    decides; every finding is recorded (an unreadable image is dropped as such, with its error)."""
    keys = cache_keys(record["sha256"], product_text(settings.agreement.text, record) if AGREEMENT in caches else "")
    measured, boxes = Measured(), []
    if not error:
        for name in (QUALITY, CONTENT):
            if name in caches:
                measured += _measured_of(caches[name].values[keys[name]])
        if SAFETY in caches:
            found = [Detection.from_json(d) for d in caches[SAFETY].values[keys[SAFETY]]]
            verdict = judge_safety(found, settings.safety)
            measured, boxes = measured + verdict.measured, verdict.face_boxes
        if AGREEMENT in caches:
            measured += judge_agreement(caches[AGREEMENT].values[keys[AGREEMENT]], settings.agreement)
    rank = {CurationReason(reason): i for i, reason in enumerate(settings.order)}
    fired: dict[str, str] = {UNREADABLE: error} if error else {}
    for finding in sorted(measured.findings, key=lambda f: rank[f.reason]):
        fired.setdefault(finding.reason.value, finding.signal)
    reason, signal = next(iter(fired.items()), ("", ""))
    row = CurationRow(
        sha256=record["sha256"], site=record["site"], product_id=record["product_id"],
        position=int(record["position"] or 0), url=record["url"],
        decision=CurationDecision.drop if fired else CurationDecision.keep, reason=reason, signal=signal,
        findings=json.dumps(fired, ensure_ascii=False), face_boxes=json.dumps([list(b) for b in boxes]),
        scores=json.dumps({k: round(float(v), 4) for k, v in sorted(measured.scores.items())}),
        near_duplicates=json.dumps(near_duplicates, ensure_ascii=False),
    )  # fmt: skip
    return Decided(row, measured, keys)


def reason_of(row: CurationRow) -> str:
    """The deciding reason as curation.csv writes it ("" when kept)."""
    return row.reason.value if isinstance(row.reason, CurationReason) else row.reason


def duplicate_groups(ledger: pd.DataFrame) -> dict[str, list[dict[str, str]]]:
    """The URL of each kept image -> the ledger rows download folded into it (exact and near duplicates)."""
    folded = ledger[ledger["status"].isin([ImageStatus.duplicate.value, ImageStatus.near_duplicate.value])]
    groups: dict[str, list[dict[str, str]]] = defaultdict(list)
    for record in folded.to_dict("records"):
        if record["duplicate_of"]:
            groups[record["duplicate_of"]].append(record)
    return dict(groups)


def write_curation_csv(rows: list[CurationRow], path: Path) -> None:
    """``curation.csv``: the :class:`CurationRow` columns, one row per stored image in images.csv order."""
    records = [{**asdict(r), "decision": r.decision.value, "reason": reason_of(r)} for r in rows]
    frame = pd.DataFrame(records, columns=list(CurationRow.__dataclass_fields__))
    write_text_atomic(path, frame.to_csv(index=False))


def read_ground_truth(path: Path) -> dict[str, str]:
    """``url_path`` -> reason ("" a clean photo) of a labels CSV; fails on a reason no check gives."""
    labels = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(labels.columns[:2]) != ["url_path", "reason"]:
        raise ValueError(f"{path}: the columns must be url_path,reason (found {list(labels.columns)})")
    valid = {r.value for r in CurationReason} | {"", UNREADABLE}
    unknown = sorted(set(labels["reason"]) - valid)
    if unknown:
        raise ValueError(f"{path}: unknown reasons {unknown}; valid: {sorted(valid)}")
    return dict(zip(labels["url_path"], labels["reason"]))


def ground_truth_metrics(rows: list[CurationRow], labels: dict[str, str]) -> dict[str, Any]:
    """Precision and recall per reason (the deciding reason against the label; unlisted images are clean),
    and ``clean_dropped``: clean photos dropped, which must be 0."""
    truth = [labels.get(urlsplit(r.url).path, "") for r in rows]
    predicted = [reason_of(r) for r in rows]
    precision, recall, support = {}, {}, {}
    for reason in sorted((set(truth) | set(predicted)) - {""}):
        hits = sum(t == p == reason for t, p in zip(truth, predicted))
        said, true = predicted.count(reason), truth.count(reason)
        precision[reason] = round(hits / said, 4) if said else 0.0
        recall[reason] = round(hits / true, 4) if true else 0.0
        support[reason] = true
    clean_dropped = sum(t == "" and p != "" for t, p in zip(truth, predicted))
    unmatched = len(set(labels) - {urlsplit(r.url).path for r in rows})
    return {"precision": precision, "recall": recall, "support": support, "clean_dropped": clean_dropped,
            "labels_not_in_images": unmatched}


def distribution(values: list[float]) -> dict[str, float]:
    """min, 5/25/50/75/95th percentiles and max (rounded), or {} for no values."""
    if not values:
        return {}
    points = np.percentile(np.asarray(values, dtype=np.float64), [0, 5, 25, 50, 75, 95, 100])
    return dict(zip(("min", "p05", "p25", "median", "p75", "p95", "max"), (round(float(p), 3) for p in points)))


def cost_per_image(decided: list[Decided], caches: dict[str, MeasurementCache], run: dict[str, Any]) -> dict[str, float]:
    """Seconds per image of each check (kept in the cache, so a rerun still reports what measuring cost), and
    of decoding in this run."""
    costs = {}
    for name, cache in caches.items():
        seconds = [cache.seconds[d.keys[name]] for d in decided if d.keys[name] in cache.seconds]
        if seconds:
            costs[name] = round(float(np.mean(seconds)), 5)
    if run["decoded"]:
        costs[DECODE] = round(run["decode_s"] / run["decoded"], 5)
    return costs


def curation_metrics(decided: list[Decided], groups: dict[str, list[dict[str, str]]], costs: dict[str, float],
                     *, faces_blurred: int) -> dict[str, Any]:
    """Counts per decision and reason, faces, near-duplicate groups, the CLIP score distribution, cost per check."""
    rows = [d.row for d in decided]
    reasons = Counter(reason_of(r) for r in rows)
    reasons.pop("", None)
    kept_urls = {r.url: r for r in rows}
    in_groups = {url: members for url, members in groups.items() if url in kept_urls}
    sites = [{kept_urls[url].site, *(m["site"] for m in members)} for url, members in in_groups.items()]
    clip = [d.measured.scores["clip_score"] for d in decided if "clip_score" in d.measured.scores]
    return {
        "images": len(rows),
        "kept": sum(r.decision is CurationDecision.keep for r in rows),
        "dropped": sum(r.decision is CurationDecision.drop for r in rows),
        "by_reason": dict(sorted(reasons.items())),
        "faces_blurred": faces_blurred,
        "near_duplicate_groups": len(in_groups),
        "near_duplicate_images": sum(len(m) for m in in_groups.values()),
        "near_duplicate_groups_across_sites": sum(len(s) > 1 for s in sites),
        "clip_score": distribution(clip),
        "seconds_per_image": costs,
    }


def _shown(record: dict[str, Any], products: dict[tuple[str, str], dict[str, str]]) -> Shown:
    product = products.get((record["site"], record["product_id"]), {})
    return Shown(record["sha256"], record["site"], record["url"], product.get("title", ""),
                 product.get("product_url", ""))


def write_report(path: Path, metrics: dict[str, Any], decided: list[Decided], inputs: Inputs,
                 groups: dict[str, list[dict[str, str]]], settings: CurateConfig, store: ImageStore) -> None:
    """``curation.html``: the dropped images by reason and the near-duplicate groups, thumbnails inlined."""
    products = {(p["site"], p["product_id"]): p for p in inputs.products.to_dict("records")}
    dropped = [Dropped(d.row, _shown(asdict(d.row), products)) for d in decided
               if d.row.decision is CurationDecision.drop]
    by_url = {d.row.url: d.row for d in decided}
    shown_groups = [Group(by_url[url], _shown(asdict(by_url[url]), products), [_shown(m, products) for m in members])
                    for url, members in groups.items() if url in by_url]

    def thumbnail(sha256: str) -> str:
        try:
            return thumbnail_uri(store.get(sha256), px=settings.thumbnail_px)
        except (OSError, ValueError, Image.DecompressionBombError):
            return ""

    order = [CurationReason(r).value for r in settings.order] + [UNREADABLE]
    write_text_atomic(path, render_report(metrics, dropped, shown_groups, thumbnail, order=order,
                                          per_reason=settings.report_per_reason))


def run_curation(paths: PathsConfig, settings: CurateConfig, checks: Checks) -> dict[str, Any]:
    """Measure what the cache lacks, decide every stored image, and write curation.csv, the report and the
    metrics (returned)."""
    started = time.perf_counter()
    inputs = load_inputs(paths.images_csv, paths.products_csv)
    caches = open_caches(paths.state, checks)
    run = measure_all(inputs.images, paths, settings, checks, caches)
    groups = duplicate_groups(inputs.ledger)
    decided = [decide(record, caches, settings, error=run["errors"].get(record["sha256"], ""),
                      near_duplicates=[m["url"] for m in groups.get(record["url"], [])])
               for record in inputs.images.to_dict("records")]
    rows = [d.row for d in decided]
    write_curation_csv(rows, paths.curation_csv)
    faces_blurred = sum(r.face_boxes != "[]" for r in rows if r.decision is CurationDecision.keep)
    metrics = curation_metrics(decided, groups, cost_per_image(decided, caches, run), faces_blurred=faces_blurred)
    metrics["measured"] = run["measured"]
    if settings.ground_truth:
        metrics.update(ground_truth_metrics(rows, read_ground_truth(Path(settings.ground_truth))))
    metrics["seconds_per_image"]["stage"] = round((time.perf_counter() - started) / max(1, len(rows)), 5)
    write_report(paths.reports / CURATION_REPORT, metrics, decided, inputs, groups, settings, ImageStore(paths.images))
    write_json(paths.metrics / CURATION_METRICS, metrics)
    return metrics
