"""The evaluate stage's work: generate with both models, score, compare distributions, report.

The stage entry is :mod:`pakfashion.evaluate`."""

from __future__ import annotations

import csv
import html
import io
import logging
import os
import shutil
import statistics
import textwrap
from dataclasses import asdict, dataclass, field, fields
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from pakfashion.captioning.text import AttributeFinder
from pakfashion.common.dataset_files import DatasetSplit
from pakfashion.common.files import (
    write_bytes_atomic,
    write_json,
    write_text_atomic,
)
from pakfashion.config import (
    EvaluateConfig,
    ModelConfig,
    PathsConfig,
    VocabConfig,
)
from pakfashion.contracts import (
    EVAL_METRICS,
    EVAL_REPORT,
    SAMPLE_IMAGES_DIR,
    SAMPLE_INDEX_FILE,
    SAMPLES_REPORT,
    VALIDATION_SPLIT,
)
from pakfashion.evaluation.attributes import (
    ATTRIBUTE_COLUMNS,
    AttributeRow,
    attribute_jobs,
    attribute_metrics,
    attribute_rows,
    attribute_table,
    check_attributes,
)
from pakfashion.evaluation.clip import ClipBundle, clip_scores, load_clip
from pakfashion.evaluation.fid import frechet_distance, kernel_inception_distance
from pakfashion.evaluation.inception import (
    Inception,
    inception_features,
    load_inception,
)
from pakfashion.evaluation.samples import BASE, FINETUNED, MODEL_LABELS, Sample
from pakfashion.models.devices import default_device
from pakfashion.models.sampling import (
    Job,
    Sampling,
    generate_images,
    grid_jobs,
    write_png,
)
from pakfashion.models.sd import load_pipeline, load_run

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

log = logging.getLogger(__name__)

OTHER_CATEGORY = "other"
MAX_VALIDATION_PROMPTS = 4
LABEL_WIDTH_PX = 200
MIN_CELL_PX = 128
"""Grid cells are at least this wide: smaller images (the tiny demo model's 32 px) are scaled up to be seen."""
HEADER_HEIGHT_PX = 28
LINE_HEIGHT_PX = 12
CHAR_WIDTH_PX = 6
FEATURE_CACHE_VERSION = "inception-clean-v1"
SUMMARY_COLUMNS = ["metric", "base", "fine-tuned", "delta", "better when", "fine-tuning"]


@dataclass(frozen=True)
class ScoreRow:
    """CLIP score of one grid image; ``label`` is the unique bar name in ``dvc plots``."""

    prompt: str
    seed: int
    model: str
    clip_score: float
    label: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # One bar per row: bars sharing a label would stack (add up) in DVC's bar templates.
        object.__setattr__(self, "label", f"{self.prompt} · seed {self.seed} · {MODEL_LABELS[self.model]}")


@dataclass(frozen=True)
class CategoryRow:
    """Mean CLIP score of one model on the prompts naming one garment category."""

    category: str
    model: str
    clip_score: float
    num_images: int
    label: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", f"{self.category} · {MODEL_LABELS[self.model]}")


@dataclass(frozen=True)
class EvalJobs:
    """The images each model generates: the sample grid, the FID images and the attribute prompt set."""

    grid: list[Job]
    fid: list[Job]
    attributes: list[Job]


@dataclass(frozen=True)
class Generated:
    """What one model produced: grid and attribute samples, and the Inception features of its FID images."""

    samples: list[Sample]
    features: np.ndarray
    attributes: list[Sample]


@dataclass(frozen=True)
class Results:
    """Everything the stage writes is derived from these: grid prompts, samples, CLIP rows, metrics."""

    prompts: list[str]
    samples: list[Sample]
    scores: list[ScoreRow]
    attributes: list[AttributeRow]
    metrics: dict[str, float | int]


def check_settings(settings: EvaluateConfig) -> None:
    """Fail before loading models on settings that cannot run."""
    if settings.num_images_for_fid < 2:
        raise ValueError(f"evaluate.num_images_for_fid={settings.num_images_for_fid}: FID/KID need at least 2")
    if not settings.seeds:
        raise ValueError("evaluate.seeds is empty: give at least one seed")
    for key in ("batch_size", "fid_batch_size", "kid_subsets"):
        if getattr(settings, key) < 1:
            raise ValueError(f"evaluate.{key}={getattr(settings, key)}: must be at least 1")


