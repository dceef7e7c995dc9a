"""Stable Diffusion (1.x/2.x or SDXL) inference loading by name or folder, and what the train stage writes
(LoRA or pipeline). The pipeline class comes from the model's ``model_index.json``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pakfashion.models.devices import inference_dtype

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

log = logging.getLogger(__name__)

LORA_WEIGHTS_FILE = "pytorch_lora_weights.safetensors"


def load_pipeline(pretrained: str, *, device: str) -> DiffusionPipeline:
    """Load a Stable Diffusion or SDXL pipeline (fp16 on CUDA, fp32 on CPU) without progress bars."""
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(pretrained, dtype=inference_dtype(device)).to(device)
    pipe.set_progress_bar_config(disable=True)
    log.info("loaded %s on %s", pretrained, device)
    return pipe


def load_lora(pipe: DiffusionPipeline, lora_dir: Path) -> None:
    """Add the LoRA saved in ``lora_dir`` by the train stage to ``pipe``, in place."""
    weights = lora_dir / LORA_WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} not found: run the train stage (or fix train.run_name)")
    pipe.load_lora_weights(lora_dir, weight_name=LORA_WEIGHTS_FILE)
    log.info("loaded LoRA %s", weights)


def load_finetuned(pretrained: str, run_dir: Path, *, device: str) -> DiffusionPipeline:
    """The train stage's model in ``run_dir``: its whole pipeline (``train.method=full``), else the base
    ``pretrained`` with the LoRA from ``run_dir``."""
    if (run_dir / "model_index.json").is_file():
        return load_pipeline(str(run_dir), device=device)
    pipe = load_pipeline(pretrained, device=device)
    load_lora(pipe, run_dir)
    return pipe
