"""Typed stage configs and the one place where Hydra's DictConfig becomes a dataclass."""

from __future__ import annotations

import dataclasses
import enum
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from pakfashion.common.errors import StageError, describe
from pakfashion.contracts import CurationReason

T = TypeVar("T")
# OmegaConf's mandatory-value marker: the value must come from conf/ (as_typed fails without it).
MISSING: Any = "???"


def as_typed(node: Any, schema: type[T]) -> T:
    """Validate a config node against a dataclass and return an instance of it.

    Unknown keys, wrong types and missing values fail here, before any work starts.
    """
    from omegaconf import (
        OmegaConf,  # local: library code below main() never needs OmegaConf
    )
    from omegaconf.errors import OmegaConfBaseException

    merged = OmegaConf.merge(OmegaConf.structured(schema), node)
    try:
        return cast(T, OmegaConf.to_object(merged))
    except OmegaConfBaseException:
        raise
    except ValueError as err:  # a dataclass's own check (__post_init__)
        raise ConfigError(str(err)) from err


class ConfigError(StageError, ValueError):
    """A config value fails its section's check; the message names the key and what it must be."""


def compose_config(conf_dir: Path, overrides: Sequence[str] = ()) -> Any:
    """``conf/`` composed and resolved as ``dvc exp run`` composes params.yaml (for tests and benchmarks)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(conf_dir.resolve()), version_base=None):
        cfg = compose(config_name="config", overrides=list(overrides))
    OmegaConf.resolve(cfg)
    return cfg


def settings_from(cfg: Any, key: str, schema: type[T], **changes: Any) -> T:
    """The ``key`` section of a composed config as its dataclass, then ``changes`` (tests, benchmarks)."""
    from omegaconf import OmegaConf

    return dataclasses.replace(as_typed(OmegaConf.select(cfg, key), schema), **changes)  # type: ignore[type-var]


def stage_main(func: Callable[[Any], None]) -> Callable[[], None]:
    """Wrap a stage's ``main(cfg)`` with ``@hydra.main`` reading ``stage.yaml`` from the working dir.

    DVC runs every stage from the repository root, so the config directory is the current
    directory (not the installed package's location): a copy of the repository runs its own params.
    A known failure (:class:`StageError`, a bad config value) ends the stage with its one-line message
    and exit status 1; anything else is a bug, and Hydra prints its traceback.
    """
    import hydra
    from omegaconf.errors import OmegaConfBaseException

    @functools.wraps(func)
    def reported(cfg: Any) -> None:
        try:
            func(cfg)
        except (StageError, OmegaConfBaseException) as err:
            logging.getLogger(func.__module__).error("%s", _one_line(err))
            raise SystemExit(1) from None

    return hydra.main(config_path=str(Path.cwd()), config_name="stage", version_base="1.3")(reported)


def _one_line(err: Exception) -> str:
    """A known failure as one line; an OmegaConf error names its key."""
    key = getattr(err, "full_key", None)
    text = describe(err, with_type=False)
    return f"bad config value for {key}: {text}" if key else text


@dataclass(frozen=True)
class PathsConfig:
    raw: Path = MISSING
    products_csv: Path = MISSING
    excluded_csv: Path = MISSING
    images: Path = MISSING
    images_csv: Path = MISSING
    curation_csv: Path = MISSING
    dataset: Path = MISSING
    models: Path = MISSING
    tiny_models: Path = MISSING
    # The tiny models pretrained on the garment world, committed (profile=demo runs them).
    pretrained_tiny: Path = MISSING
    metrics: Path = MISSING
    plots: Path = MISSING
    reports: Path = MISSING
    state: Path = MISSING


class Platform(str, enum.Enum):
    """Member names equal values: OmegaConf converts config strings by member name."""

    auto = "auto"
    # /products.json (pakfashion.crawling.shopify).
    shopify = "shopify"
    # WooCommerce's public Store API, /wp-json/wc/store/v1/products (pakfashion.crawling.woocommerce).
    woocommerce = "woocommerce"
    # Magento 2's public GraphQL products query, else its sitemaps (pakfashion.crawling.magento).
    magento = "magento"
    # Salesforce Commerce Cloud: sitemap product pages, SFCC markup, renditions (pakfashion.crawling.sfcc).
    sfcc = "sfcc"
    # Any other store: sitemap-listed product pages with schema.org JSON-LD (Open Graph fallback).
    sitemap = "sitemap"


@dataclass(frozen=True)
class SiteConfig:
    """One retailer (conf/site/<site>.yaml over conf/site_base.yaml, which documents each key)."""

    name: str = MISSING
    base_url: str = MISSING
    brand: str = MISSING
    currency: str = MISSING
    platform: Platform = MISSING
    platform_hint: Platform = MISSING
    allowed_hosts: list[str] = MISSING
    max_products: int = MISSING
    product_url_pattern: str = MISSING
    sitemap_urls: list[str] = MISSING
    include_product_types: list[str] = MISSING
    exclude_product_types: list[str] = MISSING
    exclude_tags: list[str] = MISSING
    min_delay_s: float | None = MISSING


@dataclass(frozen=True)
class WebConfig:
    """The HTTP client crawl and download share; every value comes from conf/web/default.yaml."""

    # Sent with every request; robots.txt groups and X-Robots-Tag name its product token (before "/").
    user_agent: str = MISSING
    # Silence allowed between two reads, and the whole request (connect, headers, body) at most.
    timeout_s: float = MISSING
    deadline_s: float = MISSING
    # Retries of 408/429/5xx and connection errors, with exponential backoff and jitter.
    max_retries: int = MISSING
    backoff_base_s: float = MISSING
    # Longest wait for one host (backoff cap, Crawl-delay cap); a longer Retry-After gives the URL up.
    max_delay_s: float = MISSING
    max_response_bytes: int = MISSING
    # Refusals (401/403/430 or challenge pages) from one host before the host is given up.
    max_refusals: int = MISSING
    # Stalls (silent past timeout_s, or past deadline_s) from one host before the host is given up.
    max_stalls: int = MISSING

    def __post_init__(self) -> None:
        if not self.user_agent.partition("/")[0].strip() or "+" not in self.user_agent:
            raise ValueError(f"web.user_agent={self.user_agent!r}: name the project and a contact, "
                             "e.g. 'pakfashion-bot/0.1 (+https://example.org; mailto:you@example.org)'")
        for key in ("timeout_s", "deadline_s", "max_response_bytes", "max_refusals", "max_stalls"):
            if getattr(self, key) <= 0:
                raise ValueError(f"web.{key}={getattr(self, key)}: must be greater than 0")
        if self.deadline_s < self.timeout_s:
            raise ValueError(f"web.deadline_s={self.deadline_s} is shorter than web.timeout_s={self.timeout_s}: "
                             "the deadline bounds the whole request, so make it at least the per-read timeout")
        for key in ("max_retries", "backoff_base_s", "max_delay_s"):
            if getattr(self, key) < 0:
                raise ValueError(f"web.{key}={getattr(self, key)}: must be 0 or more")


@dataclass  # not frozen: OmegaConf merges into nested frozen dataclasses fail
class CollectionsConfig:
    """Shopify collection membership: which collections' product lists are worth fetching."""

    # Whole words (or hyphenated phrases) of a collection's handle or title, most specific first.
    # Empty: membership is not fetched.
    terms: list[str] = MISSING
    # Extra requests per site (collections.json pages + membership pages); 0 turns it off.
    max_requests: int = MISSING

    def __post_init__(self) -> None:
        if self.max_requests < 0:
            raise ValueError(f"crawl.collections.max_requests={self.max_requests}: use 0 to turn it off, or a budget > 0")


@dataclass(frozen=True)
class CrawlConfig:
    """What to crawl and how fast; the HTTP client's settings are the ``web`` section (:class:`WebConfig`)."""

    sites: list[str] = MISSING
    # Sites crawled at once by one run of the stage (each still alone at its own pace on its own host).
    parallel_sites: int = MISSING
    snapshot: str = MISSING
    # Spacing between requests to a site (robots.txt Crawl-delay wins when larger; site.min_delay_s overrides).
    min_delay_s: float = MISSING
    page_size: int = MISSING
    # Products per WooCommerce Store API page (per_page; the API refuses more than 100).
    woocommerce_page_size: int = MISSING
    # Products per Magento 2 GraphQL page (pageSize; stores cap it, by default at 300).
    magento_page_size: int = MISSING
    max_pages: int = MISSING
    honor_content_signal: bool = MISSING
    collections: CollectionsConfig = MISSING

    def __post_init__(self) -> None:
        if self.parallel_sites < 1:
            raise ValueError(f"crawl.parallel_sites={self.parallel_sites}: must be 1 or more")


@dataclass  # not frozen: OmegaConf merges into nested frozen dataclasses fail
class ExclusionWeights:
    """How much each kind of evidence weighs (conf/csv/default.yaml says what each means)."""

    word: float = MISSING
    description_phrase: float = MISSING
    description_word: float = MISSING
    cue: float = MISSING
    age_size: float = MISSING
    age_text: float = MISSING
    adult_size: float = MISSING
    adult_word: float = MISSING
    adult_cue: float = MISSING
    garment_name: float = MISSING
    garment_cue: float = MISSING
    convention: float = MISSING


@dataclass
class ChildrenVocabulary:
    words: list[str] = MISSING
    category_words: list[str] = MISSING
    description_phrases: list[str] = MISSING
    description_cues: list[str] = MISSING
    adult_words: list[str] = MISSING


@dataclass
class NonClothingFamily:
    types: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    description_phrases: list[str] = field(default_factory=list)
    description_cues: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)