def validation_split(dataset_dir: Path) -> tuple[DatasetSplit, list[dict[str, Any]]]:
    """The dataset's validation split and its rows; FID needs this split, so a missing one is an error."""
    try:
        split = DatasetSplit.open(dataset_dir, VALIDATION_SPLIT)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{error}; FID/KID need a validation split (caption.validation_percent)") from None
    rows = split.rows()
    if len(rows) < 2 or any("file_name" not in row or "text" not in row for row in rows):
        raise ValueError(f"{dataset_dir} ({VALIDATION_SPLIT}): need at least 2 rows, each with file_name and text")
    return split, rows


def eval_prompts(prompts: list[str], texts: list[str], *, max_validation: int = MAX_VALIDATION_PROMPTS) -> list[str]:
    """Configured prompts, then the first distinct validation captions, without duplicates."""
    combined = list(dict.fromkeys([*prompts, *list(dict.fromkeys(texts))[:max_validation]]))
    if not combined:
        raise ValueError("no prompts: set evaluate.prompts or provide validation captions")
    return combined


def sampling_of(settings: EvaluateConfig) -> Sampling:
    """The pipeline-call part of the evaluate settings."""
    return Sampling(settings.num_inference_steps, settings.guidance_scale, settings.batch_size)


def fid_jobs(captions: list[str], seeds: list[int], *, count: int) -> list[Job]:
    """``count`` jobs cycling through the validation captions and, independently, the seeds."""
    return [Job(captions[i % len(captions)], seeds[i % len(seeds)]) for i in range(count)]


def _samples(pipe: DiffusionPipeline, jobs: list[Job], settings: EvaluateConfig, *, model: str, resolution_px: int,
             desc: str) -> list[Sample]:
    images = generate_images(pipe, jobs, sampling_of(settings), resolution_px=resolution_px, desc=f"{model} {desc}")
    return [Sample(job.prompt, job.seed, model, image) for job, image in zip(jobs, images, strict=True)]


def generate_for_model(
    pipe: DiffusionPipeline,
    jobs: EvalJobs,
    settings: EvaluateConfig,
    *,
    model: str,
    resolution_px: int,
    inception: Inception,
) -> Generated:
    """Grid and attribute samples, then FID images streamed into Inception features (one batch in memory)."""
    samples = _samples(pipe, jobs.grid, settings, model=model, resolution_px=resolution_px, desc="grid")
    attributes = _samples(pipe, jobs.attributes, settings, model=model, resolution_px=resolution_px, desc="attributes")
    fid_images = generate_images(pipe, jobs.fid, sampling_of(settings), resolution_px=resolution_px,
                                 desc=f"{model} FID images")
    features = inception_features(
        fid_images, inception=inception, batch_size=settings.fid_batch_size, total=len(jobs.fid), desc=f"{model} features"
    )
    return Generated(samples=samples, features=features, attributes=attributes)


def generate_both(
    pretrained: str,
    lora_dir: Path,
    jobs: EvalJobs,
    settings: EvaluateConfig,
    *,
    resolution_px: int,
    device: str,
    inception: Inception,
) -> dict[str, Generated]:
    """Outputs of the base pipeline, then of the fine-tuned one: the base with the run's LoRA loaded,
    or the run's own full pipeline (``train.method=full``); both run the same ``jobs``."""
    pipe = load_pipeline(pretrained, device=device)
    base = generate_for_model(pipe, jobs, settings, model=BASE, resolution_px=resolution_px, inception=inception)
    pipe = load_run(lora_dir, base=pipe, device=device)
    tuned = generate_for_model(pipe, jobs, settings, model=FINETUNED, resolution_px=resolution_px, inception=inception)
    return {BASE: base, FINETUNED: tuned}


def _rgb(opened: Image.Image) -> Image.Image:
    with opened as image:
        return image.convert("RGB")


def validation_features(
    split: DatasetSplit, rows: list[dict[str, Any]], *, cache_dir: Path, inception: Inception, batch_size: int,
    resolution_px: int,
) -> np.ndarray:
    """Inception features of the validation images as the model trains on them (scaled and center-cropped to
    ``resolution_px`` squares, as the train stage does), cached under ``cache_dir`` by the metadata's sha256.

    At the model's own resolution FID compares what is drawn, not the sharpness a 32 px model cannot have.
    ``file_name`` is the image's own sha256 in this dataset, so the metadata hash names the images too.
    """
    digest = split.fingerprint()
    cache = cache_dir / f"{FEATURE_CACHE_VERSION}-{resolution_px}px-{digest}.npy"
    if cache.is_file():
        log.info("validation features from cache %s", cache)
        return np.load(cache)
    square = (resolution_px, resolution_px)
    images = (ImageOps.fit(_rgb(image), square, Image.Resampling.BILINEAR) for _, image in split.images())
    features = inception_features(
        images, inception=inception, batch_size=batch_size, total=len(rows), desc="validation features"
    )
    buffer = io.BytesIO()
    np.save(buffer, features)
    write_bytes_atomic(cache, buffer.getvalue())
    log.info("cached features of %d validation images in %s", len(rows), cache)
    return features


