"""Train stage: LoRA fine-tuning of a Stable Diffusion UNet on the captioned imagefolder dataset.

Reads ``paths.dataset/train/metadata.jsonl`` (``file_name``, ``text``) and the images beside it, and
the base model ``model.pretrained`` (hub name or folder with unet/vae/text_encoder/tokenizer/scheduler).
Writes ``paths.models/<train.run_name>/pytorch_lora_weights.safetensors`` (loadable with
``StableDiffusionPipeline.load_lora_weights``), ``paths.metrics/train.json`` and
``paths.plots/train_loss.csv``. The flow follows diffusers' ``train_text_to_image_lora.py``, split
into functions, with gradient clipping applied to the real LoRA parameters.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pakfashion.config import (
    ModelConfig,
    PathsConfig,
    TrainConfig,
    WandbConfig,
    as_typed,
    stage_main,
)
from pakfashion.files import read_jsonl, write_json, write_text_atomic
from pakfashion.models.sd import LORA_WEIGHTS_FILE
from pakfashion.tracking import finish_run, start_run

if TYPE_CHECKING:
    from accelerate import Accelerator
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from omegaconf import DictConfig
    from transformers import CLIPTextModel, CLIPTokenizer

log = logging.getLogger(__name__)

LORA_TARGETS = ["to_k", "to_q", "to_v", "to_out.0"]
WEIGHT_DTYPES = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class SdModels:
    """The pieces of a Stable Diffusion pipeline that training needs; the UNet carries the LoRA."""

    tokenizer: CLIPTokenizer
    text_encoder: CLIPTextModel
    vae: AutoencoderKL
    unet: UNet2DConditionModel
    noise_scheduler: DDPMScheduler
    weight_dtype: torch.dtype


@dataclass(frozen=True)
class Example:
    image_path: Path
    text: str


@dataclass
class FitResult:
    """What :func:`fit` measured: per-step losses and one row per logged step."""

    steps: int
    epochs: int
    train_seconds: float
    losses: list[float]
    rows: list[dict[str, float]] = field(default_factory=list)


def weight_dtype_for(mixed_precision: str) -> torch.dtype:
    """dtype of the frozen weights for accelerate's ``mixed_precision`` setting."""
    if mixed_precision not in WEIGHT_DTYPES:
        raise ValueError(f"train.mixed_precision={mixed_precision!r}; use one of {sorted(WEIGHT_DTYPES)}")
    return WEIGHT_DTYPES[mixed_precision]


def load_models(pretrained: str, *, rank: int, lora_alpha: int, weight_dtype: torch.dtype) -> SdModels:
    """Load SD components from a hub name or folder, freeze them and add a LoRA adapter to the UNet.

    Frozen weights are cast to ``weight_dtype``; the LoRA parameters stay fp32 for the optimizer.
    """
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig
    from transformers import CLIPTextModel, CLIPTokenizer

    text_encoder = CLIPTextModel.from_pretrained(pretrained, subfolder="text_encoder", dtype=weight_dtype)
    vae = AutoencoderKL.from_pretrained(pretrained, subfolder="vae", dtype=weight_dtype)
    unet = UNet2DConditionModel.from_pretrained(pretrained, subfolder="unet", dtype=weight_dtype)
    for module in (text_encoder, vae, unet):
        module.requires_grad_(False)
    lora = LoraConfig(r=rank, lora_alpha=lora_alpha, init_lora_weights="gaussian", target_modules=LORA_TARGETS)
    unet.add_adapter(lora)
    cast_training_params(unet, dtype=torch.float32)
    return SdModels(
        tokenizer=CLIPTokenizer.from_pretrained(pretrained, subfolder="tokenizer"),
        text_encoder=text_encoder,
        vae=vae,
        unet=unet,
        noise_scheduler=DDPMScheduler.from_pretrained(pretrained, subfolder="scheduler"),
        weight_dtype=weight_dtype,
    )