@dataclass
class ConventionRules:
    min_support: int = MISSING
    min_purity: float = MISSING
    min_share: float = MISSING


@dataclass(frozen=True)
class CsvConfig:
    """The exclusion evidence and its weights; every value comes from conf/csv/default.yaml."""

    threshold: float = MISSING
    weights: ExclusionWeights = MISSING
    children: ChildrenVocabulary = MISSING
    ignore_phrases: list[str] = MISSING
    styling_phrases: list[str] = MISSING
    cross_sell_phrases: list[str] = MISSING
    age_size_pattern: str = MISSING
    age_text_pattern: str = MISSING
    adult_size_pattern: str = MISSING
    non_clothing: dict[str, NonClothingFamily] = MISSING
    clothing_words: list[str] = MISSING
    conventions: ConventionRules = MISSING
    # name -> JSON Lines of labelled products (with a `label`, optionally a `split`), scored every run.
    labelled_sets: dict[str, str] = MISSING


class ResizeMode(str, enum.Enum):
    keep = "keep"  # longest side down to target_side_px, aspect kept
    center_crop = "center_crop"  # shorter side to target_side_px, then a centred square crop
    pad = "pad"  # fit inside a target_side_px square, padded with white


@dataclass(frozen=True)
class DownloadConfig:
    """How images are fetched and normalised; every value comes from conf/download/default.yaml.

    The HTTP client's settings are the ``web`` section (:class:`WebConfig`).
    """

    workers: int = MISSING
    # Worker processes (each with `workers` threads); decoding is CPU-bound, so use the cores.
    processes: int = MISSING
    # Spacing between requests to one image host (robots.txt Crawl-delay wins when larger).
    min_delay_s: float = MISSING
    per_host_concurrency: int = MISSING
    # Largest image body (web.max_response_bytes caps pages), and the most one image's request may take
    # (web.deadline_s bounds pages).
    max_bytes: int = MISSING
    deadline_s: float = MISSING
    max_image_pixels: int = MISSING
    min_side_px: int = MISSING
    # 0 keeps the size; else the resize_mode (keep | center_crop | pad) applies at this side.
    target_side_px: int = MISSING
    resize_mode: ResizeMode = MISSING
    jpeg_quality: int = MISSING
    # pHash Hamming distance at or below which two images are near-duplicates (-1: off).
    near_duplicate_distance: int = MISSING
    max_images_per_product: int = MISSING
    honor_noai: bool = MISSING
    min_success_rate: float = MISSING
    contact_sheet_images: int = MISSING
    log_every_s: float = MISSING

    def __post_init__(self) -> None:
        if self.deadline_s <= 0:
            raise ValueError(f"download.deadline_s={self.deadline_s}: must be greater than 0")


