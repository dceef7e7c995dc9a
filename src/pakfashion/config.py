"""Typed stage configs and the one place where Hydra's DictConfig becomes a dataclass."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

T = TypeVar("T")
# OmegaConf's mandatory-value marker: the value must come from conf/ (as_typed fails without it).
MISSING: Any = "???"


def as_typed(node: Any, schema: type[T]) -> T:
    """Validate a config node against a dataclass and return an instance of it.

    Unknown keys, wrong types and missing values fail here, before any work starts.
    """
    from omegaconf import OmegaConf  # local: library code below main() never needs OmegaConf

    merged = OmegaConf.merge(OmegaConf.structured(schema), node)
    return cast(T, OmegaConf.to_object(merged))


def stage_main(func: Callable[[Any], None]) -> Callable[[], None]:
    """Wrap a stage's ``main(cfg)`` with ``@hydra.main`` reading ``stage.yaml`` from the working dir.

    DVC runs every stage from the repository root, so the config directory is the current
    directory (not the installed package's location): a copy of the repository runs its own params.
    """
    import hydra

    return hydra.main(config_path=str(Path.cwd()), config_name="stage", version_base="1.3")(func)


@dataclass(frozen=True)
class PathsConfig:
    raw: Path = Path("data/raw")
    products_csv: Path = Path("data/interim/products.csv")
    excluded_csv: Path = Path("data/interim/excluded.csv")
    images: Path = Path("data/images")
    images_csv: Path = Path("data/interim/images.csv")
    dataset: Path = Path("data/dataset")
    models: Path = Path("models")
    tiny_models: Path = Path("models/tiny")
    metrics: Path = Path("metrics")
    plots: Path = Path("plots")
    reports: Path = Path("reports")
    state: Path = Path(".pakfashion")


class Platform(str, enum.Enum):
    """Member names equal values: OmegaConf converts config strings by member name."""

    auto = "auto"
    shopify = "shopify"
    # Sitemap-listed product pages with schema.org JSON-LD (Open Graph fallback): SFCC, Magento, ...
    sitemap = "sitemap"


@dataclass(frozen=True)
class SiteConfig:
    name: str = "???"
    base_url: str = "???"
    brand: str = ""
    currency: str = "PKR"
    platform: Platform = Platform.auto
    # Extra hosts (image CDNs) the crawler may follow redirects to.
    allowed_hosts: list[str] = field(default_factory=list)
    # 0 = no limit. A cap for trial runs.
    max_products: int = 0
    # Sitemap platform: which sitemap-listed URLs are product pages (regex searched in the URL).
    product_url_pattern: str = r"/products?/|\.html?$"
    # Sitemap platform: start here instead of robots.txt's Sitemap lines / <base>/sitemap.xml.
    sitemap_urls: list[str] = field(default_factory=list)
    # Catalog rules (case-insensitive, exact product_type / tag): keep only these types when set,
    # and drop these types and tags (e.g. a retailer's "Home" line). The csv stage still classifies.
    include_product_types: list[str] = field(default_factory=list)
    exclude_product_types: list[str] = field(default_factory=list)
    exclude_tags: list[str] = field(default_factory=list)
    # Per-site politeness override; None keeps crawl.min_delay_s.
    min_delay_s: float | None = None


@dataclass  # not frozen: OmegaConf merges into nested frozen dataclasses fail
class CollectionsConfig:
    """Shopify collection membership: which collections' product lists are worth fetching."""

    # Whole words (or hyphenated phrases) of a collection's handle or title, most specific first.
    # Empty: membership is not fetched.
    terms: list[str] = field(default_factory=list)
    # Extra requests per site (collections.json pages + membership pages); 0 turns it off.
    max_requests: int = 10

    def __post_init__(self) -> None:
        if self.max_requests < 0:
            raise ValueError(f"crawl.collections.max_requests={self.max_requests}: use 0 to turn it off, or a budget > 0")


@dataclass(frozen=True)
class CrawlConfig:
    sites: list[str] = field(default_factory=list)
    snapshot: str = "???"
    user_agent: str = "???"
    timeout_s: float = 30.0
    min_delay_s: float = 1.0
    max_delay_s: float = 60.0
    max_retries: int = 4
    backoff_base_s: float = 1.0
    max_response_bytes: int = 50 * 1024 * 1024
    page_size: int = 250
    max_pages: int = 100
    honor_content_signal: bool = True
    collections: CollectionsConfig = field(default_factory=CollectionsConfig)


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
    workers: int = 4
    # Worker processes (each with `workers` threads); decoding is CPU-bound, so use the cores.
    processes: int = 1
    # Spacing between requests to one image host (robots.txt Crawl-delay wins when larger).
    min_delay_s: float = 0.1
    per_host_concurrency: int = 2
    timeout_s: float = 30.0
    max_retries: int = 3
    max_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    min_side_px: int = 64
    # 0 keeps the size; else the resize_mode (keep | center_crop | pad) applies at this side.
    target_side_px: int = 0
    resize_mode: ResizeMode = ResizeMode.keep
    jpeg_quality: int = 92
    # pHash Hamming distance at or below which two images are near-duplicates (-1: off).
    near_duplicate_distance: int = 4
    max_images_per_product: int = 0
    honor_noai: bool = True
    min_success_rate: float = 0.5
    contact_sheet_images: int = 36
    log_every_s: float = 10.0


class Captioner(str, enum.Enum):
    blip2 = "blip2"
    metadata_only = "metadata_only"


@dataclass(frozen=True)
class CaptionConfig:
    captioner: Captioner = Captioner.blip2
    model: str = ""
    max_new_tokens: int = 30
    batch_size: int = 8
    # DataLoader workers decoding images ahead of the model (0: in the main process).
    num_workers: int = 2
    # Fields: caption, title, product_type, garment, colours, fabrics, brand, site. Empty parts and
    # their commas are dropped.
    template: str = "{colours} {fabrics} {garment}, {caption}, {title}"
    # Tokenizer that caps the text at its model's length (77 for CLIP): a hub name or folder with a
    # `tokenizer/` subfolder (the model being trained); "" caps by words only.
    text_tokenizer: str = ""
    max_text_tokens: int = 77
    validation_percent: int = 10


@dataclass(frozen=True)
class VocabConfig:
    garments: dict[str, list[str]] = field(default_factory=dict)
    colours: list[str] = field(default_factory=list)
    fabrics: list[str] = field(default_factory=list)


class PredictionType(str, enum.Enum):
    """What the UNet predicts; member names equal the scheduler's ``prediction_type`` values."""

    epsilon = "epsilon"
    v_prediction = "v_prediction"


@dataclass(frozen=True)
class ModelConfig:
    name: str = "???"
    pretrained: str = "???"
    resolution: int = 512
    # Overrides the scheduler's prediction_type for training; None keeps the model's own.
    prediction_type: PredictionType | None = None


class TrainMethod(str, enum.Enum):
    lora = "lora"  # a LoRA adapter on the UNet's attention; writes pytorch_lora_weights.safetensors
    full = "full"  # every UNet weight; writes a whole pipeline (StableDiffusionPipeline.from_pretrained)


class Optimizer(str, enum.Enum):
    adamw = "adamw"  # torch.optim.AdamW
    adamw_8bit = "adamw_8bit"  # bitsandbytes' 8-bit AdamW (CUDA; pip install bitsandbytes): ~75% less optimizer memory


class Resume(str, enum.Enum):
    latest = "latest"  # continue from the newest checkpoint of this run (when its settings match)
    none = "none"  # start over; this run's old checkpoints are removed


@dataclass(frozen=True)
class TrainConfig:
    run_name: str = "???"
    method: TrainMethod = TrainMethod.lora
    max_steps: int = 100
    batch_size: int = 4
    grad_accum: int = 1
    lr: float = 1e-4
    lr_warmup_steps: int = 0
    rank: int = 4
    lora_alpha: int = 4
    max_grad_norm: float = 1.0
    mixed_precision: str = "no"
    num_workers: int = 0
    random_flip: bool = True
    log_every: int = 10
    # Save accelerate state to paths.state/train/<run_name>/checkpoint-<step>/ every N steps (0 = off).
    checkpoint_every: int = 0
    checkpoints_keep: int = 2
    resume: Resume = Resume.latest
    # Min-SNR-gamma loss weighting (5.0 in the paper); None = plain MSE.
    snr_gamma: float | None = None
    # Offset noise (0.05-0.1 helps very dark/bright images); 0 = off.
    noise_offset: float = 0.0
    # method=full: keep an EMA of the UNet weights (diffusers' EMAModel) and save it; None = off.
    ema_decay: float | None = None
    optimizer: Optimizer = Optimizer.adamw
    # Recompute activations in the backward pass: less memory, ~20-30% slower steps.
    gradient_checkpointing: bool = False
    # torch.compile the UNet (accelerate's dynamo backend "inductor"): faster steps after a one-off compile.
    compile: bool = False
    # Aspect-ratio buckets (same pixel area as model.resolution**2, sides in multiples of the model's
    # latent stride); False = one square center crop per image.
    aspect_buckets: bool = True
    # Widest bucket side / narrowest side.
    max_aspect: float = 2.0
    # Every N steps (0 = never) generate validation_prompts x validation_seeds with the model being trained
    # and log the grid to W&B (and paths.state/train/<run_name>/validation/step-<N>.png).
    validation_every: int = 0
    validation_prompts: list[str] = field(default_factory=list)
    validation_seeds: list[int] = field(default_factory=lambda: [0])
    validation_inference_steps: int = 25
    # How the stage is started (dvc.yaml's cmd): "python" or e.g.
    # "accelerate launch --config_file conf/accelerate/multi_gpu.yaml" for several GPUs.
    launcher: str = "python"

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size * self.grad_accum


@dataclass(frozen=True)
class EvaluateConfig:
    clip_model: str = "openai/clip-vit-base-patch32"
    # Grid prompts (validation captions are added); every prompt is drawn with every seed.
    prompts: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    num_inference_steps: int = 25
    guidance_scale: float = 7.5
    # Images per pipeline call.
    batch_size: int = 8
    # Images per model for FID/KID, from the validation captions (cycled) and seeds (cycled).
    num_images_for_fid: int = 500
    # Images per Inception forward pass.
    fid_batch_size: int = 32
    # KID: random subsets and rows per subset (capped by the smaller set), as in clean-fid.
    kid_subsets: int = 100
    kid_subset_size: int = 1000


class WandbMode(str, enum.Enum):
    online = "online"
    offline = "offline"
    disabled = "disabled"


@dataclass(frozen=True)
class WandbConfig:
    mode: WandbMode = WandbMode.offline
    project: str = "pakfashion"
    entity: str | None = None