def lora_parameters(unet: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The trainable (LoRA) parameters as a list, so clipping and the optimizer see the same ones."""
    params = [p for p in unet.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the UNet has no trainable parameters: add the LoRA adapter first (load_models)")
    return params


def read_examples(split_dir: Path) -> list[Example]:
    """Read an imagefolder split's ``metadata.jsonl`` (``file_name`` and ``text`` columns)."""
    metadata = split_dir / "metadata.jsonl"
    if not metadata.is_file():
        raise FileNotFoundError(f"{metadata} not found: run the caption stage or set paths.dataset")
    examples = []
    for line, row in enumerate(read_jsonl(metadata), start=1):
        if "file_name" not in row or "text" not in row:
            raise ValueError(f"{metadata}:{line} lacks file_name/text; has {sorted(row)}")
        examples.append(Example(image_path=split_dir / row["file_name"], text=str(row["text"])))
    if not examples:
        raise ValueError(f"{metadata} has no rows: the dataset is empty")
    return examples


def preprocess_image(image: Image.Image, *, resolution_px: int, flip: bool) -> torch.Tensor:
    """Resize the shorter side to ``resolution_px``, center-crop, maybe flip; CHW float in [-1, 1]."""
    image = image.convert("RGB")
    scale = resolution_px / min(image.size)
    size = (max(resolution_px, round(image.width * scale)), max(resolution_px, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.BILINEAR)
    left, top = round((size[0] - resolution_px) / 2), round((size[1] - resolution_px) / 2)
    image = image.crop((left, top, left + resolution_px, top + resolution_px))
    if flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)
    return pixels.float() / 127.5 - 1.0


def tokenize(tokenizer: CLIPTokenizer, texts: list[str]) -> torch.Tensor:
    """Token ids padded/truncated to the tokenizer's length (77 for SD's CLIP)."""
    return tokenizer(
        texts, max_length=tokenizer.model_max_length, padding="max_length", truncation=True, return_tensors="pt"
    ).input_ids


class CaptionedImages(torch.utils.data.Dataset):
    """Images loaded lazily and transformed per item; captions tokenized once up front."""

    def __init__(self, examples: list[Example], input_ids: torch.Tensor, *, resolution_px: int, random_flip: bool):
        self.examples = examples
        self.input_ids = input_ids
        self.resolution_px = resolution_px
        self.random_flip = random_flip

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        flip = self.random_flip and bool(torch.rand(()) < 0.5)
        with Image.open(self.examples[index].image_path) as image:
            pixels = preprocess_image(image, resolution_px=self.resolution_px, flip=flip)
        return {"pixel_values": pixels, "input_ids": self.input_ids[index]}


def build_dataset(
    dataset_dir: Path, *, tokenizer: CLIPTokenizer, resolution_px: int, random_flip: bool
) -> CaptionedImages:
    """The train split of the imagefolder dataset at ``dataset_dir`` as a torch dataset."""
    examples = read_examples(dataset_dir / "train")
    input_ids = tokenize(tokenizer, [example.text for example in examples])
    return CaptionedImages(examples, input_ids, resolution_px=resolution_px, random_flip=random_flip)


def build_optimizer(params: list[torch.nn.Parameter], *, lr: float) -> torch.optim.Optimizer:
    """AdamW over the LoRA parameters only."""
    return torch.optim.AdamW(params, lr=lr)


def build_lr_scheduler(
    optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int, num_processes: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """Constant LR after a linear warmup; counts are scaled because accelerate steps it per process."""
    from diffusers.optimization import get_scheduler

    return get_scheduler(
        "constant_with_warmup",
        optimizer=optimizer,
        num_warmup_steps=warmup_steps * num_processes,
        num_training_steps=total_steps * num_processes,
    )


def noise_target(
    scheduler: DDPMScheduler, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
) -> torch.Tensor:
    """What the UNet must predict under the scheduler's ``prediction_type``."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(latents, noise, timesteps)
    raise ValueError(f"prediction_type {kind!r} in the model's scheduler config; use epsilon or v_prediction")


def train_step(models: SdModels, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Diffusion loss of one batch: encode, add noise at random timesteps, predict, MSE."""
    with torch.no_grad():
        pixels = batch["pixel_values"].to(models.weight_dtype)
        latents = models.vae.encode(pixels).latent_dist.sample() * models.vae.config.scaling_factor
        text_states = models.text_encoder(batch["input_ids"], return_dict=False)[0]
    noise = torch.randn_like(latents)
    num_timesteps = models.noise_scheduler.config.num_train_timesteps
    timesteps = torch.randint(0, num_timesteps, (latents.shape[0],), device=latents.device).long()
    noisy = models.noise_scheduler.add_noise(latents, noise, timesteps)
    prediction = models.unet(noisy, timesteps, text_states, return_dict=False)[0]
    target = noise_target(models.noise_scheduler, latents, noise, timesteps)
    return F.mse_loss(prediction.float(), target.float())


def clip_gradients(
    accelerator: Accelerator, params: list[torch.nn.Parameter], *, max_grad_norm: float
) -> torch.Tensor:
    """Clip the LoRA gradients in place; returns their total norm before clipping.

    Takes the parameter list itself: diffusers' script passes a generator that its optimizer had
    already consumed, so its clipping never ran.
    """
    return accelerator.clip_grad_norm_(params, max_grad_norm)


def _batches(loader: torch.utils.data.DataLoader) -> Iterator[dict[str, torch.Tensor]]:
    """Loop over the loader epoch after epoch."""
    while True:
        yield from loader


def _log_banner(samples: int, batches_per_epoch: int, settings: TrainConfig, *, num_processes: int) -> int:
    """Log the run's shape at INFO; returns the number of epochs ``max_steps`` spans."""
    steps_per_epoch = max(1, math.ceil(batches_per_epoch / settings.grad_accum))
    epochs = math.ceil(settings.max_steps / steps_per_epoch)
    log.info(
        "training: %d samples, %d epochs, per-device batch %d, effective batch %d "
        "(%d processes), gradient accumulation %d, %d optimizer steps",
        samples, epochs, settings.batch_size, settings.effective_batch_size * num_processes,
        num_processes, settings.grad_accum, settings.max_steps,
    )  # fmt: skip
    return epochs


@dataclass(frozen=True)
class _MicroStep:
    loss: torch.Tensor
    grad_norm: torch.Tensor | None  # set when this micro-batch completed an optimizer step


@dataclass
class _LossLog:
    """Per-step losses kept as tensors; converted to floats only every ``log_every`` steps (one sync)."""

    log_every: int
    run: Any | None
    step_losses: list[torch.Tensor] = field(default_factory=list)
    rows: list[dict[str, float]] = field(default_factory=list)
    window_start: float = field(default_factory=time.perf_counter)

    def add(self, step: int, loss: torch.Tensor, *, lr: float, grad_norm: torch.Tensor, last: bool) -> None:
        """Record one optimizer step's loss; log a row at ``log_every`` and at the last step."""
        self.step_losses.append(loss)
        if step % self.log_every and not last:
            return
        done = self.rows[-1]["step"] if self.rows else 0
        window = torch.stack(self.step_losses[int(done) :]).mean().item()
        now = time.perf_counter()
        row = {"step": step, "loss": window, "lr": lr}
        self.rows.append(row)
        metrics = {**row, "grad_norm": float(grad_norm), "steps_per_s": (step - done) / (now - self.window_start)}
        self.window_start = now
        log.info("step %d: loss %.4f, lr %.2e, %.2f steps/s", step, window, lr, metrics["steps_per_s"])
        if self.run is not None:
            self.run.log(metrics, step=step)


@dataclass
class TrainingState:
    """Everything the loop mutates, prepared by accelerate (what a checkpoint will save)."""

    accelerator: Accelerator
    models: SdModels
    params: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    lr_scheduler: torch.optim.lr_scheduler.LRScheduler
    loader: torch.utils.data.DataLoader


def prepare_training(models: SdModels, dataset: CaptionedImages, settings: TrainConfig) -> TrainingState:
    """Build the accelerator, optimizer, LR schedule and loader, and move the models to the device."""
    from accelerate import Accelerator

    accelerator = Accelerator(
        mixed_precision=settings.mixed_precision, gradient_accumulation_steps=settings.grad_accum
    )
    params = lora_parameters(models.unet)
    optimizer = build_optimizer(params, lr=settings.lr)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=settings.batch_size, shuffle=True, num_workers=settings.num_workers
    )
    lr_scheduler = build_lr_scheduler(
        optimizer, warmup_steps=settings.lr_warmup_steps, total_steps=settings.max_steps,
        num_processes=accelerator.num_processes,
    )  # fmt: skip
    unet, optimizer, loader, lr_scheduler = accelerator.prepare(models.unet, optimizer, loader, lr_scheduler)
    models.vae.to(accelerator.device)
    models.text_encoder.to(accelerator.device)
    return TrainingState(accelerator, replace(models, unet=unet), params, optimizer, lr_scheduler, loader)


def _micro_step(state: TrainingState, batch: dict[str, torch.Tensor], *, max_grad_norm: float) -> _MicroStep:
    """Forward and backward one micro-batch; clip and step when accumulation is complete."""
    with state.accelerator.accumulate(state.models.unet):
        loss = train_step(state.models, batch)
        state.accelerator.backward(loss)
        grad_norm = None
        if state.accelerator.sync_gradients:
            grad_norm = clip_gradients(state.accelerator, state.params, max_grad_norm=max_grad_norm)
        state.optimizer.step()  # accelerate skips these until the last micro-batch of an accumulation
        state.lr_scheduler.step()
        state.optimizer.zero_grad()
    return _MicroStep(loss=loss.detach(), grad_norm=grad_norm)


def fit(models: SdModels, dataset: CaptionedImages, settings: TrainConfig, *, run: Any | None = None) -> FitResult:
    """Train the UNet's LoRA for ``settings.max_steps`` optimizer steps (micro-batches x accumulation).

    Args:
        models: from :func:`load_models`; the UNet's LoRA weights are updated in place.
        dataset: from :func:`build_dataset`.
        settings: batch size, accumulation, LR, clipping, mixed precision, logging interval.
        run: an optional W&B run that receives loss, lr, grad_norm and steps_per_s.
    """
    from tqdm.auto import tqdm

    state = prepare_training(models, dataset, settings)
    epochs = _log_banner(len(dataset), len(state.loader), settings, num_processes=state.accelerator.num_processes)
    losses = _LossLog(log_every=settings.log_every, run=run)
    hidden = not sys.stderr.isatty() or not state.accelerator.is_main_process
    progress = tqdm(total=settings.max_steps, disable=hidden)
    batches = _batches(state.loader)
    micro_losses: list[torch.Tensor] = []
    step, start = 0, time.perf_counter()
    while step < settings.max_steps:
        micro = _micro_step(state, next(batches), max_grad_norm=settings.max_grad_norm)
        micro_losses.append(micro.loss)
        if micro.grad_norm is None:  # accumulation not complete: no optimizer step yet
            continue
        step += 1
        progress.update(1)
        lr = state.lr_scheduler.get_last_lr()[0]
        last = step == settings.max_steps
        losses.add(step, torch.stack(micro_losses).mean(), lr=lr, grad_norm=micro.grad_norm, last=last)
        micro_losses.clear()
    progress.close()
    return FitResult(
        steps=step, epochs=epochs, train_seconds=time.perf_counter() - start,
        losses=torch.stack(losses.step_losses).tolist(), rows=losses.rows,
    )  # fmt: skip


def save_lora(unet: torch.nn.Module, out_dir: Path) -> Path:
    """Save the UNet's LoRA in diffusers' format (``load_lora_weights`` reads it); returns the file."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    # The adapter config (rank, alpha) travels in the file; without it a loader assumes alpha == rank.
    StableDiffusionPipeline.save_lora_weights(
        out_dir,
        unet_lora_layers=layers,
        unet_lora_adapter_metadata=unet.peft_config["default"].to_dict(),
        weight_name=LORA_WEIGHTS_FILE,
    )
    return out_dir / LORA_WEIGHTS_FILE


def train_metrics(result: FitResult, *, samples: int, effective_batch_size: int) -> dict[str, float | int]:
    """The flat numbers written to ``train.json``."""
    return {
        "steps": result.steps,
        "epochs": result.epochs,
        "samples": samples,
        "samples_seen": result.steps * effective_batch_size,
        "effective_batch_size": effective_batch_size,
        "final_loss": result.losses[-1],
        "mean_loss_last_10": float(np.mean(result.losses[-10:])),
        "train_seconds": round(result.train_seconds, 3),
        "steps_per_s": round(result.steps / result.train_seconds, 4),
    }


def write_loss_csv(path: Path, rows: list[dict[str, float]]) -> None:
    """Write ``step,loss,lr`` rows (one per logged step) for ``dvc plots``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["step", "loss", "lr"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def train(
    paths: PathsConfig, model: ModelConfig, settings: TrainConfig, *, run: Any | None = None
) -> dict[str, Any]:
    """Run the whole stage: load, fit, save the LoRA, write metrics and the loss curve.

    Returns:
        The metrics written to ``paths.metrics/train.json``.
    """
    weight_dtype = weight_dtype_for(settings.mixed_precision)
    models = load_models(
        model.pretrained, rank=settings.rank, lora_alpha=settings.lora_alpha, weight_dtype=weight_dtype
    )
    dataset = build_dataset(
        paths.dataset, tokenizer=models.tokenizer, resolution_px=model.resolution, random_flip=settings.random_flip
    )
    result = fit(models, dataset, settings, run=run)
    weights = save_lora(models.unet, paths.models / settings.run_name)
    metrics = train_metrics(result, samples=len(dataset), effective_batch_size=settings.effective_batch_size)
    write_json(paths.metrics / "train.json", metrics)
    write_loss_csv(paths.plots / "train_loss.csv", result.rows)
    log.info("saved LoRA to %s; final loss %.4f", weights, metrics["final_loss"])
    return metrics


@stage_main
def main(cfg: DictConfig) -> None:
    """Stage entry: ``python -m pakfashion.train`` (reads params.yaml through stage.yaml)."""
    from accelerate.utils import set_seed
    from omegaconf import OmegaConf

    paths = as_typed(cfg.paths, PathsConfig)
    set_seed(cfg.seed)
    tracking = as_typed(cfg.tracking.wandb, WandbConfig)
    config = OmegaConf.to_container(cfg, resolve=True)
    run = start_run(tracking, job_type="train", config=config, state_dir=paths.state)
    try:
        train(paths, as_typed(cfg.model, ModelConfig), as_typed(cfg.train, TrainConfig), run=run)
    finally:
        finish_run(run)


if __name__ == "__main__":
    main()