class FaceAction(str, enum.Enum):
    keep = "keep"
    blur = "blur"  # the caption stage blurs each face box before writing the image
    exclude = "exclude"


@dataclass  # not frozen: OmegaConf merges into nested frozen dataclasses fail
class QualityChecks:
    """Image-quality checks of the curate stage (blur, exposure, flat, aspect, size): conf/curate/default.yaml."""

    enabled: bool = MISSING
    min_short_side_px: int = MISSING  # stored shorter side below this is too_small
    max_aspect: float = MISSING  # longer / shorter side above this is extreme_aspect
    # too_dark: mean luma (0-1) below dark_max_mean AND 99th percentile below dark_max_p99 (no highlights).
    dark_max_mean: float = MISSING
    dark_max_p99: float = MISSING
    # too_bright: mean above bright_min_mean AND clipped share above bright_min_clipped_share AND
    # 1st percentile above bright_min_p1 (no darks left: a garment on studio white keeps its darks).
    clip_level: float = MISSING  # luma at or above this counts as clipped
    bright_min_mean: float = MISSING
    bright_min_clipped_share: float = MISSING
    bright_min_p1: float = MISSING
    flat_max_std: float = MISSING  # flat: every RGB channel's std (0-1) below this
    flat_max_entropy_bits: float = MISSING  # flat: or entropy of the 64-level luma histogram below this
    flat_max_structure_share: float = MISSING  # ... and at most this share of 8 px tiles holds structure
    sharpness_side_px: int = MISSING  # sharpness is measured on grey resized to this longest side
    sharpness_top_share: float = MISSING  # share of 8 px tiles (most gradient energy) sharpness is taken over
    sharpness_min_tiles: int = MISSING  # fewer structured tiles than this: no sharpness measured
    blur_min_sharpness: float = MISSING  # blurry: sqrt(Laplacian / gradient energy) median below this
    # blurry too: the steepest edges' 10-90% width at least blur_max_edge_width of the shorter side and at
    # least blur_min_edge_px (px at sharpness_side_px: a small sharp image's edges span a few px).
    blur_max_edge_width: float = MISSING
    blur_min_edge_px: float = MISSING


