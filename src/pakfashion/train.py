"""Train stage: fine-tune a Stable Diffusion UNet (LoRA or all weights) on the captioned imagefolder dataset.

Reads ``paths.dataset/train/metadata.jsonl`` (``file_name``, ``text``) and the images beside it, and the
base model ``model.pretrained`` (hub name or folder with unet/vae/text_encoder/tokenizer/scheduler).
Writes to ``paths.models/<train.run_name>/`` a model card (``README.md``) and either
``pytorch_lora_weights.safetensors`` (``train.method: lora``; ``StableDiffusionPipeline.load_lora_weights``)
or a whole pipeline (``full``, optionally EMA weights; ``StableDiffusionPipeline.from_pretrained``), plus
``paths.metrics/train.json`` and ``paths.plots/train_loss.csv``. The flow follows diffusers'
``train_text_to_image_lora.py`` and ``train_text_to_image.py``, split into functions, with three changes:
images and captions are encoded once into a latent cache (:mod:`pakfashion.training.data`), gradient
clipping applies to the real trained parameters, and a run killed at any point resumes from its last
checkpoint (:mod:`pakfashion.training.checkpoint`) with the weights, optimizer, schedule, data order and
noise RNG restored.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from pakfashion.common.tracking import finish_run, start_run
from pakfashion.config import (
    ModelConfig,
    PathsConfig,
    TrainConfig,
    WandbConfig,
    as_typed,
    stage_main,
)
from pakfashion.training.loop import train


@stage_main
def main(cfg: DictConfig) -> None:
    """Stage entry: ``python -m pakfashion.train`` (reads params.yaml through stage.yaml)."""
    from accelerate import PartialState
    from omegaconf import OmegaConf

    paths = as_typed(cfg.paths, PathsConfig)
    tracking = as_typed(cfg.tracking.wandb, WandbConfig)
    config = OmegaConf.to_container(cfg, resolve=True)
    main_process = PartialState().is_main_process  # under `accelerate launch`, one W&B run, not one per GPU
    run = start_run(tracking, job_type="train", config=config, state_dir=paths.state) if main_process else None
    try:
        model, settings = as_typed(cfg.model, ModelConfig), as_typed(cfg.train, TrainConfig)
        train(paths, model, settings, seed=cfg.seed, run=run, lock_file=Path("dvc.lock"))
    finally:
        finish_run(run)


if __name__ == "__main__":
    main()
