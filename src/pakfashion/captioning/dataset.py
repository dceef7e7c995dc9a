"""The caption stage's work: examples, splits by product, the caption cache and the imagefolder.

The stage entry is :mod:`pakfashion.caption`."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from PIL import Image
from tqdm import tqdm

from pakfashion.captioning.card import CardInputs, CurationSummary
from pakfashion.captioning.text import (
    AttributeFinder,
    Attributes,
    CaptionScore,
    cap_length,
    fill_template,
    load_token_counter,
    template_fields,
)
from pakfashion.common.dataset_files import ImageBytes, write_dataset_files
from pakfashion.common.errors import StageError
from pakfashion.common.files import read_json, read_jsonl
from pakfashion.config import (
    CaptionConfig,
    Captioner,
    DatasetConfig,
    PathsConfig,
    SafetyChecks,
    VocabConfig,
)
from pakfashion.contracts import (
    CRAWL_REPORT_FILE,
    TRAIN_SPLIT,
    VALIDATION_SPLIT,
    CurationDecision,
    ImageStatus,
    MetadataRow,
)
from pakfashion.curation.safety import blur_jpeg
from pakfashion.images.store import ImageStore

if TYPE_CHECKING:
    from pakfashion.captioning.captioner import ImageCaptioner

log = logging.getLogger(__name__)

CaptionFn = Callable[[list[Image.Image], list[str]], list[str]]
"""A batch of images and their prompts (one each; "" for a captioner without) to one caption each."""


@dataclass(frozen=True)
class DatasetStats:
    images: int
    train: int
    validation: int
    products: int
    distinct_texts: int
    mean_text_words: float
    images_captioned: int
    caption_seconds: float
    garment_coverage: float
    colour_coverage: float
    fabric_coverage: float
    # How often the model captions name the colour and garment their products' own words give.
    caption_score: CaptionScore

    def metrics(self) -> dict[str, Any]:
        """The flat ``caption.json`` keys: every field, the caption score as ``caption_{colour,garment}_*``."""
        fields = {name: value for name, value in asdict(self).items() if name != "caption_score"}
        return {**fields, **self.caption_score.metrics()}


def load_examples(images_csv: Path, products_csv: Path, curation_csv: Path) -> pd.DataFrame:
    """One row per stored image the curate stage kept (duplicates, failures and dropped images left out) joined
    with its product, with the ``face_boxes`` to blur."""
    images = pd.read_csv(images_csv, dtype=str, keep_default_na=False)
    products = pd.read_csv(products_csv, dtype=str, keep_default_na=False)
    ok = images[images["status"] == ImageStatus.ok.value].drop_duplicates("sha256")
    joined = kept_by_curation(ok, curation_csv).merge(products, on=["site", "product_id"], how="inner",
                                                      validate="many_to_one")
    if joined.empty:
        raise ValueError(f"no downloaded images in {images_csv}: run the download stage and check its ledger")
    return joined.sort_values(["site", "product_id", "position"], key=lambda c: c.astype(str)).reset_index(drop=True)


def kept_by_curation(ok: pd.DataFrame, curation_csv: Path) -> pd.DataFrame:
    """``ok`` (stored images) less those curation.csv drops, with each one's ``face_boxes``.

    Raises:
        StageError: curation.csv is missing, or lacks a decision for a stored image (it is older than images.csv).
    """
    if not curation_csv.is_file():
        raise StageError(f"{curation_csv} is missing: run the curate stage first (dvc repro curate)")
    decisions = pd.read_csv(curation_csv, dtype=str, keep_default_na=False).drop_duplicates("sha256").set_index("sha256")
    undecided = int((~ok["sha256"].isin(decisions.index)).sum())
    if undecided:
        raise StageError(f"{curation_csv} is older than images.csv: {undecided} stored images there have no "
                         "decision; run `dvc repro curate`")
    kept = ok[ok["sha256"].map(decisions["decision"]) == CurationDecision.keep.value].copy()
    kept["face_boxes"] = kept["sha256"].map(decisions["face_boxes"])
    log.info("curation: %d of %d stored images kept (%s)", len(kept), len(ok), curation_csv)
    return kept


def with_faces_blurred(images: ImageBytes, examples: pd.DataFrame) -> ImageBytes:
    """``images`` whose JPEG, for an example with face boxes (curate.safety.faces=blur), has each face blurred."""
    boxes = {sha: json.loads(value) for sha, value in zip(examples["sha256"], examples["face_boxes"])
             if value not in ("", "[]")}

    def read(sha256: str) -> bytes:
        data = images(sha256)
        return blur_jpeg(data, boxes[sha256]) if sha256 in boxes else data

    return read


def split_of(site: str, product_id: str, *, seed: int, validation_percent: int) -> str:
    """A product's split from a hash of its identity: stable when other products come and go."""
    digest = hashlib.sha256(f"{seed}:{site}:{product_id}".encode()).hexdigest()
    return VALIDATION_SPLIT if int(digest[:8], 16) % 100 < validation_percent else TRAIN_SPLIT


