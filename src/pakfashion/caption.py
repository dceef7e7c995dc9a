"""Stage `caption`: downloaded images + product metadata → a Hugging Face ``imagefolder`` dataset.

Reads ``paths.images_csv``, ``paths.products_csv``, ``paths.excluded_csv`` and every site's
``crawl.json``; writes ``paths.dataset`` (``train/`` and ``validation/`` split by product, each with
images and ``metadata.jsonl``: ``file_name``, ``text``, the model ``caption`` and product columns),
the dataset card ``paths.dataset/README.md``, and ``<paths.metrics>/caption.json``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image
from tqdm import tqdm

from pakfashion.config import CaptionConfig, Captioner, PathsConfig, as_typed, stage_main
from pakfashion.dataset_card import CardInputs, render_dataset_card
from pakfashion.files import read_json, write_json, write_jsonl, write_text_atomic

log = logging.getLogger(__name__)

SPLITS = ("train", "validation")
# CLIP's text encoder reads 77 tokens; ~50 words keeps clear of it for common English.
MAX_TEXT_WORDS = 50

CaptionFn = Callable[[list[Image.Image]], list[str]]


@dataclass(frozen=True)
class DatasetStats:
    images: int
    train: int
    validation: int
    products: int
    distinct_texts: int
    mean_text_words: float
    caption_seconds: float


def load_examples(images_csv: Path, products_csv: Path) -> pd.DataFrame:
    """One row per stored image (duplicates and failures dropped) joined with its product."""
    images = pd.read_csv(images_csv, dtype=str, keep_default_na=False)
    products = pd.read_csv(products_csv, dtype=str, keep_default_na=False)
    ok = images[images["status"] == "ok"].drop_duplicates("sha256")
    joined = ok.merge(products, on=["site", "product_id"], how="inner", validate="many_to_one")
    if joined.empty:
        raise ValueError(f"no downloaded images in {images_csv}: run the download stage and check its ledger")
    return joined.sort_values(["site", "product_id", "position"], key=lambda c: c.astype(str)).reset_index(drop=True)


def split_of(site: str, product_id: str, *, seed: int, validation_percent: int) -> str:
    """A product's split from a hash of its identity: stable when other products come and go."""
    digest = hashlib.sha256(f"{seed}:{site}:{product_id}".encode()).hexdigest()
    return "validation" if int(digest[:8], 16) % 100 < validation_percent else "train"


def assign_splits(examples: pd.DataFrame, *, seed: int, validation_percent: int) -> pd.Series:
    """Split per product; if hashing leaves a split empty, the product nearest the cut moves over."""
    splits = [split_of(s, p, seed=seed, validation_percent=validation_percent)
              for s, p in zip(examples["site"], examples["product_id"])]
    result = pd.Series(splits, index=examples.index)
    products = examples[["site", "product_id"]].drop_duplicates()
    if len(products) >= 2 and result.nunique() < 2:
        missing = "validation" if (result == "train").all() else "train"
        first = products.iloc[0]
        result[(examples["site"] == first["site"]) & (examples["product_id"] == first["product_id"])] = missing
        log.warning("hash split left %s empty; moved product %s/%s there", missing, first["site"], first["product_id"])
    return result


def clean_caption(text: str) -> str:
    """Model output without special-token debris, repeated spaces or trailing punctuation."""
    text = re.sub(r"<[^>]*>", " ", text)
    text = re.sub(r"[^\w\s,.'&/-]", " ", text)
    return re.sub(r"\s+", " ", text).strip(" ,.").lower()


def compose_text(template: str, *, caption: str, row: dict[str, Any]) -> str:
    """Fill the template, drop empty parts, cap the length for the text encoder."""
    filled = template.format(caption=caption, title=row.get("title", ""), product_type=row.get("category", ""),
                             site=row.get("site", ""))
    parts = [p.strip() for p in filled.split(",") if p.strip()]
    words = ", ".join(parts).split()
    return " ".join(words[:MAX_TEXT_WORDS])


def caption_images(paths: list[Path], caption_fn: CaptionFn | None, *, batch_size: int) -> list[str]:
    """Model captions for images in batches ('' for every image without a model)."""
    if caption_fn is None:
        return [""] * len(paths)
    captions: list[str] = []
    for start in tqdm(range(0, len(paths), batch_size), desc="caption", unit="batch", mininterval=2.0):
        batch = [Image.open(p).convert("RGB") for p in paths[start : start + batch_size]]
        captions.extend(clean_caption(c) for c in caption_fn(batch))
    return captions


