"""Stable Diffusion (1.x/2.x or SDXL) inference loading by name or folder; the pipeline class comes from the
model's ``model_index.json``. A trained run (LoRA or whole pipeline) loads with :func:`pakfashion.contracts.load_run`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pakfashion.models.devices import inference_dtype

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

log = logging.getLogger(__name__)


def load_pipeline(pretrained: str, *, device: str) -> DiffusionPipeline:
    """Load a Stable Diffusion or SDXL pipeline (fp16 on CUDA, fp32 on CPU) without progress bars."""
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(pretrained, dtype=inference_dtype(device)).to(device)
    pipe.set_progress_bar_config(disable=True)
    log.info("loaded %s on %s", pretrained, device)
    return pipe
