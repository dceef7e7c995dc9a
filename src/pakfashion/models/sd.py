"""Stable Diffusion (1.x/2.x or SDXL) inference loading by name or folder; the pipeline class comes from the
model's ``model_index.json``; :func:`load_run` loads what the train stage wrote (the layout is in
:mod:`pakfashion.contracts`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pakfashion.contracts import LORA_WEIGHTS_FILE, PIPELINE_INDEX_FILE, is_full_run
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


def load_run(run_dir: Path, *, base: str | DiffusionPipeline, device: str) -> DiffusionPipeline:
    """The model the train stage wrote to ``run_dir``, ready to generate.

    Args:
        run_dir: ``<paths.models>/<run>``.
        base: the base pipeline a LoRA run is added to, or its name or folder (loaded only for a LoRA run).
            A loaded pipeline gets the LoRA in place and is returned.
        device: where a pipeline loaded here goes.

    Returns:
        The run's own pipeline for a whole-pipeline run, else ``base`` with the run's LoRA.

    Raises:
        FileNotFoundError: ``run_dir`` holds neither, naming the stage to run.
    """
    if is_full_run(run_dir):
        return load_pipeline(str(run_dir), device=device)
    weights = run_dir / LORA_WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(
            f"{run_dir} has neither {LORA_WEIGHTS_FILE} nor {PIPELINE_INDEX_FILE}: run the train stage "
            "(dvc repro train) or fix train.run_name"
        )
    pipe = load_pipeline(base, device=device) if isinstance(base, str) else base
    pipe.load_lora_weights(run_dir, weight_name=LORA_WEIGHTS_FILE)
    log.info("loaded LoRA %s", weights)
    return pipe