def assign_splits(examples: pd.DataFrame, *, seed: int, validation_percent: int) -> pd.Series:
    """Split per product; if hashing leaves a split empty, the product nearest the cut moves over."""
    splits = [split_of(s, p, seed=seed, validation_percent=validation_percent)
              for s, p in zip(examples["site"], examples["product_id"])]
    result = pd.Series(splits, index=examples.index)
    products = examples[["site", "product_id"]].drop_duplicates()
    if len(products) >= 2 and result.nunique() < 2:
        missing = VALIDATION_SPLIT if (result == TRAIN_SPLIT).all() else TRAIN_SPLIT
        first = products.iloc[0]
        result[(examples["site"] == first["site"]) & (examples["product_id"] == first["product_id"])] = missing
        log.warning("hash split left %s empty; moved product %s/%s there", missing, first["site"], first["product_id"])
    return result


def clean_caption(text: str) -> str:
    """Model output without special-token debris, repeated words, or trailing punctuation."""
    text = re.sub(r"<[^>]*>", " ", text)
    text = re.sub(r"[^\w\s,.'&/-]", " ", text)
    text = re.sub(r"\b(\w+)(\s+\1\b)+", r"\1", text.lower())  # "kurta kurta kurta" → "kurta"
    return re.sub(r"\s+", " ", text).strip(" ,.")