def own_caption_rate(split: DatasetSplit, rows: list[dict[str, Any]], *, clip: ClipBundle, seed: int) -> float:
    """Share of dataset images whose CLIP score with their own caption beats that with another image's.

    Each image is paired with the caption of the image a seeded derangement gives it (pairs whose two
    captions are the same text are left out): near 0.5 means the captions do not describe their images.
    """
    order = np.random.default_rng(seed).permutation(len(rows))
    order = np.where(order == np.arange(len(rows)), np.roll(order, 1), order)
    texts = [str(row["text"]) for row in rows]
    pairs = [(i, int(j)) for i, j in enumerate(order) if texts[i] != texts[j]]
    if not pairs:
        raise ValueError(f"{split.directory}: every validation caption is the same text, so no image can beat another's")
    images = [_rgb(split.image(i)) for i, _ in pairs]
    own = clip_scores(images, [texts[i] for i, _ in pairs], clip=clip)
    other = clip_scores(images, [texts[j] for _, j in pairs], clip=clip)
    return sum(a > b for a, b in zip(own, other, strict=True)) / len(pairs)


def score_samples(samples: list[Sample], *, clip: ClipBundle) -> list[ScoreRow]:
    """CLIP-score every sample against its own prompt."""
    scores = clip_scores([s.image for s in samples], [s.prompt for s in samples], clip=clip)
    return [ScoreRow(s.prompt, s.seed, s.model, score) for s, score in zip(samples, scores, strict=True)]


