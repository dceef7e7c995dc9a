"""Validation grids during training: fixed prompts and seeds drawn with the UNet being trained.

Every ``train.validation_every`` steps the main process builds (once) a pipeline around the training UNet,
generates every prompt with every seed (a CPU generator per image, so a seed starts from the same noise at
every step and on every device), and saves a grid (rows: prompts, columns: seeds) to
``<state>/train/<run_name>/validation/step-<N>.png`` and to W&B as ``validation``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image, ImageDraw, ImageFont

from pakfashion.config import TrainConfig
from pakfashion.models.sampling import Sampling, generate_images, grid_jobs, write_png

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

log = logging.getLogger(__name__)

LABEL_PX = 14
VALIDATION_GUIDANCE = 7.5  # diffusers' default


def validation_grid(images: list[Image.Image], *, prompts: list[str], seeds: list[int]) -> Image.Image:
    """Images in :func:`grid_jobs` order (seed-major) as rows = prompts, columns = seeds, each row labelled."""
    cell_w, cell_h = images[0].size
    grid = Image.new("RGB", (len(seeds) * cell_w, len(prompts) * (cell_h + LABEL_PX)), "white")
    draw, font = ImageDraw.Draw(grid), ImageFont.load_default()
    for index, image in enumerate(images):
        col, row = divmod(index, len(prompts))
        top = row * (cell_h + LABEL_PX)
        if col == 0:
            draw.text((2, top + 1), prompts[row], fill="black", font=font)
        grid.paste(image.convert("RGB"), (col * cell_w, top + LABEL_PX))
    return grid


@dataclass
class Validator:
    """Draws the validation grid with the training UNet; builds its pipeline on first use."""

    pretrained: str
    settings: TrainConfig
    resolution_px: int
    out_dir: Path
    run: Any | None = None
    _pipe: DiffusionPipeline | None = field(default=None, repr=False)

    def due(self, step: int) -> bool:
        """Whether ``step`` is a validation step."""
        every = self.settings.validation_every
        return bool(every) and (step % every == 0 or step == self.settings.max_steps)

    def pipeline(self, unet: torch.nn.Module, *, dtype: torch.dtype, device: torch.device) -> DiffusionPipeline:
        """The base pipeline with ``unet`` (the training one, not a copy) in it."""
        from diffusers import DiffusionPipeline

        if self._pipe is None:
            self._pipe = DiffusionPipeline.from_pretrained(self.pretrained, unet=unet, dtype=dtype).to(device)
            self._pipe.set_progress_bar_config(disable=True)
        return self._pipe

    @torch.no_grad()
    def __call__(self, unet: torch.nn.Module, *, step: int, dtype: torch.dtype, device: torch.device) -> Path:
        """Draw, save and log the grid for ``step``; returns the PNG path."""
        prompts, seeds = self.settings.validation_prompts, self.settings.validation_seeds
        sampling = Sampling(self.settings.validation_inference_steps, VALIDATION_GUIDANCE, batch_size=len(prompts))
        pipe = self.pipeline(unet, dtype=dtype, device=device)
        was_training = unet.training
        unet.eval()
        images = list(
            generate_images(
                pipe, grid_jobs(prompts, seeds), sampling, resolution_px=self.resolution_px, desc="validation"
            )
        )
        unet.train(was_training)
        grid = validation_grid(images, prompts=prompts, seeds=seeds)
        path = self.out_dir / f"step-{step}.png"
        write_png(path, grid)
        if self.run is not None:
            import wandb

            self.run.log({"validation": wandb.Image(grid, caption="rows: prompts; columns: seeds")}, step=step)
        log.info("validation grid for step %d: %s", step, path)
        return path