@dataclass  # not frozen: OmegaConf merges into nested frozen dataclasses fail
class ContentChecks:
    """Not-a-garment-photo checks (size chart, text banner, swatch, logo, collage, watermark)."""

    enabled: bool = MISSING
    # Text: ink differs from its block's median luma by more than ink_contrast; a character is a blob
    # min_char_px tall at least (analysis size) and at most max_char_share of the height; a line chains
    # min_line_chars of them, of min_char_shapes shapes at least (one repeated shape is a motif, not text).
    ink_contrast: float = MISSING
    min_char_px: int = MISSING
    max_char_share: float = MISSING
    min_line_chars: int = MISSING
    min_char_shapes: int = MISSING
    large_text_share: float = MISSING  # large text: characters at least this share of the shorter side
    text_fill_flat_share: float = MISSING  # text on a fill: this share of the tiles around it plain, else on a photo
    banner_min_text_area: float = MISSING  # text_banner: large text on a fill covers this share of the image
    watermark_min_text_area: float = MISSING  # watermark: large text over the photo covers this share
    min_aspect_spread: float = MISSING  # letters differ in width: std of width/height in a line at least this
    min_char_aspect: float = MISSING  # letters are wider than strokes: median width/height in a line at least this
    # size_chart (only on a page with chart_min_flat_share plain tiles): chart_min_rules rules one way, or
    # chart_min_grid_rules both ways (a luma step above rule_contrast along rule_min_length of the side; rules
    # the other way along the ruled band), with chart_min_glyphs glyphs of several shapes between them; or
    # chart_min_text_rows rows of text on a fill.
    chart_min_flat_share: float = MISSING
    chart_min_rules: int = MISSING
    chart_min_grid_rules: int = MISSING
    chart_min_glyphs: int = MISSING
    chart_min_text_rows: int = MISSING
    # or a table of text: chart_min_table_cells cells (phrases of glyphs) in chart_min_table_rows rows or
    # more, chart_min_table_cols cells a row at least, rows below one another in the same columns, on a fill.
    chart_min_table_rows: int = MISSING
    chart_min_table_cols: int = MISSING
    chart_min_table_cells: int = MISSING
    rule_contrast: float = MISSING
    rule_min_length: float = MISSING
    # collage: a gutter is a band of full-length columns (or rows) whose luma range is below gutter_max_range,
    # at least gutter_margin of the side from the borders, with a panel edge on both sides (a luma step above
    # gutter_edge_contrast along gutter_edge_coverage of the length).
    gutter_max_range: float = MISSING
    gutter_min_px: int = MISSING  # narrowest gutter (analysis size)
    gutter_edge_contrast: float = MISSING
    gutter_edge_coverage: float = MISSING
    gutter_margin: float = MISSING
    gutter_max_share: float = MISSING  # widest gutter (share of the side)
    gutter_max_count: int = MISSING  # more gutters than this one way: stripes, not panels
    # swatch: every 4 x 4 cell textured (mean |gradient| at least swatch_min_texture and swatch_min_evenness
    # of the median cell's) with at least swatch_min_structure of its 8 px tiles not plain, every cell within
    # swatch_max_colour_spread of the median colour, and the outer band's colour histogram overlapping the
    # centre's by swatch_min_colour_overlap.
    swatch_min_texture: float = MISSING
    swatch_min_evenness: float = MISSING
    swatch_min_structure: float = MISSING
    swatch_min_colour_overlap: float = MISSING
    swatch_max_colour_spread: float = MISSING
    # logo: the pixels off the one background colour (8 levels a channel) are a mark covering between
    # logo_min_mark_share and logo_max_mark_share of the image, logo_min_palette_share of it in
    # logo_max_colours colours, inside a box of at most logo_max_extent of the image.
    logo_max_colours: int = MISSING
    logo_min_mark_share: float = MISSING
    logo_max_mark_share: float = MISSING
    logo_min_palette_share: float = MISSING
    logo_max_extent: float = MISSING  # the box around the mark covers at most this share of the image
    # ... and the mark holds a word (logo_min_letters glyphs on a line, filling at most logo_max_letter_fill
    # of their boxes: strokes, not dots), or logo_min_stroke_share of it lies within half a stroke
    # (logo_stroke_share of the shorter side) of its edge: lettering or line art, not a solid shape.
    logo_stroke_share: float = MISSING
    logo_min_stroke_share: float = MISSING
    logo_min_letters: int = MISSING
    logo_max_letter_fill: float = MISSING


