"""Reading the stages' outputs for the app: dataset rows, exclusions, crawl ledgers, runs.

Everything here reads the files the stages wrote (no second copy; a page's images inside Parquet shards are
written out once to show them): the dataset (either layout of :mod:`pakfashion.common.dataset_files`),
``paths.excluded_csv``, ``paths.images_csv``, ``paths.curation_csv`` (with the dropped images from the store under
``paths.images``, written out once to show them), ``<paths.raw>/<site>/crawl.json``, ``paths.models/<run>`` and
``dvc exp show --json``. Functions return pandas frames or small dataclasses, and raise
:class:`DataMissing` (a ``FileNotFoundError``) naming the stage to run when an input is absent.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from pakfashion.common.dataset_files import DatasetSplit
from pakfashion.common.files import read_json, write_bytes_atomic
from pakfashion.contracts import (
    CRAWL_REPORT_FILE,
    EXCLUSION_COLUMNS,
    METADATA_FILE,
    PARQUET_DIR,
    SPLITS,
    TRAIN_SPLIT,
    CurationDecision,
    CurationReason,
    CurationRow,
    ImageStatus,
    is_trained_run,
)
from pakfashion.images.store import ImageStore, member_name

log = logging.getLogger(__name__)

T = TypeVar("T")

WORKSPACE = "workspace"
# The columns the app shows, in its own order: of metadata.jsonl (plus split) and of excluded.csv.
DATASET_COLUMNS = ["split", "text", "site", "product_id", "product_url", "title", "garment", "colours", "file_name"]
EXCLUDED_COLUMNS = ["site", "title", *EXCLUSION_COLUMNS, "product_id", "category", "product_url"]
RUN_COLUMNS = ["run", "rev", "created", "state"]


class DataMissing(FileNotFoundError):
    """An input the app shows has not been produced yet; the message says which stage makes it."""


def missing(path: Path, stage: str) -> DataMissing:
    """A :class:`DataMissing` for ``path``, telling the user how to produce it."""
    return DataMissing(f"{path} not found: run `dvc repro {stage}` (or `make demo`) first")


class FileSnapshotCache:
    """Results of loaders, reused until one of their files changes (size or mtime) or disappears.

    The stages rewrite their outputs atomically, so a new signature means a new version; a dataset of
    100,000 rows is then parsed once per version instead of once per query.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple[Any, ...], Any]] = {}
        self._lock = threading.Lock()  # the page's load events ask at once: load once

    @staticmethod
    def signature(paths: Iterable[Path]) -> tuple[Any, ...]:
        """(path, size, mtime) of each path that exists."""
        stats = ((path, path.stat()) for path in paths if path.exists())
        return tuple((str(path), stat.st_size, stat.st_mtime_ns) for path, stat in stats)

    def get(self, key: str, paths: list[Path], load: Callable[[], T]) -> T:
        """``load()``'s result for ``key``, loaded again when ``paths`` changed since the last call."""
        with self._lock:
            signature = self.signature(paths)
            cached = self._entries.get(key)
            if cached is not None and cached[0] == signature:
                return cached[1]
            value = load()
            self._entries[key] = (signature, value)
            return value


# --- dataset -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetQuery:
    """A dataset filter; empty fields match everything. ``text``: words that must all appear in the caption."""

    text: str = ""
    site: str = ""
    garment: str = ""
    colour: str = ""


@dataclass(frozen=True)
class Page:
    """One page of rows: ``number`` is 1-based, ``count`` the number of pages, ``total`` the matching rows."""

    rows: pd.DataFrame
    number: int
    count: int
    total: int


@dataclass(frozen=True)
class Facets:
    """The values the dataset's filters offer, sorted."""

    sites: list[str]
    garments: list[str]
    colours: list[str]


def dataset_files(dataset_dir: Path) -> list[Path]:
    """The files the dataset's rows are in, in either layout (present or not): a change reloads them."""
    return [*(dataset_dir / split / METADATA_FILE for split in SPLITS), *sorted((dataset_dir / PARQUET_DIR).glob("*.parquet"))]