class CaptionCache:
    """Captions by image sha256 for one captioner setting (JSON Lines, appended as batches finish)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.captions: dict[str, str] = {}
        if path.exists():
            self.captions = {row["sha256"]: row["caption"] for row in read_jsonl(path)}

    def add(self, items: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            for sha, caption in items.items():
                handle.write(json.dumps({"sha256": sha, "caption": caption}) + "\n")
        self.captions.update(items)


def cache_path(state_dir: Path, settings: CaptionConfig) -> Path:
    """One cache per captioner, model, generation length and prompt template: other settings give other captions.

    The template joins the key only when there is one, so a captioner without prompts keeps its cache."""
    key = json.dumps([settings.captioner.value, settings.model, settings.max_new_tokens]
                     + ([settings.prompt] if settings.prompt else []))
    return state_dir / "cache" / "captions" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.jsonl"


class ImageFiles:
    """A map-style dataset of stored images for a DataLoader (workers decode ahead of the model).

    With ``draft_px``, a JPEG is decoded straight at the smallest of 1/2, 1/4 or 1/8 scale whose sides stay
    at least that large (libjpeg's DCT scaling): a captioner that sees 224 px reads a 1024-px photo about
    four times faster, and the processor's own resize then starts from a nearer size.
    """

    def __init__(self, store: ImageStore, shas: list[str], *, draft_px: int = 0) -> None:
        self.store = store
        self.shas = shas
        self.draft_px = draft_px

    def __len__(self) -> int:
        return len(self.shas)

    def __getitem__(self, index: int) -> Image.Image:
        with Image.open(io.BytesIO(self.store.get(self.shas[index]))) as image:
            if self.draft_px:
                image.draft("RGB", (self.draft_px, self.draft_px))
            return image.convert("RGB")


def caption_missing(prompts: dict[str, str], store: ImageStore, caption_fn: CaptionFn, cache: CaptionCache,
                    settings: CaptionConfig) -> int:
    """Caption the images not in the cache, in batches, each with its prompt; returns how many the model captioned.

    Args:
        prompts: each image's sha256 and its prompt ("" for a captioner without prompts).
    """
    from torch.utils.data import DataLoader

    todo = [sha for sha in prompts if sha not in cache.captions]
    if not todo:
        return 0
    # Similar sizes in one batch: the processor's resizes cost alike and workers finish together.
    todo.sort(key=store.size)
    files = ImageFiles(store, todo, draft_px=getattr(caption_fn, "input_px", 0))
    loader = DataLoader(files, batch_size=settings.batch_size, num_workers=settings.num_workers, collate_fn=list)
    done = 0
    for batch in tqdm(loader, desc="caption", unit="batch", mininterval=2.0):
        names = todo[done : done + len(batch)]
        texts = caption_fn(batch, [prompts[sha] for sha in names])
        cache.add({sha: clean_caption(text) for sha, text in zip(names, texts, strict=True)})
        done += len(batch)
    return done


def load_caption_fn(settings: CaptionConfig, *, device: str) -> CaptionFn | None:
    """The configured captioner as a batch function; None for ``metadata_only``."""
    if settings.captioner is Captioner.metadata_only:
        return None
    from pakfashion.captioning.captioner import load_captioner

    captioner = load_captioner(settings.captioner, settings.model, device=device)
    return ModelCaptions(captioner, max_new_tokens=settings.max_new_tokens)


@dataclass(frozen=True)
class ModelCaptions:
    """A captioner as a :data:`CaptionFn`, which also says the input size it resizes images to."""

    captioner: ImageCaptioner
    max_new_tokens: int

    def __call__(self, images: list[Image.Image], prompts: list[str]) -> list[str]:
        return self.captioner.caption(images, prompts, max_new_tokens=self.max_new_tokens)

    @property
    def input_px(self) -> int:
        """The larger side of the model's input (a JPEG need not be decoded larger than this)."""
        return self.captioner.input_px


def image_colour(example: dict[str, Any]) -> str:
    """The colour the store says this example's photo shows ("" when it does not)."""
    colours = json.loads(example.get("image_colours") or "[]")
    position = int(example.get("position") or 0)
    return str(colours[position]) if isinstance(colours, list) and position < len(colours) else ""


def metadata_rows(examples: pd.DataFrame, captions: dict[str, str], settings: CaptionConfig,
                  vocab: VocabConfig) -> list[dict[str, Any]]:
    """metadata.jsonl rows (:class:`MetadataRow`: file_name and text first, then the caption parts and
    product columns), each with its ``split``."""
    finder = AttributeFinder(vocab)
    count_tokens = load_token_counter(settings.text_tokenizer)
    rows = []
    for record in examples.to_dict("records"):
        record["tags"] = json.loads(record.get("tags") or "[]")
        caption = captions.get(record["sha256"], "")
        attributes = finder.for_image(finder.find(record), image_colour(record))
        text = fill_template(settings.template, template_fields(caption, record, attributes))
        row = MetadataRow(
            file_name=f"{record['sha256']}.jpg",
            text=cap_length(text, count_tokens, max_tokens=settings.max_text_tokens),
            caption=caption, garment=attributes.garment, colours=attributes.colours,
            fabrics=attributes.fabrics, pieces=attributes.pieces, stitching=attributes.stitching,
            brand=str(record.get("brand") or ""), site=record["site"], product_id=record["product_id"],
            product_url=record["product_url"], title=record["title"], category=record["category"],
            price=record["price"], currency=record["currency"], image_url=record["url"],
            sha256=record["sha256"],
        )  # fmt: skip
        rows.append({**row, "split": record["split"]})
    return rows


def caption_score(rows: list[dict[str, Any]], vocab: VocabConfig) -> CaptionScore:
    """Model captions (rows with one) read with ``vocab``, against the attributes of their product's texts."""
    finder, score = AttributeFinder(vocab), CaptionScore()
    for row in rows:
        if row["caption"]:
            truth = Attributes(row["garment"], row["colours"], row["fabrics"])
            score = score.add(finder.find({"title": row["caption"]}), truth)
    return score


def dataset_stats(rows: list[dict[str, Any]], vocab: VocabConfig, *, captioned: int, seconds: float) -> DatasetStats:
    texts = [r["text"] for r in rows]

    def share(key: str) -> float:
        return round(sum(bool(r[key]) for r in rows) / len(rows), 4)

    return DatasetStats(
        images=len(rows), train=sum(r["split"] == TRAIN_SPLIT for r in rows),
        validation=sum(r["split"] == VALIDATION_SPLIT for r in rows),
        products=len({(r["site"], r["product_id"]) for r in rows}), distinct_texts=len(set(texts)),
        mean_text_words=round(sum(len(t.split()) for t in texts) / len(texts), 2), images_captioned=captioned,
        caption_seconds=round(seconds, 2), garment_coverage=share("garment"), colour_coverage=share("colours"),
        fabric_coverage=share("fabrics"), caption_score=caption_score(rows, vocab),
    )


def shard_of(items: list[str], *, index: int, count: int) -> list[str]:
    """This process's share of the work under ``accelerate launch`` (every count-th item)."""
    return items[index::count]


def caption_share(examples: pd.DataFrame, paths: PathsConfig, settings: CaptionConfig, vocab: VocabConfig,
                  caption_fn: CaptionFn | None, *, process: tuple[int, int]) -> tuple[int, float]:
    """Caption this process's share of the images the cache lacks, each prompted with its product's title and
    attributes (read with ``vocab``) when the captioner takes prompts; (count captioned, seconds)."""
    if caption_fn is None:
        return 0, 0.0
    from pakfashion.captioning.captioner import product_prompts

    index, count = process
    cache_file = cache_path(paths.state, settings)
    shard_cache = CaptionCache(cache_file if count == 1 else cache_file.with_suffix(f".part{index}.jsonl"))
    shard_cache.captions.update(CaptionCache(cache_file).captions)
    started = time.monotonic()
    shas = shard_of(list(examples["sha256"]), index=index, count=count)
    todo = examples[examples["sha256"].isin(set(shas) - shard_cache.captions.keys())]
    prompts = dict(zip(todo["sha256"], product_prompts(settings.prompt, todo.to_dict("records"), vocab)))
    captioned = caption_missing(prompts, ImageStore(paths.images), caption_fn, shard_cache, settings)
    return captioned, time.monotonic() - started


def build_dataset(paths: PathsConfig, settings: CaptionConfig, vocab: VocabConfig, layout: DatasetConfig, *,
                  seed: int, caption_fn: CaptionFn | None, process: tuple[int, int] = (0, 1),
                  barrier: Callable[[], None] = lambda: None) -> DatasetStats | None:
    """Caption what the cache lacks, then (main process) split by product and write the dataset in ``layout``.

    Args:
        process: (index, count) of this process among ``accelerate launch`` workers; each captions
            its share into its own cache part; after ``barrier`` only process 0 merges and writes.
    """
    examples = load_examples(paths.images_csv, paths.products_csv, paths.curation_csv)
    captioned, seconds = caption_share(examples, paths, settings, vocab, caption_fn, process=process)
    barrier()
    if process[0] != 0:
        return None
    return write_dataset(examples, paths, settings, vocab, layout, seed=seed, captioned=captioned, seconds=seconds,
                         count=process[1])


def merged_captions(cache_file: Path, count: int) -> dict[str, str]:
    """The main cache plus every process's part (parts are folded into the main cache)."""
    cache = CaptionCache(cache_file)
    for part in sorted(cache_file.parent.glob(f"{cache_file.stem}.part*.jsonl")) if count > 1 else []:
        cache.add({k: v for k, v in CaptionCache(part).captions.items() if k not in cache.captions})
        part.unlink()
    return cache.captions


def write_dataset(examples: pd.DataFrame, paths: PathsConfig, settings: CaptionConfig, vocab: VocabConfig,
                  layout: DatasetConfig, *, seed: int, captioned: int, seconds: float, count: int) -> DatasetStats:
    examples["split"] = assign_splits(examples, seed=seed, validation_percent=settings.validation_percent)
    captions = merged_captions(cache_path(paths.state, settings), count) if settings.captioner is not Captioner.metadata_only else {}
    rows = metadata_rows(examples, captions, settings, vocab)
    write_dataset_files(rows, with_faces_blurred(ImageStore(paths.images).get, examples), paths.dataset,
                        layout=layout.layout, images_per_shard=layout.images_per_shard)
    return dataset_stats(rows, vocab, captioned=captioned, seconds=seconds)


def curation_summary(curation_csv: Path, safety: SafetyChecks) -> CurationSummary:
    """The card's account of the curate stage: kept, dropped per reason, faces blurred, safety settings."""
    curation = pd.read_csv(curation_csv, dtype=str, keep_default_na=False)
    kept = curation[curation["decision"] == CurationDecision.keep.value]
    dropped = curation[curation["decision"] != CurationDecision.keep.value]
    return CurationSummary(kept=len(kept), dropped=dropped["reason"].value_counts().sort_index().to_dict(),
                           faces=safety.faces.value, faces_blurred=int((kept["face_boxes"] != "[]").sum()),
                           nsfw=safety.nsfw)


def card_inputs(paths: PathsConfig, settings: CaptionConfig, layout: DatasetConfig, stats: DatasetStats, *,
                safety: SafetyChecks) -> CardInputs:
    """Everything the dataset card reports, read from the stages' own outputs (``safety``: curate.safety)."""
    reports = [read_json(p) for p in sorted(paths.raw.glob(f"*/{CRAWL_REPORT_FILE}"))]
    excluded = pd.read_csv(paths.excluded_csv, dtype=str, keep_default_na=False)
    return CardInputs(
        crawl_reports=reports,
        exclusions=excluded["reason"].value_counts().sort_index().to_dict(),
        captioner=settings.captioner.value,
        caption_model=settings.model,
        caption_licence=settings.licence,
        caption_prompt=settings.prompt,
        template=settings.template,
        images=stats.images,
        train=stats.train,
        validation=stats.validation,
        products=stats.products,
        layout=layout.layout.value,
        curation=curation_summary(paths.curation_csv, safety),
    )