@dataclass  # not frozen: OmegaConf merges into nested frozen dataclasses fail
class SafetyChecks:
    """NSFW and faces, with the detector shipped inside the ``nudenet`` wheel (runs offline)."""

    nsfw: bool = MISSING
    # NudeNet labels that count as NSFW, and the detector score (0-1) from which one does.
    nsfw_labels: list[str] = MISSING
    nsfw_min_score: float = MISSING
    faces: FaceAction = MISSING
    # Detector score (0-1) from which a FACE_FEMALE / FACE_MALE box counts as a face.
    face_min_score: float = MISSING

    def __post_init__(self) -> None:
        for name in ("nsfw_min_score", "face_min_score"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"curate.safety.{name}={getattr(self, name)}: a detector score, must be in [0, 1]")
        if self.nsfw and not self.nsfw_labels:
            raise ValueError("curate.safety.nsfw_labels is empty while curate.safety.nsfw=true: list the NudeNet "
                             "labels that count (FEMALE_BREAST_EXPOSED, ...) or set nsfw=false")

    @property
    def detects(self) -> bool:
        """Whether the detector runs at all (faces=keep and nsfw=false need nothing of it)."""
        return self.nsfw or self.faces is not FaceAction.keep


@dataclass  # not frozen: OmegaConf merges into nested frozen dataclasses fail
class AgreementCheck:
    """CLIP image-text agreement (DataComp-style): an image scoring below ``min_score`` against its text is dropped."""

    enabled: bool = MISSING
    # CLIP by hub name or folder (conf interpolates the evaluate stage's, one source of truth).
    clip_model: str = MISSING
    # The text each image is scored against, from its product's columns (contracts.PRODUCT_COLUMNS): "{title}".
    text: str = MISSING
    # CLIP score (100 x cosine, as evaluate) below which an image is text_mismatch.
    min_score: float = MISSING
    # Image-text pairs per CLIP forward pass.
    batch_size: int = MISSING

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"curate.agreement.batch_size={self.batch_size}: must be at least 1")


