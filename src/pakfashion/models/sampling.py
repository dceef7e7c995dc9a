"""Reproducible sampling of fixed prompts x seeds, shared by the evaluate stage and training validation."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image
from tqdm import tqdm

from pakfashion.common.files import write_bytes_atomic

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline


@dataclass(frozen=True)
class Job:
    """One image to generate: a prompt and the seed of its starting noise."""

    prompt: str
    seed: int


@dataclass(frozen=True)
class Sampling:
    """Pipeline-call settings: denoising steps, guidance, images per call."""

    num_inference_steps: int
    guidance_scale: float
    batch_size: int


def grid_jobs(prompts: list[str], seeds: list[int]) -> list[Job]:
    """Every prompt with every seed, seed-major (a grid's column order)."""
    return [Job(prompt, seed) for seed in seeds for prompt in prompts]


def generate_images(
    pipe: DiffusionPipeline, jobs: list[Job], sampling: Sampling, *, resolution_px: int, desc: str
) -> Iterator[Image.Image]:
    """Images of ``jobs`` in order, ``sampling.batch_size`` per pipeline call, each with its own generator.

    CPU generators make the starting noise of a seed identical on every device and in any batch, so
    images of one job from two models (or two training steps) start from the same latents.
    """
    batches = [jobs[start : start + sampling.batch_size] for start in range(0, len(jobs), sampling.batch_size)]
    for batch in tqdm(batches, desc=desc, unit="batch", mininterval=2.0, disable=None):
        yield from pipe(
            prompt=[job.prompt for job in batch],
            height=resolution_px,
            width=resolution_px,
            num_inference_steps=sampling.num_inference_steps,
            guidance_scale=sampling.guidance_scale,
            generator=[torch.Generator("cpu").manual_seed(job.seed) for job in batch],
            output_type="pil",
        ).images


def write_png(path: Path, image: Image.Image) -> None:
    """Save ``image`` as PNG atomically."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    write_bytes_atomic(path, buffer.getvalue())
