"""Evaluate stage: base vs LoRA fine-tuned Stable Diffusion, scored with CLIP on the same prompts and seeds.

Reads ``model.pretrained``, the LoRA in ``paths.models/<train.run_name>``, ``evaluate.prompts`` and up to
four texts of ``paths.dataset/validation/metadata.jsonl`` (when present). Writes ``paths.metrics/eval.json``
(flat CLIP-score keys), ``paths.plots/clip_scores.csv`` (prompt, seed, model, clip_score) and
``paths.reports/samples.png`` (rows = prompts; per seed, base and fine-tuned side by side).
"""

from __future__ import annotations

import csv
import io
import logging
import statistics
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image, ImageDraw, ImageFont

from pakfashion.config import (
    EvaluateConfig,
    ModelConfig,
    PathsConfig,
    TrainConfig,
    WandbConfig,
    as_typed,
    stage_main,
)
from pakfashion.files import read_jsonl, write_bytes_atomic, write_json, write_text_atomic
from pakfashion.models.clip import ClipBundle, load_clip
from pakfashion.models.devices import default_device
from pakfashion.models.sd import load_lora, load_pipeline
from pakfashion.tracking import finish_run, start_run

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline
    from omegaconf import DictConfig

log = logging.getLogger(__name__)

BASE, FINETUNED = "base", "finetuned"
MAX_VALIDATION_PROMPTS = 4
LABEL_WIDTH_PX = 200
HEADER_HEIGHT_PX = 28
LINE_HEIGHT_PX = 12
CHAR_WIDTH_PX = 6


@dataclass(frozen=True)
class Sample:
    """One generated image and the prompt, seed and model that made it."""

    prompt: str
    seed: int
    model: str
    image: Image.Image


@dataclass(frozen=True)
class ScoreRow:
    prompt: str
    seed: int
    model: str
    clip_score: float


def eval_prompts(
    prompts: list[str], validation_dir: Path, *, max_validation: int = MAX_VALIDATION_PROMPTS
) -> list[str]:
    """Configured prompts, then the first distinct validation captions, without duplicates."""
    metadata = validation_dir / "metadata.jsonl"
    texts = [str(row["text"]) for row in read_jsonl(metadata) if "text" in row] if metadata.is_file() else []
    validation = list(dict.fromkeys(texts))[:max_validation]
    combined = list(dict.fromkeys([*prompts, *validation]))
    if not combined:
        raise ValueError(f"no prompts: set evaluate.prompts or provide {metadata} with a text column")
    return combined


def generate_samples(
    pipe: StableDiffusionPipeline, prompts: list[str], settings: EvaluateConfig, *, resolution_px: int, model: str
) -> list[Sample]:
    """One image per prompt and seed; all prompts of a seed in one batch, each with its own generator.

    CPU generators make the starting noise identical on every device, so base and fine-tuned
    images of one seed start from the same latents.
    """
    samples = []
    for seed in settings.seeds:
        images = pipe(
            prompt=prompts,
            height=resolution_px,
            width=resolution_px,
            num_inference_steps=settings.num_inference_steps,
            guidance_scale=settings.guidance_scale,
            generator=[torch.Generator("cpu").manual_seed(seed) for _ in prompts],
            output_type="pil",
        ).images
        samples += [Sample(prompt, seed, model, image) for prompt, image in zip(prompts, images, strict=True)]
    return samples


@torch.inference_mode()
def clip_scores(
    images: list[Image.Image], prompts: list[str], *, clip: ClipBundle, batch_size: int = 32
) -> list[float]:
    """CLIP score of each image with its prompt: 100 x cosine similarity, floored at 0 (torchmetrics).

    Args:
        images: images to score, paired with ``prompts`` by position.
        prompts: one text per image; longer texts are truncated to CLIP's 77 tokens.
        clip: from :func:`pakfashion.models.clip.load_clip`.
        batch_size: pairs per forward pass.
    """
    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images but {len(prompts)} prompts: pass one prompt per image")
    scores: list[float] = []
    for start in range(0, len(images), batch_size):
        inputs = clip.processor(
            text=prompts[start : start + batch_size],
            images=images[start : start + batch_size],
            return_tensors="pt",
            padding=True,
            truncation=True,
        ).to(clip.device, clip.model.dtype)  # casts only the float tensors (pixel_values)
        outputs = clip.model(**inputs)  # image_embeds and text_embeds are L2-normalised
        cosine = (outputs.image_embeds * outputs.text_embeds).sum(dim=-1)
        scores += (100 * cosine).clamp(min=0).float().tolist()
    return scores


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