def load_dataset(dataset_dir: Path) -> pd.DataFrame:
    """All rows of the dataset's splits (either layout), with ``split``, ``row_index`` (the row in its split) and
    ``image_path`` (absolute; "" for an image inside a Parquet shard, see :func:`with_image_files`) columns.

    Raises:
        DataMissing: no split is there.
    """
    frames = []
    for name in SPLITS:
        try:
            split = DatasetSplit.open(dataset_dir, name)
        except FileNotFoundError:
            continue
        rows = split.rows()
        frame = pd.DataFrame(rows)
        frame["split"], frame["row_index"] = name, range(len(rows))
        frame["image_path"] = [str(path) if (path := split.image_path(row)) else "" for row in rows]
        frames.append(frame)
    if not frames:
        raise missing(dataset_dir / TRAIN_SPLIT / METADATA_FILE, "caption")
    frame = pd.concat(frames, ignore_index=True).reindex(columns=[*DATASET_COLUMNS, "row_index", "image_path"])
    frame["colours"] = frame["colours"].map(lambda value: value if isinstance(value, list) else [])
    frame = frame.fillna({name: "" for name in DATASET_COLUMNS if name != "colours"})
    log.info("dataset: %d images from %s", len(frame), dataset_dir)
    return frame


def cached_file(target: Path, read: Callable[[], bytes]) -> str:
    """``target`` as a path to show, written from ``read()`` the first time it is asked for."""
    if not target.is_file():
        write_bytes_atomic(target, read())
    return str(target)


def with_image_files(rows: pd.DataFrame, dataset_dir: Path, cache_dir: Path) -> pd.DataFrame:
    """``rows`` with an ``image_path`` for every row: images inside Parquet shards are written once to
    ``cache_dir/<file_name>`` (the page being shown, not the dataset)."""
    todo = rows["image_path"] == ""
    if not todo.any():
        return rows
    rows = rows.copy()
    splits: dict[str, DatasetSplit] = {}

    def image_bytes(name: str, row_index: int) -> bytes:
        if name not in splits:  # each split's shards opened once for the page
            splits[name] = DatasetSplit.open(dataset_dir, name)
        return splits[name].image_bytes(row_index)

    for label, row in rows[todo].iterrows():
        read = functools.partial(image_bytes, row["split"], int(row["row_index"]))
        rows.at[label, "image_path"] = cached_file(cache_dir / str(row["file_name"]), read)
    return rows


def word_regex(word: str) -> str:
    """A whole-word pattern ("red" does not match "embroidered"), in the RE2 syntax Arrow's regex runs:
    no look-around, so the word's neighbours are matched as "start, end, or not a word character"."""
    return rf"(?:^|[^\w-]){re.escape(word)}(?:$|[^\w-])"


def filter_dataset(frame: pd.DataFrame, query: DatasetQuery) -> pd.DataFrame:
    """Rows whose caption holds every word of ``query.text`` and whose site, garment and colours match.

    The exact-match filters run first; each caption word then searches only the rows still in, with
    Arrow's vectorised regex (300,000 captions in well under a second).
    """
    rows = frame
    if query.site:
        rows = rows[rows["site"] == query.site]
    if query.garment:
        rows = rows[rows["garment"] == query.garment]
    if query.colour:
        rows = rows[rows["colours"].map(lambda colours: query.colour in colours)]
    for word in query.text.split():
        captions = rows["text"].astype("string[pyarrow]")
        rows = rows[captions.str.contains(word_regex(word), case=False, regex=True).to_numpy(dtype=bool)]
    return rows