def load_caption_fn(settings: CaptionConfig) -> CaptionFn | None:
    """The configured captioner as a batch function; None for ``metadata_only``."""
    if settings.captioner is Captioner.metadata_only:
        return None
    from pakfashion.models.captioner import load_blip2
    from pakfashion.models.devices import default_device

    model = load_blip2(settings.model, device=default_device())
    return lambda images: model.caption(images, max_new_tokens=settings.max_new_tokens)


def metadata_rows(examples: pd.DataFrame, captions: list[str], template: str) -> list[dict[str, Any]]:
    """metadata.jsonl rows: file_name and text first, then the caption and product columns."""
    rows = []
    for record, caption in zip(examples.to_dict("records"), captions):
        rows.append({
            "file_name": f"{record['sha256']}.jpg",
            "text": compose_text(template, caption=caption, row=record),
            "caption": caption,
            "site": record["site"], "product_id": record["product_id"], "product_url": record["product_url"],
            "title": record["title"], "category": record["category"], "price": record["price"],
            "currency": record["currency"], "image_url": record["url"], "sha256": record["sha256"],
            "split": record["split"],
        })
    return rows


def write_imagefolder(rows: list[dict[str, Any]], images_dir: Path, out_dir: Path) -> None:
    """Copy images into ``<split>/`` folders beside each split's metadata.jsonl."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for split in SPLITS:
        split_rows = [{k: v for k, v in r.items() if k != "split"} for r in rows if r["split"] == split]
        (out_dir / split).mkdir(parents=True, exist_ok=True)
        for row in split_rows:
            shutil.copyfile(images_dir / row["file_name"], out_dir / split / row["file_name"])
        write_jsonl(out_dir / split / "metadata.jsonl", split_rows)


def build_dataset(paths: PathsConfig, settings: CaptionConfig, *, seed: int, caption_fn: CaptionFn | None) -> DatasetStats:
    """Caption every stored image, split by product, write the imagefolder."""
    examples = load_examples(paths.images_csv, paths.products_csv)
    examples["split"] = assign_splits(examples, seed=seed, validation_percent=settings.validation_percent)
    started = time.monotonic()
    captions = caption_images([paths.images / f"{s}.jpg" for s in examples["sha256"]], caption_fn,
                              batch_size=settings.batch_size)
    seconds = time.monotonic() - started
    rows = metadata_rows(examples, captions, settings.template)
    write_imagefolder(rows, paths.images, paths.dataset)
    texts = [r["text"] for r in rows]
    return DatasetStats(
        images=len(rows), train=sum(r["split"] == "train" for r in rows),
        validation=sum(r["split"] == "validation" for r in rows),
        products=len(examples[["site", "product_id"]].drop_duplicates()), distinct_texts=len(set(texts)),
        mean_text_words=round(sum(len(t.split()) for t in texts) / len(texts), 2), caption_seconds=round(seconds, 2),
    )


def card_inputs(paths: PathsConfig, settings: CaptionConfig, stats: DatasetStats) -> CardInputs:
    """Everything the dataset card reports, read from the stages' own outputs."""
    reports = [read_json(p) for p in sorted(paths.raw.glob("*/crawl.json"))]
    excluded = pd.read_csv(paths.excluded_csv, dtype=str, keep_default_na=False)
    return CardInputs(
        crawl_reports=reports,
        exclusions=excluded["reason"].value_counts().sort_index().to_dict(),
        captioner=settings.captioner.value,
        caption_model=settings.model,
        template=settings.template,
        images=stats.images,
        train=stats.train,
        validation=stats.validation,
        products=stats.products,
    )


@stage_main
def main(cfg: Any) -> None:
    paths = as_typed(cfg.paths, PathsConfig)
    settings = as_typed(cfg.caption, CaptionConfig)
    stats = build_dataset(paths, settings, seed=int(cfg.seed), caption_fn=load_caption_fn(settings))
    write_text_atomic(paths.dataset / "README.md", render_dataset_card(card_inputs(paths, settings, stats)))
    images_per_s = stats.images / stats.caption_seconds if stats.caption_seconds else 0.0
    write_json(paths.metrics / "caption.json", {**stats.__dict__, "images_per_s": round(images_per_s, 2)})
    log.info("dataset: %d train / %d validation images → %s", stats.train, stats.validation, paths.dataset)


if __name__ == "__main__":
    main()