def _draw_prompt(draw: ImageDraw.ImageDraw, prompt: str, *, top_px: int, cell_px: int) -> None:
    """Wrap ``prompt`` into the label column, cut to the lines that fit the row."""
    font = ImageFont.load_default()
    max_lines = max(1, (cell_px - 8) // LINE_HEIGHT_PX)
    lines = textwrap.wrap(prompt, width=(LABEL_WIDTH_PX - 8) // CHAR_WIDTH_PX, max_lines=max_lines)
    draw.multiline_text((4, top_px + 4), "\n".join(lines), fill="black", font=font, spacing=2)


def sample_grid(samples: list[Sample], *, prompts: list[str], seeds: list[int], cell_px: int) -> Image.Image:
    """A labelled grid: rows = prompts; columns = for each seed, base then fine-tuned.

    Size: ``LABEL_WIDTH_PX + 2 * len(seeds) * cell_px`` by ``HEADER_HEIGHT_PX + len(prompts) * cell_px``.
    """
    columns = [(seed, model) for seed in seeds for model in (BASE, FINETUNED)]
    size = (LABEL_WIDTH_PX + len(columns) * cell_px, HEADER_HEIGHT_PX + len(prompts) * cell_px)
    grid = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(grid)
    for col, (seed, model) in enumerate(columns):
        left = LABEL_WIDTH_PX + col * cell_px
        draw.multiline_text((left + 2, 2), f"seed {seed}\n{model}", fill="black", font=ImageFont.load_default())
    by_key = {(s.prompt, s.seed, s.model): s.image for s in samples}
    for row, prompt in enumerate(prompts):
        top = HEADER_HEIGHT_PX + row * cell_px
        _draw_prompt(draw, prompt, top_px=top, cell_px=cell_px)
        for col, (seed, model) in enumerate(columns):
            image = by_key[(prompt, seed, model)].convert("RGB").resize((cell_px, cell_px))
            grid.paste(image, (LABEL_WIDTH_PX + col * cell_px, top))
    return grid


def write_scores_csv(path: Path, rows: list[ScoreRow]) -> None:
    """Write ``prompt,seed,model,clip_score`` for ``dvc plots``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["prompt", "seed", "model", "clip_score"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(asdict(row) for row in rows)
    write_text_atomic(path, buffer.getvalue())


def write_grid(path: Path, grid: Image.Image) -> None:
    """Save the grid as PNG atomically."""
    buffer = io.BytesIO()
    grid.save(buffer, format="PNG")
    write_bytes_atomic(path, buffer.getvalue())


def generate_both(
    pretrained: str,
    lora_dir: Path,
    prompts: list[str],
    settings: EvaluateConfig,
    *,
    resolution_px: int,
    device: str,
) -> list[Sample]:
    """Samples of the base pipeline, then of the same pipeline with the LoRA loaded."""
    pipe = load_pipeline(pretrained, device=device)
    base = generate_samples(pipe, prompts, settings, resolution_px=resolution_px, model=BASE)
    load_lora(pipe, lora_dir)
    tuned = generate_samples(pipe, prompts, settings, resolution_px=resolution_px, model=FINETUNED)
    return base + tuned


def score_samples(samples: list[Sample], *, clip_model: str, device: str) -> list[ScoreRow]:
    """CLIP-score every sample against its own prompt."""
    clip = load_clip(clip_model, device=device)
    scores = clip_scores([s.image for s in samples], [s.prompt for s in samples], clip=clip)
    return [ScoreRow(s.prompt, s.seed, s.model, score) for s, score in zip(samples, scores, strict=True)]


def evaluate(
    paths: PathsConfig, model: ModelConfig, settings: EvaluateConfig, *, lora_dir: Path, run: Any | None = None
) -> dict[str, float | int]:
    """Run the whole stage and write its outputs; returns the metrics written to ``eval.json``."""
    device = default_device()
    prompts = eval_prompts(settings.prompts, paths.dataset / "validation")
    log.info("evaluating %d prompts x %d seeds on %s", len(prompts), len(settings.seeds), device)
    samples = generate_both(
        model.pretrained, lora_dir, prompts, settings, resolution_px=model.resolution, device=device
    )
    rows = score_samples(samples, clip_model=settings.clip_model, device=device)
    metrics = summarize(rows)
    grid = sample_grid(samples, prompts=prompts, seeds=settings.seeds, cell_px=model.resolution)
    write_json(paths.metrics / "eval.json", metrics)
    write_scores_csv(paths.plots / "clip_scores.csv", rows)
    write_grid(paths.reports / "samples.png", grid)
    log.info("CLIP score base %.2f, fine-tuned %.2f", metrics["clip_score_base"], metrics["clip_score_finetuned"])
    if run is not None:
        import wandb

        run.log({**metrics, "samples": wandb.Image(grid, caption="rows: prompts; columns: seed x model")})
    return metrics


@stage_main
def main(cfg: DictConfig) -> None:
    """Stage entry: ``python -m pakfashion.evaluate`` (reads params.yaml through stage.yaml)."""
    from omegaconf import OmegaConf

    paths = as_typed(cfg.paths, PathsConfig)
    model, settings = as_typed(cfg.model, ModelConfig), as_typed(cfg.evaluate, EvaluateConfig)
    lora_dir = paths.models / as_typed(cfg.train, TrainConfig).run_name
    tracking = as_typed(cfg.tracking.wandb, WandbConfig)
    config = OmegaConf.to_container(cfg, resolve=True)
    run = start_run(tracking, job_type="evaluate", config=config, state_dir=paths.state)
    try:
        evaluate(paths, model, settings, lora_dir=lora_dir, run=run)
    finally:
        finish_run(run)


if __name__ == "__main__":
    main()
