"""The files stages hand to each other: their names, row schemas and statuses, and the trained-run layout.

Every stage and the app import these names instead of repeating them (DESIGN.md "Stage contracts").
Folders are ``paths.*`` settings; the names below are what lies inside them:

- crawl → ``<paths.raw>/<site>/``: :data:`PRODUCTS_FILE` (a product record per line), :data:`CRAWL_REPORT_FILE`.
- csv → ``paths.products_csv`` (:data:`PRODUCT_COLUMNS`), ``paths.excluded_csv`` (:data:`EXCLUDED_COLUMNS`).
- download → ``paths.images_csv`` (:class:`ImageRow`, one per image URL, with an :class:`ImageStatus`).
- curate → ``paths.curation_csv`` (:class:`CurationRow`, one per stored image, with a :class:`CurationReason`
  when dropped) and the report :data:`CURATION_REPORT` under ``paths.reports``.
- caption → ``<paths.dataset>/<split>/`` for each of :data:`SPLITS`: images and :data:`METADATA_FILE`
  (:class:`MetadataRow` lines), and the dataset card :data:`DATASET_CARD_FILE`.
- train → ``<paths.models>/<run>/``: a LoRA (:data:`LORA_WEIGHTS_FILE`, and :func:`kohya_lora_file`) or a whole pipeline
  (:data:`PIPELINE_INDEX_FILE`), and :data:`MODEL_CARD_FILE`; :func:`pakfashion.models.sd.load_run` is the one loader of either.
- every stage but crawl → ``<paths.metrics>/<stage>.json`` (``*_METRICS``); reports under ``paths.reports``.

Light on purpose: every stage and the app import it, so it imports nothing beyond the standard library.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

# The composition of conf/ that DVC reads (`make params`, `dvc exp run`); the app and `pakfashion.sites` read
# or rewrite it.
PARAMS_FILE = "params.yaml"

# --- crawl → csv, caption, app ---------------------------------------------------------------------------

PRODUCTS_FILE = "products.jsonl"
# Platform, robots.txt snapshots, opt-out signals, counts, errors and dates of one site's crawl.
CRAWL_REPORT_FILE = "crawl.json"

# --- csv → download, caption, app ------------------------------------------------------------------------

PRODUCT_COLUMNS = (
    "site", "product_id", "product_url", "title", "description", "category", "tags",
    "price", "currency", "image_urls", "crawled_at",
    # The colour each image shows, aligned with image_urls ("" unknown; [] when the store never says).
    "image_colours",
    # The product's vendor as the store lists it, else the site's configured brand (conf/site/<site>.yaml).
    "brand",
)  # fmt: skip
# Why a product was excluded: its reason, the signal that decided it, and every signal with its weight.
EXCLUSION_COLUMNS = ("reason", "signal", "evidence")
EXCLUDED_COLUMNS = PRODUCT_COLUMNS + EXCLUSION_COLUMNS
# Between the signals of the ``evidence`` column.
EVIDENCE_SEPARATOR = " | "

# --- download → caption, app -----------------------------------------------------------------------------


class ImageStatus(str, enum.Enum):
    """What happened to one image URL (``images.csv``'s ``status``)."""

    ok = "ok"
    duplicate = "duplicate"
    near_duplicate = "near_duplicate"
    opted_out = "opted_out"
    disallowed = "disallowed"
    fetch_failed = "fetch_failed"
    decode_failed = "decode_failed"
    too_small = "too_small"
    # Not requested: a scheme other than http(s) (file:, data:, ftp:, javascript:), or a URL that does not
    # parse (the names of pakfashion.web.urls.UrlProblem).
    unsupported_scheme = "unsupported_scheme"
    bad_url = "bad_url"


# Statuses whose image is stored under paths.images (a duplicate points at the kept one's image), as
# <sha256>.jpg in the tar shard <paths.images>/<sha256[:2]>.tar (pakfashion.images.store).
STORED_STATUSES = frozenset({ImageStatus.ok, ImageStatus.duplicate, ImageStatus.near_duplicate})


@dataclass(frozen=True)
class ImageRow:
    """One line of ``images.csv``: what happened to one image URL (its fields are the columns, in order)."""

    site: str
    product_id: str
    position: int
    url: str
    status: ImageStatus
    path: str = ""  # the tar shard holding the image (member <sha256>.jpg)
    sha256: str = ""
    phash: str = ""
    w: int = 0
    h: int = 0
    bytes: int = 0
    error: str = ""
    duplicate_of: str = ""


# --- curate → caption, app ------------------------------------------------------------------------------


class CurationReason(str, enum.Enum):
    """Why the curate stage dropped an image (``curation.csv``'s ``reason``; "" when kept)."""

    # Image quality.
    too_small = "too_small"  # smaller than the training resolution wants (download keeps >= its own minimum)
    extreme_aspect = "extreme_aspect"
    too_dark = "too_dark"
    too_bright = "too_bright"
    flat = "flat"  # low information: nearly one colour
    blurry = "blurry"
    # Not a garment photo.
    size_chart = "size_chart"
    text_banner = "text_banner"
    swatch = "swatch"  # fabric close-up filling the frame
    logo = "logo"
    collage = "collage"  # several products or views in one image
    watermark = "watermark"  # large text overlay on a photo
    # Safety and people.
    nsfw = "nsfw"
    faces = "faces"  # curate.safety.faces=exclude
    # The image does not show what its text says (CLIP image-text score).
    text_mismatch = "text_mismatch"


class CurationDecision(str, enum.Enum):
    keep = "keep"
    drop = "drop"


@dataclass(frozen=True)
class CurationRow:
    """One line of ``curation.csv``: one stored image (by sha256) and what the curate stage decided."""

    sha256: str
    site: str
    product_id: str
    position: int
    url: str
    decision: CurationDecision
    reason: CurationReason | str = ""  # the deciding reason; "" when kept
    signal: str = ""  # the measurement that decided it, readable: "sharpness 12.3 < 40.0"
    # Every reason that fired, with its signal (JSON object reason -> signal); the first in
    # curate.order is ``reason``.
    findings: str = "{}"
    # Faces found (JSON list of [x0, y0, x1, y1] pixel boxes on the stored image); caption blurs them
    # when curate.safety.faces=blur.
    face_boxes: str = "[]"
    # Every score measured (JSON object name -> number), whether or not it decided anything.
    scores: str = "{}"
    # The near-duplicates download folded into this image (JSON list of their URLs).
    near_duplicates: str = "[]"


# --- caption → train, evaluate, app ----------------------------------------------------------------------

TRAIN_SPLIT, VALIDATION_SPLIT = "train", "validation"
SPLITS = (TRAIN_SPLIT, VALIDATION_SPLIT)
# In each split's folder, beside its images (Hugging Face ``imagefolder``).
METADATA_FILE = "metadata.jsonl"
# dataset.layout=parquet: the splits as <paths.dataset>/<PARQUET_DIR>/<split>-NNNNN-of-MMMMM.parquet.
PARQUET_DIR = "data"
DATASET_CARD_FILE = "README.md"


class MetadataRow(TypedDict):
    """One line of a split's ``metadata.jsonl``: the image, its training text, then what it was made from."""

    file_name: str  # the image beside metadata.jsonl: <sha256>.jpg
    text: str  # the long caption (caption.template), what other trainers train on
    # The parts train.captions composes per step (pakfashion.training.captions); "" or [] where unknown.
    caption: str  # the captioner's own words ("" for metadata_only)
    garment: str
    colours: list[str]
    fabrics: list[str]
    pieces: str  # "2-piece", "3-piece"
    stitching: str  # "stitched", "unstitched"
    brand: str
    site: str
    product_id: str
    product_url: str
    title: str
    category: str
    price: str
    currency: str
    image_url: str
    sha256: str


# --- train → evaluate, app -------------------------------------------------------------------------------

# A LoRA run: diffusers' ``load_lora_weights(run_dir, weight_name=LORA_WEIGHTS_FILE)`` format.
LORA_WEIGHTS_FILE = "pytorch_lora_weights.safetensors"
# A whole-pipeline run (``train.method=full``): ``DiffusionPipeline.from_pretrained(run_dir)``.
PIPELINE_INDEX_FILE = "model_index.json"
MODEL_CARD_FILE = "README.md"


def kohya_lora_file(run_dir: Path) -> Path:
    """A LoRA run's copy in the kohya layout (``lora_unet_*`` keys, ``.lora_down``/``.lora_up``/``.alpha``), the
    one ComfyUI's and AUTOMATIC1111's LoRA loaders read, named for the run (``<run>.safetensors``) as those
    apps list it; diffusers' ``load_lora_weights`` reads it too. Beside :data:`LORA_WEIGHTS_FILE`, which a
    ``load_lora_weights(run_dir)`` without ``weight_name`` still picks."""
    return run_dir / f"{run_dir.name}.safetensors"


def is_full_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a whole pipeline (else, if anything, a LoRA)."""
    return (run_dir / PIPELINE_INDEX_FILE).is_file()


def is_trained_run(run_dir: Path) -> bool:
    """Whether the train stage wrote ``run_dir``: a LoRA or a whole pipeline."""
    return (run_dir / LORA_WEIGHTS_FILE).is_file() or is_full_run(run_dir)


# --- metrics and reports ---------------------------------------------------------------------------------

# Under paths.metrics, one per stage (dvc.yaml's ``metrics:``).
CSV_METRICS, DOWNLOAD_METRICS, CAPTION_METRICS = "csv.json", "download.json", "caption.json"
CURATION_METRICS = "curation.json"
TRAIN_METRICS, EVAL_METRICS = "train.json", "eval.json"
# Under paths.reports: the download's sample of kept images, the evaluate stage's grid and report.
CONTACT_SHEET_REPORT = "contact_sheet.jpg"
SAMPLES_REPORT = "samples.png"
EVAL_REPORT = "eval.md"
# Thumbnails of every dropped image grouped by reason, with its deciding signal (self-contained HTML).
CURATION_REPORT = "curation.html"
# The fine-tuned model's image of each grid prompt at the first seed, one PNG each, and their index (a JSON list
# of {"file", "prompt", "seed"}): the model card's widget on the Hub (pakfashion.publish).
SAMPLE_IMAGES_DIR = "samples"
SAMPLE_INDEX_FILE = "samples.json"