def summarize(rows: list[ScoreRow]) -> dict[str, float | int]:
    """Mean and sample standard deviation of the CLIP score per model, and their difference."""
    metrics: dict[str, float | int] = {"num_images": len(rows)}
    for model in (BASE, FINETUNED):
        values = [row.clip_score for row in rows if row.model == model]
        if not values:
            raise ValueError(f"no scores for model {model!r}: generate both base and fine-tuned samples")
        metrics[f"clip_score_{model}"] = statistics.fmean(values)
        metrics[f"clip_score_{model}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    metrics["clip_score_delta"] = metrics[f"clip_score_{FINETUNED}"] - metrics[f"clip_score_{BASE}"]
    return metrics


def distribution_metrics(
    reference: np.ndarray, generated: dict[str, np.ndarray], settings: EvaluateConfig
) -> dict[str, float | int]:
    """FID and KID (mean, std) of each model's images against the validation features, and the deltas."""
    metrics: dict[str, float | int] = {
        "num_fid_images": settings.num_images_for_fid,
        "num_validation_images": len(reference),
    }
    for model in (BASE, FINETUNED):
        metrics[f"fid_{model}"] = frechet_distance(generated[model], reference)
        kid = kernel_inception_distance(
            generated[model],
            reference,
            num_subsets=settings.kid_subsets,
            subset_size=settings.kid_subset_size,
            seed=settings.seeds[0],
        )
        metrics[f"kid_{model}"], metrics[f"kid_{model}_std"] = kid.mean, kid.std
    for name in ("fid", "kid"):
        metrics[f"{name}_delta"] = metrics[f"{name}_{FINETUNED}"] - metrics[f"{name}_{BASE}"]
    return metrics


def prompt_category(prompt: str, finder: AttributeFinder) -> str:
    """The garment a prompt names (vocabulary's canonical name), or ``other``."""
    return finder.find({"title": prompt}).garment or OTHER_CATEGORY


def scores_by_category(rows: list[ScoreRow], vocab: VocabConfig) -> list[CategoryRow]:
    """Mean CLIP score per garment category and model, sorted by category then model."""
    finder = AttributeFinder(vocab)
    keyed = sorted(((prompt_category(row.prompt, finder), row.model), row.clip_score) for row in rows)
    categories = []
    for (category, model), group in groupby(keyed, key=lambda item: item[0]):
        scores = [score for _, score in group]
        categories.append(CategoryRow(category, model, statistics.fmean(scores), len(scores)))
    return categories


def _draw_prompt(draw: ImageDraw.ImageDraw, prompt: str, *, top_px: int, cell_px: int) -> None:
    """Wrap ``prompt`` into the label column, cut to the lines that fit the row."""
    font = ImageFont.load_default()
    max_lines = max(1, (cell_px - 8) // LINE_HEIGHT_PX)
    lines = textwrap.wrap(prompt, width=(LABEL_WIDTH_PX - 8) // CHAR_WIDTH_PX, max_lines=max_lines)
    draw.multiline_text((4, top_px + 4), "\n".join(lines), fill="black", font=font, spacing=2)


def grid_cell(image: Image.Image, cell_px: int) -> Image.Image:
    """A generated image as the grid and the widget samples show it: RGB, ``cell_px`` square."""
    return image.convert("RGB").resize((cell_px, cell_px))


def sample_grid(samples: list[Sample], *, prompts: list[str], seeds: list[int], cell_px: int) -> Image.Image:
    """A labelled grid: rows = prompts; columns = for each seed, base then fine-tuned.

    Size: ``LABEL_WIDTH_PX + 2 * len(seeds) * cell_px`` by ``HEADER_HEIGHT_PX + len(prompts) * cell_px``.
    A black line separates the seeds.
    """
    columns = [(seed, model) for seed in seeds for model in (BASE, FINETUNED)]
    size = (LABEL_WIDTH_PX + len(columns) * cell_px, HEADER_HEIGHT_PX + len(prompts) * cell_px)
    grid = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    draw.text((4, 2), "prompt", fill="black", font=font)
    for col, (seed, model) in enumerate(columns):
        left = LABEL_WIDTH_PX + col * cell_px
        draw.multiline_text((left + 2, 2), f"seed {seed}\n{MODEL_LABELS[model]}", fill="black", font=font)
    by_key = {(s.prompt, s.seed, s.model): s.image for s in samples}
    for row, prompt in enumerate(prompts):
        top = HEADER_HEIGHT_PX + row * cell_px
        _draw_prompt(draw, prompt, top_px=top, cell_px=cell_px)
        for col, (seed, model) in enumerate(columns):
            grid.paste(grid_cell(by_key[(prompt, seed, model)], cell_px), (LABEL_WIDTH_PX + col * cell_px, top))
    for col in range(2, len(columns), 2):
        draw.line([(LABEL_WIDTH_PX + col * cell_px, 0), (LABEL_WIDTH_PX + col * cell_px, size[1])], fill="black")
    return grid


def write_sample_images(samples: list[Sample], out_dir: Path, *, prompts: list[str], seed: int, cell_px: int) -> Path:
    """The fine-tuned image of each of ``prompts`` at ``seed`` as ``out_dir/NN.png`` (at the grid's cell size),
    replacing what was there, and their index :data:`SAMPLE_INDEX_FILE`; returns the index."""
    by_key = {(s.prompt, s.seed): s.image for s in samples if s.model == FINETUNED}
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    index = []
    for number, prompt in enumerate(prompts):
        name = f"{number:02d}.png"
        write_png(out_dir / name, grid_cell(by_key[(prompt, seed)], cell_px))
        index.append({"file": name, "prompt": prompt, "seed": seed})
    write_json(out_dir / SAMPLE_INDEX_FILE, index)
    return out_dir / SAMPLE_INDEX_FILE


def summary_table(metrics: dict[str, float | int]) -> list[list[str]]:
    """Rows of :data:`SUMMARY_COLUMNS` (the fine-tuning column: improved/worse/same) for the report and W&B."""

    def value(key: str) -> str:
        spread = f" ± {metrics[key + '_std']:.4g}" if f"{key}_std" in metrics else ""
        return f"{metrics[key]:.4g}{spread}"

    rows = []
    for label, key, sign in (("CLIP score", "clip_score", 1), ("FID", "fid", -1), ("KID", "kid", -1)):
        delta = metrics[f"{key}_delta"]
        verdict = "same" if delta == 0 else "improved" if delta * sign > 0 else "worse"
        better = "higher" if sign > 0 else "lower"
        rows.append([label, value(f"{key}_{BASE}"), value(f"{key}_{FINETUNED}"), f"{delta:+.4g}", better, verdict])
    return rows


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def category_table(categories: list[CategoryRow]) -> list[list[str]]:
    """Rows ``[category, base, fine-tuned, delta]`` of the mean CLIP scores."""
    scores = {(row.category, row.model): row.clip_score for row in categories}
    rows = []
    for name in dict.fromkeys(row.category for row in categories):
        base, tuned = scores[(name, BASE)], scores[(name, FINETUNED)]
        rows.append([name, f"{base:.2f}", f"{tuned:.2f}", f"{tuned - base:+.2f}"])
    return rows


def report_markdown(
    metrics: dict[str, float | int],
    categories: list[CategoryRow],
    *,
    settings: EvaluateConfig,
    run_name: str,
    grid_link: str,
) -> str:
    """``eval.md``: the metrics table with deltas, what each metric means, CLIP by category, the grid."""
    lines = [
        f"# Evaluation: base model vs `{run_name}`",
        "",
        f"{metrics['num_fid_images']} generated images per model against {metrics['num_validation_images']} "
        f"validation images; {settings.num_inference_steps} inference steps, guidance {settings.guidance_scale}, "
        f"seeds {settings.seeds}. Delta = fine-tuned − base.",
        "",
        *_markdown_table(SUMMARY_COLUMNS, summary_table(metrics)),
        "",
        "- **CLIP score**: 100 × cosine similarity of image and prompt embeddings "
        f"(`{settings.clip_model}`), mean ± std over {metrics['num_images'] // 2} images per model; "
        "higher means the images follow their prompts more closely.",
        "- **FID**: Fréchet distance between Inception-v3 features (the TensorFlow FID weights, clean-fid "
        "resizing) of the generated and the validation images (scaled and cropped to the model's resolution, as "
        "it trains on them); lower means closer to the real catalog photos. "
        "Biased upwards with few images, so compare only runs with the same image counts.",
        "- **KID**: unbiased kernel (MMD) distance on the same features, mean ± std over subsets; less "
        "biased than FID at small counts, can be slightly negative when the sets are indistinguishable.",
        f"- **Dataset captions**: for {metrics['clip_own_caption_rate']:.1%} of the validation images CLIP scores "
        "the image's own caption above another image's (0.5 = the captions say nothing about their images).",
        "",
        "## CLIP score by garment",
        "",
        *_markdown_table(["category", "base", "fine-tuned", "delta"], category_table(categories)),
        "",
        *attribute_section(metrics, settings),
        "",
        "## Samples",
        "",
        "Rows: prompts. Columns: per seed, base then fine-tuned, from the same starting noise.",
        "",
        f"![samples]({grid_link})",
    ]
    return "\n".join(lines) + "\n"


def attribute_section(metrics: dict[str, float | int], settings: EvaluateConfig) -> list[str]:
    """The report's attribute checks: accuracies with their intervals, and how to read them."""
    attributes = settings.attributes
    level = f"{100 * attributes.confidence:g}%"
    return [
        "## Attribute checks",
        "",
        f"Prompts \"{attributes.template}\" over colours × garments, seeds {attributes.seeds}; taught concept: "
        f"colours {attributes.concept_colours or 'none'}. Colour accuracy: the garment's most common colour (pixels "
        "unlike the image border) is the prompt's colour, nearest among the prompt set's `vocab.palette` colours "
        f"within ΔE {attributes.max_delta_e:g} (images matching none: base {metrics['colour_unmatched_base']:.1%}, "
        f"fine-tuned {metrics['colour_unmatched_finetuned']:.1%}). Garment accuracy: CLIP (`{settings.clip_model}`) "
        f"zero-shot over the `vocab.garments` names (\"{attributes.garment_template}\") picks the prompt's garment.",
        "",
        *_markdown_table(ATTRIBUTE_COLUMNS, attribute_table(metrics)),
        "",
        f"Brackets: {level} bootstrap intervals ({attributes.bootstrap_resamples} resamples of the prompt × seed "
        "images, the same resample for both models, so the delta's interval is that of the paired difference). "
        "A delta whose interval excludes 0 is a change these prompts support; one that includes 0 may be chance "
        "at this number of images, and an interval as wide as the table's differences asks for more seeds.",
    ]


def write_rows_csv(path: Path, rows: list[Any]) -> None:
    """Write dataclass rows as CSV (header from the first row's fields) for ``dvc plots``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(rows[0])], lineterminator="\n")
    writer.writeheader()
    writer.writerows(asdict(row) for row in rows)
    write_text_atomic(path, buffer.getvalue())


def log_to_wandb(run: Any, metrics: dict[str, float | int], grid: Image.Image, report: str) -> None:
    """Log the flat metrics, the grid, the summary table and the report to a W&B run."""
    import wandb

    table = wandb.Table(columns=SUMMARY_COLUMNS, data=summary_table(metrics))
    run.log(
        {
            **metrics,
            "samples": wandb.Image(grid, caption="rows: prompts; columns: seed x (base, fine-tuned)"),
            "eval_summary": table,
            "eval_attributes": wandb.Table(columns=ATTRIBUTE_COLUMNS, data=attribute_table(metrics)),
            "eval_report": wandb.Html(f"<pre>{html.escape(report)}</pre>"),
        }
    )


def run_models(
    paths: PathsConfig, model: ModelConfig, settings: EvaluateConfig, *, lora_dir: Path, vocab: VocabConfig
) -> Results:
    """Generate with both models and score them: CLIP score (grid), FID/KID (FID images), attribute checks."""
    device = default_device()
    validation, rows = validation_split(paths.dataset)
    captions = [str(row["text"]) for row in rows]
    prompts = eval_prompts(settings.prompts, captions)
    jobs = EvalJobs(grid_jobs(prompts, settings.seeds), fid_jobs(captions, settings.seeds, count=settings.num_images_for_fid),
                    attribute_jobs(settings.attributes))
    log.info("evaluating %d grid + %d attribute + %d FID images per model on %s", len(jobs.grid), len(jobs.attributes),
             len(jobs.fid), device)
    inception = load_inception(device=device)
    cache_dir = paths.state / "evaluate"
    reference = validation_features(
        validation, rows, cache_dir=cache_dir, inception=inception, batch_size=settings.fid_batch_size,
        resolution_px=model.resolution,
    )
    outputs = generate_both(
        model.pretrained, lora_dir, jobs, settings, resolution_px=model.resolution, device=device, inception=inception
    )
    samples = outputs[BASE].samples + outputs[FINETUNED].samples
    clip = load_clip(settings.clip_model, device=device)
    scores = score_samples(samples, clip=clip)
    checked = attribute_rows(outputs[BASE].attributes + outputs[FINETUNED].attributes, clip=clip, vocab=vocab,
                             settings=settings.attributes)
    features = {name: output.features for name, output in outputs.items()}
    metrics = {**summarize(scores), **distribution_metrics(reference, features, settings),
               **attribute_metrics(checked, settings.attributes),
               "clip_own_caption_rate": own_caption_rate(validation, rows, clip=clip, seed=settings.seeds[0])}
    return Results(prompts=prompts, samples=samples, scores=scores, attributes=checked, metrics=metrics)


def evaluate(
    paths: PathsConfig,
    model: ModelConfig,
    settings: EvaluateConfig,
    *,
    lora_dir: Path,
    vocab: VocabConfig,
    run: Any | None = None,
) -> dict[str, float | int]:
    """Run the whole stage and write its outputs; returns the metrics written to ``eval.json``."""
    check_settings(settings)
    check_attributes(settings.attributes, vocab)
    results = run_models(paths, model, settings, lora_dir=lora_dir, vocab=vocab)
    metrics, categories = results.metrics, scores_by_category(results.scores, vocab)
    cell_px = max(model.resolution, MIN_CELL_PX)
    grid = sample_grid(results.samples, prompts=results.prompts, seeds=settings.seeds, cell_px=cell_px)
    grid_path, report_path = paths.reports / SAMPLES_REPORT, paths.reports / EVAL_REPORT
    link = os.path.relpath(grid_path, report_path.parent)
    report = report_markdown(metrics, categories, settings=settings, run_name=lora_dir.name, grid_link=link)
    write_json(paths.metrics / EVAL_METRICS, metrics)
    write_rows_csv(paths.plots / "clip_scores.csv", results.scores)
    write_rows_csv(paths.plots / "clip_by_category.csv", categories)
    write_png(grid_path, grid)
    write_sample_images(results.samples, paths.reports / SAMPLE_IMAGES_DIR, prompts=results.prompts,
                        seed=settings.seeds[0], cell_px=cell_px)
    write_text_atomic(report_path, report)
    for name in ("clip_score", "fid", "kid"):
        log.info("%s: base %.4g, fine-tuned %.4g", name, metrics[f"{name}_{BASE}"], metrics[f"{name}_{FINETUNED}"])
    if run is not None:
        log_to_wandb(run, metrics, grid, report)
    return metrics