@dataclass(frozen=True)
class CurateConfig:
    """The curate stage (between download and caption): every check, and how a decision is made."""

    # When several reasons fire, the first in this list decides (every one is recorded).
    order: list[CurationReason] = MISSING
    quality: QualityChecks = MISSING
    content: ContentChecks = MISSING
    safety: SafetyChecks = MISSING
    agreement: AgreementCheck = MISSING
    # CSV of (url_path, reason) labels ("" reason: a clean photo) to score precision and recall per reason
    # into metrics/curation.json; "" when there is none (a real crawl).
    ground_truth: str = MISSING
    # What dvc.yaml tracks for the labels: the labels file, or (none) the curate group file.
    ground_truth_dep: str = MISSING
    # Every pixel check sees the image decoded once, its longer side scaled down to this (part of each cache key).
    analysis_px: int = MISSING
    # Images measured per step; each step's measurements are appended to the cache (a killed run loses one step).
    batch_size: int = MISSING
    # Threads decoding images and running the per-image checks: quality, content, NudeNet (1: the main thread).
    workers: int = MISSING
    # The report shows at most this many thumbnails per reason (curation.csv lists every image) ...
    report_per_reason: int = MISSING
    # ... each scaled to this longer side and inlined as a JPEG.
    thumbnail_px: int = MISSING

    def __post_init__(self) -> None:
        reasons = [CurationReason(reason) for reason in self.order]
        missing = [r.value for r in CurationReason if r not in reasons]
        twice = sorted({r.value for r in reasons if reasons.count(r) > 1})
        if missing or twice:
            raise ValueError(f"curate.order must list every reason once: missing {missing}, repeated {twice}")
        for name in ("analysis_px", "batch_size", "workers", "thumbnail_px"):
            if getattr(self, name) < 1:
                raise ValueError(f"curate.{name}={getattr(self, name)}: must be at least 1")


class Captioner(str, enum.Enum):
    # BLIP-2: captions the image alone (no prompt).
    blip2 = "blip2"
    # SmolVLM (Idefics3 class): a chat VLM prompted per image with its product's title and attributes.
    smolvlm = "smolvlm"
    metadata_only = "metadata_only"


@dataclass(frozen=True)
class CaptionConfig:
    captioner: Captioner = MISSING
    model: str = MISSING
    # What dvc.yaml tracks for the captioner's weights (as ModelConfig.weights).
    weights: str = MISSING
    # The captioner's licence, as the dataset card states it (the weights' licence, not the code's).
    licence: str = MISSING
    # Per-image prompt of a prompted captioner (smolvlm), filled from the image's product: {title}, {garment},
    # {colours}, {fabrics}; "" for one that captions the image alone (blip2). Part of the cache key.
    prompt: str = MISSING
    max_new_tokens: int = MISSING
    batch_size: int = MISSING
    # DataLoader workers decoding images ahead of the model (0: in the main process).
    num_workers: int = MISSING
    # Fields: caption, title, product_type, garment, colours, fabrics, brand, site. Empty parts and
    # their commas are dropped.
    template: str = MISSING
    # Tokenizer that caps the text at its model's length (77 for CLIP): a hub name or folder with a
    # `tokenizer/` subfolder (the model being trained); "" caps by words only.
    text_tokenizer: str = MISSING
    max_text_tokens: int = MISSING
    validation_percent: int = MISSING


@dataclass(frozen=True)
class DatasetConfig:
    layout: DatasetLayout = MISSING
    images_per_shard: int = MISSING


@dataclass(frozen=True)
class VocabConfig:
    garments: dict[str, list[str]] = MISSING
    colours: list[str] = MISSING
    fabrics: list[str] = MISSING
    # Canonical name -> spellings, as garments: "2-piece"/"3-piece", and "stitched"/"unstitched".
    pieces: dict[str, list[str]] = MISSING
    stitching: dict[str, list[str]] = MISSING
    # Colour name -> [R, G, B] for the colours measured in images (every vocab colour but "multi").
    palette: dict[str, list[int]] = MISSING


class PredictionType(str, enum.Enum):
    """What the UNet predicts; member names equal the scheduler's ``prediction_type`` values."""

    epsilon = "epsilon"
    v_prediction = "v_prediction"


@dataclass(frozen=True)
class ModelConfig:
    name: str = MISSING
    pretrained: str = MISSING
    # What dvc.yaml tracks for the weights: the local folder, or the conf file naming a hub model.
    weights: str = MISSING
    # The weights' licence as a Hub licence id (the model card's ``license``).
    licence: str = MISSING
    resolution: int = MISSING
    # Overrides the scheduler's prediction_type for training; None keeps the model's own.
    prediction_type: PredictionType | None = MISSING