def page_of(frame: pd.DataFrame, number: int, *, size: int) -> Page:
    """Page ``number`` (1-based, clamped to the pages there are) of ``size`` rows."""
    count = max(1, -(-len(frame) // size))
    number = min(max(1, number), count)
    rows = frame.iloc[(number - 1) * size : number * size]
    return Page(rows=rows, number=number, count=count, total=len(frame))


def facets(frame: pd.DataFrame) -> Facets:
    """Sites, garment types and colours present in the dataset."""
    colours = {colour for values in frame["colours"] for colour in values}
    return Facets(
        sites=sorted(set(frame["site"]) - {""}),
        garments=sorted(set(frame["garment"]) - {""}),
        colours=sorted(colours - {""}),
    )


# --- exclusions, crawl ledger ---------------------------------------------------------------------------


def read_csv_text(path: Path, stage: str, *, columns: list[str] | None = None) -> pd.DataFrame:
    """A stage's CSV as strings (empty cells as ""), or :class:`DataMissing` naming ``stage``."""
    if not path.is_file():
        raise missing(path, stage)
    return pd.read_csv(path, dtype=str, keep_default_na=False, usecols=columns)


def load_excluded(excluded_csv: Path) -> pd.DataFrame:
    """The csv stage's excluded products: site, product, title, reason, deciding signal, all evidence, link."""
    frame = read_csv_text(excluded_csv, "csv")
    return frame.reindex(columns=EXCLUDED_COLUMNS, fill_value="")


def filter_excluded(frame: pd.DataFrame, *, reason: str = "", site: str = "") -> pd.DataFrame:
    """Excluded rows with this reason and site (empty: any)."""
    keep = pd.Series(True, index=frame.index)
    if reason:
        keep &= frame["reason"] == reason
    if site:
        keep &= frame["site"] == site
    return frame[keep]


def load_crawl_reports(raw_dir: Path) -> list[dict[str, Any]]:
    """Each site's ``crawl.json``, sites in name order."""
    reports = [read_json(path) for path in sorted(raw_dir.glob(f"*/{CRAWL_REPORT_FILE}"))]
    if not reports:
        raise missing(raw_dir / "*" / CRAWL_REPORT_FILE, "crawl")
    return reports


def load_image_statuses(images_csv: Path) -> pd.DataFrame:
    """Site and download status of every image URL (``images.csv``; absent before the download stage)."""
    if not images_csv.is_file():
        return pd.DataFrame(columns=["site", "status"])
    return read_csv_text(images_csv, "download", columns=["site", "status"])


def _count_by_site(frame: pd.DataFrame, column: str, prefix: str) -> pd.DataFrame:
    """A site x value table of row counts, columns named ``<prefix><value>``."""
    if frame.empty:
        return pd.DataFrame()
    return pd.crosstab(frame["site"], frame[column]).add_prefix(prefix)


def site_counts(
    reports: list[dict[str, Any]], dataset: pd.DataFrame, excluded: pd.DataFrame, images: pd.DataFrame
) -> pd.DataFrame:
    """Per site: platform, products crawled, excluded by reason, images by download status, dataset size."""
    crawled = pd.DataFrame(
        [
            {"site": r["site"], "platform": r.get("platform") or "", "products crawled": r.get("products", 0)}
            for r in reports
        ]
    ).set_index("site")
    in_dataset = dataset.groupby("site").agg(**{"products in dataset": ("product_id", "nunique")})
    parts = [
        crawled,
        _count_by_site(excluded, "reason", "excluded: "),
        _count_by_site(images, "status", "images: "),
        in_dataset,
        _count_by_site(dataset, "split", "images in "),
    ]
    table = pd.concat([part for part in parts if not part.empty], axis=1)
    numbers = table.columns.drop("platform")
    table[numbers] = table[numbers].fillna(0).astype(int)
    return table.fillna("").rename_axis("site").reset_index()


def robots_ledger(reports: list[dict[str, Any]], images: pd.DataFrame) -> pd.DataFrame:
    """One row per robots.txt read: HTTP status, policy, sha256, Content-Signal and every opt-out counted."""
    opted_out_images = images[images["status"] == ImageStatus.opted_out.value].groupby("site").size()
    rows = []
    for report in reports:
        site = report["site"]
        pages = report.get("pages", {})
        for robots in report.get("robots", []) or [{}]:
            signals = ", ".join(f"{k}={v}" for k, v in (robots.get("content_signals") or {}).items())
            rows.append(
                {
                    "site": site,
                    "robots.txt": robots.get("url", ""),
                    "HTTP": robots.get("status", ""),
                    "policy": robots.get("policy", ""),
                    "sha256": str(robots.get("sha256", ""))[:16],
                    "fetched": robots.get("fetched_at", ""),
                    "Content-Signal": signals or "-",
                    "site opted out": bool(report.get("opted_out", False)),
                    "refused by robots": report.get("http", {}).get("robots/forbidden", 0),
                    # X-Robots-Tag: noai / noimageai on product pages and on images
                    "pages opted out": pages.get("opted_out", 0),
                    "images opted out": int(opted_out_images.get(site, 0)),
                    "stopped": report.get("stopped_reason") or "-",
                }
            )
    return pd.DataFrame(rows)


def robots_texts(reports: list[dict[str, Any]]) -> dict[str, str]:
    """The robots.txt snapshot(s) each site's crawl read, by site."""
    return {
        report["site"]: "\n\n".join(
            f"# {robots.get('url', '')} (HTTP {robots.get('status', '?')})\n{robots.get('text') or ''}"
            for robots in report.get("robots", [])
        )
        for report in reports
    }


# --- curation -------------------------------------------------------------------------------------------

CURATION_COLUMNS = [field.name for field in dataclasses.fields(CurationRow)]
# What curation.json may hold per reason when the checks were scored against ground truth.
QUALITY_MEASURES = ("precision", "recall")
SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class CurationSummary:
    """The curate stage's decisions: images, kept, dropped, dropped per reason (most first), and each
    reason's precision and recall where ``curation.json`` scored the checks against ground truth."""

    images: int
    kept: int
    dropped: int
    reasons: dict[str, int]
    quality: dict[str, dict[str, float]]


def load_curation(curation_csv: Path) -> pd.DataFrame:
    """The curate stage's decision per stored image (``curation.csv``, the :class:`CurationRow` columns)."""
    return read_csv_text(curation_csv, "curate").reindex(columns=CURATION_COLUMNS, fill_value="")


def load_curation_metrics(metrics_json: Path) -> dict[str, Any]:
    """``curation.json`` (counts, and precision/recall per reason with ground truth); ``{}`` before curate ran."""
    return read_json(metrics_json) if metrics_json.is_file() else {}


def filter_curation(
    frame: pd.DataFrame, *, reason: str = "", site: str = "", decision: str = CurationDecision.drop.value
) -> pd.DataFrame:
    """Rows with this decision (dropped by default), reason and site (empty: any)."""
    keep = frame["decision"] == decision
    if reason:
        keep &= frame["reason"] == reason
    if site:
        keep &= frame["site"] == site
    return frame[keep]


def curation_facets(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The reasons and the sites of the dropped images, sorted."""
    dropped = filter_curation(frame)
    return sorted(set(dropped["reason"]) - {""}), sorted(set(dropped["site"]) - {""})


def curation_quality(metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per reason, the :data:`QUALITY_MEASURES` found anywhere in ``metrics`` (``<reason>.precision`` or
    ``precision.<reason>``, at any depth), in :class:`CurationReason` order."""
    reasons = [reason.value for reason in CurationReason]
    found: dict[str, dict[str, float]] = {}
    for key, value in flatten(metrics).items():
        parts = key.split(".")
        measure = next((part for part in reversed(parts) if part in QUALITY_MEASURES), None)
        reason = next((part for part in reversed(parts) if part in reasons), None)
        if measure and reason and isinstance(value, int | float) and not isinstance(value, bool):
            found.setdefault(reason, {})[measure] = float(value)
    return {reason: found[reason] for reason in reasons if reason in found}


def curation_summary(frame: pd.DataFrame, metrics: dict[str, Any] | None = None) -> CurationSummary:
    """Images, kept, dropped and dropped per reason of ``curation.csv`` (the rows the view shows, so the
    counts always match them), with the precision and recall ``metrics`` (curation.json) holds."""
    dropped = filter_curation(frame)
    counts = dropped["reason"].value_counts()
    return CurationSummary(
        images=len(frame),
        kept=int((frame["decision"] == CurationDecision.keep.value).sum()),
        dropped=len(dropped),
        reasons={str(reason): int(n) for reason, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))},
        quality=curation_quality(metrics or {}),
    )


def json_cell(text: str, default: T) -> T:
    """A JSON column's value (findings, scores, near_duplicates), ``default`` when empty, unparsable or of
    another type than ``default``."""
    try:
        value = json.loads(text) if text else default
    except json.JSONDecodeError:
        log.warning("curation.csv: not JSON: %.80r", text)
        return default
    return value if isinstance(value, type(default)) else default


def with_store_images(rows: pd.DataFrame, images_dir: Path, cache_dir: Path) -> pd.DataFrame:
    """``rows`` (of curation.csv) with an ``image_path``: each image of the store written once to
    ``cache_dir/<sha256>.jpg``; "" for one the store does not hold (or a malformed sha256)."""
    store, paths = ImageStore(images_dir), []
    for sha256 in rows["sha256"].astype(str):
        try:
            if not SHA256.fullmatch(sha256):
                raise FileNotFoundError(f"{sha256[:80]!r} is not a sha256: no image to show")
            paths.append(cached_file(cache_dir / member_name(sha256), functools.partial(store.get, sha256)))
        except FileNotFoundError as err:
            log.warning("curation: %s", err)
            paths.append("")
    return rows.assign(image_path=paths)


# --- trained runs and experiments ------------------------------------------------------------------------


def trained_runs(models_dir: Path) -> list[str]:
    """Folders of ``models_dir`` the train stage wrote: a LoRA or a whole pipeline."""
    if not models_dir.is_dir():
        return []
    return sorted(path.name for path in models_dir.iterdir() if is_trained_run(path))


def read_exp_show(repo: Path, *, timeout_s: float = 120.0) -> list[dict[str, Any]]:
    """``dvc exp show --json`` in ``repo``: the workspace, the baseline commit and its experiments.

    Raises:
        RuntimeError: dvc failed (not a DVC repository, no git commit, ...); its message is kept.
    """
    done = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--json"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"`dvc exp show` failed in {repo}: {(done.stderr or done.stdout).strip()[-500:]}")
    return json.loads(done.stdout)


@dataclass(frozen=True)
class RunRef:
    """One row of ``dvc exp show``: a display name and the git revision (``workspace`` for the files on disk)."""

    name: str
    rev: str
    data: dict[str, Any]
    state: str = ""


def short_rev(rev: str) -> str:
    """A commit's 7-character abbreviation; ``workspace`` stays as it is."""
    return rev if rev == WORKSPACE else rev[:7]


def run_refs(exp_show: list[dict[str, Any]]) -> list[RunRef]:
    """The workspace, each baseline commit and each of its experiments (newest revision of each)."""
    refs = []
    for state in exp_show:
        rev = state["rev"]
        refs.append(RunRef(state.get("name") or short_rev(rev), rev, state.get("data") or {}))
        for exp_range in state.get("experiments") or []:
            newest = exp_range["revs"][0]
            executor = exp_range.get("executor") or {}
            name = exp_range.get("name") or newest.get("name") or short_rev(newest["rev"])
            refs.append(RunRef(name, newest["rev"], newest.get("data") or {}, executor.get("state", "")))
    return refs


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys; lists become their JSON text."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, list) else value
    return flat


def run_row(ref: RunRef, *, param_groups: tuple[str, ...], metrics_file: str) -> dict[str, Any]:
    """A run's name, revision, date, the params of ``param_groups`` and the metrics in ``metrics_file``."""
    params = ref.data.get("params", {}).get("params.yaml", {}).get("data", {}) or {}
    metrics = ref.data.get("metrics", {}).get(metrics_file, {}).get("data", {}) or {}
    row: dict[str, Any] = {
        "run": ref.name,
        "rev": short_rev(ref.rev),
        "created": ref.data.get("timestamp") or "",
        "state": ref.state,
    }
    row.update(flatten(metrics))  # metrics first, as `dvc exp show` lists them
    row.update(flatten({group: params[group] for group in param_groups if group in params}))
    return row


def runs_table(
    exp_show: list[dict[str, Any]],
    *,
    metrics_file: str,
    param_groups: tuple[str, ...] = ("model", "train"),
    only_changed: bool = False,
) -> pd.DataFrame:
    """The ``dvc exp show`` table: a row per run, its params (``param_groups``) and eval metrics.

    Args:
        metrics_file: the evaluate stage's metrics as ``dvc exp show`` names them (relative to the repository).
        only_changed: drop the params and metrics that are the same in every row (``--only-changed``).
    """
    rows = [run_row(ref, param_groups=param_groups, metrics_file=metrics_file) for ref in run_refs(exp_show)]
    table = pd.DataFrame(rows, dtype=object).fillna("")  # object: integers stay integers beside blanks
    blank = [c for c in table.columns if (table[c].astype(str) == "").all()]  # e.g. no queued runs: no state
    table = table.drop(columns=blank)
    if only_changed and len(table) > 1:
        same = [c for c in table.columns if c not in RUN_COLUMNS and table[c].astype(str).nunique() == 1]
        table = table.drop(columns=same)
    return table


def read_samples(repo: Path, rev: str, samples: Path) -> bytes:
    """The sample grid ``samples`` (relative to ``repo``) as of ``rev``: the file on disk for the workspace,
    else from the DVC cache through ``dvc.api`` (experiments keep their outputs there).

    Raises:
        DataMissing: the revision has no sample grid (evaluate not run, or its cache is gone).
    """
    if rev == WORKSPACE:
        if not (repo / samples).is_file():
            raise missing(repo / samples, "evaluate")
        return (repo / samples).read_bytes()
    import dvc.api
    from dvc.exceptions import DvcException

    try:
        return dvc.api.read(samples.as_posix(), repo=str(repo), rev=rev, mode="rb")
    except (DvcException, OSError) as err:
        raise DataMissing(f"no {samples} in revision {short_rev(rev)}: {err}") from err