class TrainMethod(str, enum.Enum):
    lora = "lora"  # a LoRA adapter on the UNet's attention; writes pytorch_lora_weights.safetensors
    full = "full"  # every UNet weight; writes a whole pipeline (StableDiffusionPipeline.from_pretrained)


class DatasetLayout(str, enum.Enum):
    imagefolder = "imagefolder"  # <split>/<sha256>.jpg beside <split>/metadata.jsonl
    parquet = "parquet"  # data/<split>-NNNNN-of-MMMMM.parquet shards, images inside


class Optimizer(str, enum.Enum):
    adamw = "adamw"  # torch.optim.AdamW
    adamw_8bit = "adamw_8bit"  # bitsandbytes' 8-bit AdamW (CUDA; pip install bitsandbytes): ~75% less optimizer memory


class Resume(str, enum.Enum):
    latest = "latest"  # continue from the newest checkpoint of this run (when its settings match)
    none = "none"  # start over; this run's old checkpoints are removed


class CaptionSource(str, enum.Enum):
    text = "text"  # the dataset's `text`, as the caption stage wrote it
    parts = "parts"  # composed per step from the row's stored parts (pakfashion.training.captions)


@dataclass  # not frozen: OmegaConf merges into nested frozen dataclasses fail
class FieldDropout:
    """Per caption part, the probability that a composed caption leaves it out."""

    colours: float = MISSING
    fabrics: float = MISSING
    garment: float = MISSING
    pieces: float = MISSING
    stitching: float = MISSING
    brand: float = MISSING
    caption: float = MISSING

    def __post_init__(self) -> None:
        for name, rate in vars(self).items():
            if not 0 <= rate <= 1:
                raise ValueError(f"train.captions.field_dropout.{name}={rate}: use a probability in [0, 1]")


@dataclass  # not frozen: OmegaConf merges into nested frozen dataclasses fail
class CaptionsConfig:
    """What each training step conditions on (conf/train/lora.yaml documents each key)."""

    source: CaptionSource = MISSING
    long_share: float = MISSING
    field_dropout: FieldDropout = MISSING
    variants: int = MISSING

    def __post_init__(self) -> None:
        if not 0 <= self.long_share <= 1:
            raise ValueError(f"train.captions.long_share={self.long_share}: use a share in [0, 1]")
        if self.variants < 1:
            raise ValueError(f"train.captions.variants={self.variants}: compose at least 1 caption per image")


@dataclass(frozen=True)
class TrainConfig:
    run_name: str = MISSING
    method: TrainMethod = MISSING
    max_steps: int = MISSING
    batch_size: int = MISSING
    grad_accum: int = MISSING
    lr: float = MISSING
    lr_warmup_steps: int = MISSING
    rank: int = MISSING
    lora_alpha: int = MISSING
    max_grad_norm: float = MISSING
    mixed_precision: str = MISSING
    num_workers: int = MISSING
    random_flip: bool = MISSING
    log_every: int = MISSING
    # Save accelerate state to paths.state/train/<run_name>/checkpoint-<step>/ every N steps (0 = off).
    checkpoint_every: int = MISSING
    checkpoints_keep: int = MISSING
    resume: Resume = MISSING
    # Min-SNR-gamma loss weighting (5.0 in the paper); None = plain MSE.
    snr_gamma: float | None = MISSING
    # Offset noise (0.05-0.1 helps very dark/bright images); 0 = off.
    noise_offset: float = MISSING
    # Probability that an example's caption is replaced by the empty one (trains the unconditional
    # prediction classifier-free guidance uses); 0 = never.
    caption_dropout: float = MISSING
    # The caption each step trains on: the dataset's text, or composed from its stored parts.
    captions: CaptionsConfig = MISSING
    # method=full: keep an EMA of the UNet weights (diffusers' EMAModel) and save it; None = off.
    ema_decay: float | None = MISSING
    optimizer: Optimizer = MISSING
    # Recompute activations in the backward pass: less memory, ~20-30% slower steps.
    gradient_checkpointing: bool = MISSING
    # torch.compile the UNet (accelerate's dynamo backend "inductor"): faster steps after a one-off compile.
    compile: bool = MISSING
    # Aspect-ratio buckets (same pixel area as model.resolution**2, sides in multiples of the model's
    # latent stride); False = one square center crop per image.
    aspect_buckets: bool = MISSING
    # Widest bucket side / narrowest side.
    max_aspect: float = MISSING
    # Every N steps (0 = never) generate validation_prompts x validation_seeds with the model being trained
    # and log the grid to W&B (and paths.state/train/<run_name>/validation/step-<N>.png).
    validation_every: int = MISSING
    validation_prompts: list[str] = MISSING
    validation_seeds: list[int] = MISSING
    validation_inference_steps: int = MISSING
    # How the stage is started (dvc.yaml's cmd): "python" or e.g.
    # "accelerate launch --config_file conf/accelerate/multi_gpu.yaml" for several GPUs.
    launcher: str = MISSING

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size * self.grad_accum


@dataclass  # not frozen: OmegaConf merges into nested frozen dataclasses fail
class AttributesConfig:
    """The attribute prompt set (colour x garment x seed) and how its images are checked (conf/evaluate)."""

    colours: list[str] = MISSING
    # Colours fine-tuning teaches (absent from the base model's world); reported apart from the rest.
    concept_colours: list[str] = MISSING
    garments: list[str] = MISSING
    seeds: list[int] = MISSING
    # Prompt of one colour and garment, e.g. "a {colour} {garment}".
    template: str = MISSING
    # CLIP zero-shot prompt of a canonical garment name, e.g. "a {garment}".
    garment_template: str = MISSING
    # CIELAB distance from the border's colour above which a pixel is garment (at least).
    background_delta_e: float = MISSING
    # CIELAB distance beyond which a garment's colour matches no palette entry.
    max_delta_e: float = MISSING
    bootstrap_resamples: int = MISSING
    confidence: float = MISSING

    def __post_init__(self) -> None:
        if not 0 < self.confidence < 1:
            raise ValueError(f"evaluate.attributes.confidence={self.confidence}: give a level in (0, 1), e.g. 0.95")
        if self.bootstrap_resamples < 1:
            raise ValueError(f"evaluate.attributes.bootstrap_resamples={self.bootstrap_resamples}: must be at least 1")


@dataclass(frozen=True)
class EvaluateConfig:
    clip_model: str = MISSING
    # What dvc.yaml tracks for the CLIP weights (as ModelConfig.weights).
    clip_weights: str = MISSING
    # Grid prompts (validation captions are added); every prompt is drawn with every seed.
    prompts: list[str] = MISSING
    seeds: list[int] = MISSING
    num_inference_steps: int = MISSING
    guidance_scale: float = MISSING
    # Images per pipeline call.
    batch_size: int = MISSING
    # Images per model for FID/KID, from the validation captions (cycled) and seeds (cycled).
    num_images_for_fid: int = MISSING
    # Images per Inception forward pass.
    fid_batch_size: int = MISSING
    # KID: random subsets and rows per subset (capped by the smaller set), as in clean-fid.
    kid_subsets: int = MISSING
    kid_subset_size: int = MISSING
    attributes: AttributesConfig = MISSING


class WandbMode(str, enum.Enum):
    online = "online"
    offline = "offline"
    disabled = "disabled"


@dataclass(frozen=True)
class WandbConfig:
    mode: WandbMode = MISSING
    project: str = MISSING
    entity: str | None = MISSING


class PublishTarget(str, enum.Enum):
    dataset = "dataset"  # data/dataset as a Hub dataset repo (Parquet shards, the dataset card)
    model = "model"  # models/<train.run_name> as a Hub model repo (weights, the kohya copy, the model card)


@dataclass(frozen=True)
class PublishConfig:
    """``python -m pakfashion.publish``: where the dataset and the trained run go on the Hub."""

    # The repos' owner; None: the user the token belongs to.
    namespace: str | None = MISSING
    dataset_repo: str = MISSING
    model_repo: str = MISSING
    targets: list[PublishTarget] = MISSING
    private: bool = MISSING
    dry_run: bool = MISSING
    widget_images: int = MISSING
    images_per_shard: int = MISSING

    def __post_init__(self) -> None:
        for name in ("dataset_repo", "model_repo"):
            repo = getattr(self, name)
            if not repo or "/" in repo:
                raise ValueError(f"publish.{name}={repo!r}: give the repo's name alone; its owner is publish.namespace")
        if not self.targets:
            raise ValueError("publish.targets is empty: list dataset, model or both")
        if self.widget_images < 0 or self.images_per_shard < 1:
            raise ValueError("publish.widget_images must be >= 0 and publish.images_per_shard >= 1")

