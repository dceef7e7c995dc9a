"""The training loop: accelerate, optimizer and schedule, micro-steps, checkpoints, validation, outputs.

The stage entry is :mod:`pakfashion.train`."""

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

from pakfashion.common.dataset_files import DatasetSplit
from pakfashion.common.files import write_json, write_text_atomic
from pakfashion.config import (
    ModelConfig,
    Optimizer,
    PathsConfig,
    TrainConfig,
    TrainMethod,
)
from pakfashion.contracts import TRAIN_METRICS, TRAIN_SPLIT
from pakfashion.training.card import write_model_card
from pakfashion.training.checkpoint import (
    GeneratorState,
    TrainerState,
    checkpoint_root,
    find_resumable,
    load_checkpoint,
    process_seed,
    register_lora_hooks,
    run_config,
    save_checkpoint,
)
from pakfashion.training.data import (
    BucketBatches,
    CachedLatents,
    TrainingData,
    training_buckets,
    training_data,
)
from pakfashion.training.loss import train_step
from pakfashion.training.models import (
    Denoiser,
    load_denoiser,
    save_lora,
    save_pipeline,
    trainable_parameters,
    weight_dtype_for,
)
from pakfashion.training.validation import Validator

if TYPE_CHECKING:
    from accelerate import Accelerator
    from diffusers.training_utils import EMAModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpointing:
    """Where this run's checkpoints go and the resolved config stored in (and matched against) each."""

    root: Path
    config: dict[str, Any]


@dataclass
class FitResult:
    """What :func:`fit` measured: per-step losses and one row per logged step (resumed runs included)."""

    steps: int
    epochs: int
    train_seconds: float
    losses: list[float]
    rows: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int = 0


def make_accelerator(settings: TrainConfig) -> Accelerator:
    """An accelerator for ``settings.mixed_precision``, gradient accumulation and ``compile`` (inductor)."""
    from accelerate import Accelerator

    return Accelerator(
        mixed_precision=settings.mixed_precision, gradient_accumulation_steps=settings.grad_accum,
        dynamo_backend="inductor" if settings.compile else "no",
    )  # fmt: skip


def build_optimizer(params: list[torch.nn.Parameter], *, lr: float, kind: Optimizer) -> torch.optim.Optimizer:
    """AdamW (torch's, or bitsandbytes' 8-bit one) over the trained parameters only.

    torch's runs fused (one kernel for all tensors) on CPU and CUDA: a LoRA has a few hundred small
    tensors, which the default per-tensor loop updates one by one.
    """
    if kind is Optimizer.adamw:
        fused = all(p.device.type in ("cpu", "cuda") and p.dtype == torch.float32 for p in params)
        return torch.optim.AdamW(params, lr=lr, fused=fused)
    try:
        import bitsandbytes
    except ImportError as error:
        raise RuntimeError(
            "train.optimizer=adamw_8bit needs bitsandbytes (a CUDA GPU): pip install bitsandbytes, "
            "or set train.optimizer=adamw"
        ) from error
    return bitsandbytes.optim.AdamW8bit(params, lr=lr)


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


def clip_gradients(
    accelerator: Accelerator, params: list[torch.nn.Parameter], *, max_grad_norm: float
) -> torch.Tensor:
    """Clip the trained parameters' gradients in place; returns their total norm before clipping.

    Takes the parameter list itself: diffusers' script passes a generator that its optimizer had
    already consumed, so its clipping never ran.
    """
    return accelerator.clip_grad_norm_(params, max_grad_norm)


def steps_per_epoch(batches_per_epoch: int, grad_accum: int) -> int:
    """Optimizer steps in one epoch (accelerate completes a short last accumulation at the epoch's end)."""
    return max(1, math.ceil(batches_per_epoch / grad_accum))


def _batches(
    loader: torch.utils.data.DataLoader, order: BucketBatches, *, first_step: int, grad_accum: int
) -> Iterator[dict[str, torch.Tensor]]:
    """Micro-batches epoch after epoch, from where optimizer step ``first_step`` left off.

    Each epoch's order depends only on (seed, epoch) (``order``, set here directly because accelerate's
    multi-process sharding hides it), so a resumed run replays the interrupted epoch and skips the
    micro-batches it had already used.
    """
    epoch, step_in_epoch = divmod(first_step, steps_per_epoch(len(loader), grad_accum))
    skip = step_in_epoch * grad_accum
    while True:
        order.set_epoch(epoch)
        loader.set_epoch(epoch)
        for index, batch in enumerate(loader):
            if index >= skip:
                yield batch
        skip, epoch = 0, epoch + 1


def _log_banner(samples: int, batches_per_epoch: int, settings: TrainConfig, *, num_processes: int) -> int:
    """Log the run's shape at INFO; returns the number of epochs ``max_steps`` spans."""
    epochs = math.ceil(settings.max_steps / steps_per_epoch(batches_per_epoch, settings.grad_accum))
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
    """Per-step losses kept as tensors until a row is logged or a checkpoint is saved (one sync each)."""

    log_every: int
    run: Any | None
    losses: list[float] = field(default_factory=list)
    rows: list[dict[str, float]] = field(default_factory=list)
    pending: list[torch.Tensor] = field(default_factory=list)
    window_start: float = field(default_factory=time.perf_counter)

    def flush(self) -> None:
        """Move the pending step losses to ``losses`` as floats."""
        if self.pending:
            self.losses.extend(torch.stack(self.pending).tolist())
            self.pending.clear()

    def add(self, step: int, loss: torch.Tensor, *, lr: float, grad_norm: torch.Tensor, last: bool) -> None:
        """Record one optimizer step's loss; log a row at ``log_every`` and at the last step."""
        self.pending.append(loss)
        if step % self.log_every and not last:
            return
        self.flush()
        done = int(self.rows[-1]["step"]) if self.rows else 0
        window = float(np.mean(self.losses[done:]))
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
    """Everything the loop mutates, prepared by accelerate (what a checkpoint saves)."""

    accelerator: Accelerator
    denoiser: Denoiser
    params: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    lr_scheduler: torch.optim.lr_scheduler.LRScheduler
    loader: torch.utils.data.DataLoader
    order: BucketBatches
    generator: torch.Generator
    scaling_factor: float
    ema: EMAModel | None


def build_ema(params: list[torch.nn.Parameter], *, decay: float | None, device: torch.device) -> EMAModel | None:
    """diffusers' EMA of ``params`` (its decay ramps up as ``(1 + step) / (10 + step)``), or None."""
    from diffusers.training_utils import EMAModel

    if decay is None:
        return None
    ema = EMAModel(params, decay=decay)
    ema.to(device)
    return ema


def prepare_training(
    accelerator: Accelerator, denoiser: Denoiser, data: TrainingData, settings: TrainConfig, *, seed: int
) -> TrainingState:
    """Build the optimizer, LR schedule, seeded loader, noise generator and EMA, and register them for checkpoints.

    A LoRA checkpoint holds the adapter only (diffusers' format); a full one, accelerate's copy of the UNet.
    """
    params = trainable_parameters(denoiser.unet)
    optimizer = build_optimizer(params, lr=settings.lr, kind=settings.optimizer)
    order = BucketBatches(data, batch_size=settings.batch_size, seed=seed)
    loader = torch.utils.data.DataLoader(CachedLatents(data), batch_sampler=order, num_workers=settings.num_workers)
    lr_scheduler = build_lr_scheduler(
        optimizer, warmup_steps=settings.lr_warmup_steps, total_steps=settings.max_steps,
        num_processes=accelerator.num_processes,
    )  # fmt: skip
    unet, optimizer, loader, lr_scheduler = accelerator.prepare(denoiser.unet, optimizer, loader, lr_scheduler)
    generator = torch.Generator(accelerator.device).manual_seed(process_seed(seed, accelerator.process_index))
    accelerator.register_for_checkpointing(GeneratorState(generator, accelerator))
    ema = build_ema(params, decay=settings.ema_decay, device=accelerator.device)
    if ema is not None:
        accelerator.register_for_checkpointing(ema)
    if settings.method is TrainMethod.lora:
        register_lora_hooks(accelerator)
    return TrainingState(
        accelerator, replace(denoiser, unet=unet), params, optimizer, lr_scheduler, loader, order, generator,
        data.latents.scaling_factor, ema,
    )  # fmt: skip


def _micro_step(state: TrainingState, batch: dict[str, torch.Tensor], settings: TrainConfig) -> _MicroStep:
    """Forward and backward one micro-batch; clip and step when accumulation is complete."""
    with state.accelerator.accumulate(state.denoiser.unet):
        loss = train_step(
            state.denoiser, batch, settings, scaling_factor=state.scaling_factor, generator=state.generator
        )
        state.accelerator.backward(loss)
        grad_norm = None
        if state.accelerator.sync_gradients:
            grad_norm = clip_gradients(state.accelerator, state.params, max_grad_norm=settings.max_grad_norm)
        state.optimizer.step()  # accelerate skips these until the last micro-batch of an accumulation
        state.lr_scheduler.step()
        state.optimizer.zero_grad()
    if grad_norm is not None and state.ema is not None:
        state.ema.step(state.params)
    return _MicroStep(loss=loss.detach(), grad_norm=grad_norm)


def resume_or_start(state: TrainingState, settings: TrainConfig, checkpointing: Checkpointing | None) -> TrainerState:
    """Restore the newest matching checkpoint into ``state`` (``train.resume: latest``), or start at step 0."""
    if checkpointing is None:
        return TrainerState()
    path = find_resumable(
        checkpointing.root, checkpointing.config, resume=settings.resume, max_steps=settings.max_steps
    )
    if path is None:
        return TrainerState()
    progress = load_checkpoint(state.accelerator, path)
    if state.ema is not None:  # accelerate loads custom states on the CPU
        state.ema.to(state.accelerator.device)
    return progress


def maybe_checkpoint(
    state: TrainingState,
    losses: _LossLog,
    *,
    step: int,
    seconds: float,
    settings: TrainConfig,
    checkpointing: Checkpointing | None,
) -> None:
    """Save a checkpoint every ``checkpoint_every`` steps (0 = never) and at the last step."""
    every = settings.checkpoint_every
    if checkpointing is None or not every or (step % every and step != settings.max_steps):
        return
    losses.flush()
    progress = TrainerState(step=step, losses=losses.losses, rows=losses.rows, train_seconds=seconds)
    save_checkpoint(
        state.accelerator, checkpointing.root, progress, config=checkpointing.config, keep=settings.checkpoints_keep
    )


def maybe_validate(state: TrainingState, validator: Validator | None, *, step: int) -> None:
    """Draw the validation grid on the main process when ``step`` is due; the others wait."""
    if validator is None or not validator.due(step):
        return
    if state.accelerator.is_main_process:
        unet = state.accelerator.unwrap_model(state.denoiser.unet)
        with state.accelerator.autocast():  # fp32 trained weights beside fp16/bf16 frozen ones, as in training
            validator(unet, step=step, dtype=state.denoiser.weight_dtype, device=state.accelerator.device)
    state.accelerator.wait_for_everyone()


def fit(
    denoiser: Denoiser,
    data: TrainingData,
    settings: TrainConfig,
    *,
    accelerator: Accelerator,
    seed: int,
    checkpointing: Checkpointing | None = None,
    run: Any | None = None,
    validator: Validator | None = None,
) -> FitResult:
    """Train the UNet up to ``settings.max_steps`` optimizer steps (micro-batches x accumulation).

    Args:
        denoiser: from :func:`load_denoiser`; its trainable weights are updated in place (and end as the
            EMA weights when ``settings.ema_decay`` is set).
        data: the encoded training split and its captions (:func:`training_data`).
        settings: batch size, accumulation, LR, clipping, loss options, logging and checkpoint intervals.
        accelerator: from :func:`make_accelerator`.
        seed: seeds the data order and the noise/timestep generator.
        checkpointing: where to save checkpoints and resume from; None saves none.
        run: an optional W&B run that receives loss, lr, grad_norm and steps_per_s.
        validator: draws the validation grid when due (main process only).
    """
    from tqdm.auto import tqdm

    state = prepare_training(accelerator, denoiser, data, settings, seed=seed)
    epochs = _log_banner(data.examples, len(state.loader), settings, num_processes=accelerator.num_processes)
    progress = resume_or_start(state, settings, checkpointing)
    resumed_from, seconds_before = progress.step, progress.train_seconds
    losses = _LossLog(log_every=settings.log_every, run=run, losses=progress.losses, rows=progress.rows)
    hidden = not sys.stderr.isatty() or not accelerator.is_main_process
    bar = tqdm(total=settings.max_steps, initial=resumed_from, disable=hidden)
    batches = _batches(state.loader, state.order, first_step=resumed_from, grad_accum=settings.grad_accum)
    micro_losses: list[torch.Tensor] = []
    step, start = resumed_from, time.perf_counter()
    while step < settings.max_steps:
        micro = _micro_step(state, next(batches), settings)
        micro_losses.append(micro.loss)
        if micro.grad_norm is None:  # accumulation not complete: no optimizer step yet
            continue
        step += 1
        bar.update(1)
        lr = state.lr_scheduler.get_last_lr()[0]
        last = step == settings.max_steps
        step_loss = accelerator.reduce(torch.stack(micro_losses).mean(), reduction="mean")  # over processes
        losses.add(step, step_loss, lr=lr, grad_norm=micro.grad_norm, last=last)
        micro_losses.clear()
        seconds = seconds_before + time.perf_counter() - start
        maybe_checkpoint(
            state, losses, step=step, seconds=seconds, settings=settings, checkpointing=checkpointing
        )
        maybe_validate(state, validator, step=step)
    bar.close()
    if state.ema is not None:
        state.ema.copy_to(state.params)
    return FitResult(
        steps=step, epochs=epochs, train_seconds=seconds_before + time.perf_counter() - start,
        losses=losses.losses, rows=losses.rows, resumed_from=resumed_from,
    )  # fmt: skip


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
        "resumed_from_step": result.resumed_from,
    }


def write_loss_csv(path: Path, rows: list[dict[str, float]]) -> None:
    """Write ``step,loss,lr`` rows (one per logged step) for ``dvc plots``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["step", "loss", "lr"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def check_settings(settings: TrainConfig) -> None:
    """Fail before any work on settings that cannot run."""
    if settings.checkpoint_every < 0 or (settings.checkpoint_every and settings.checkpoints_keep < 1):
        raise ValueError(
            f"train.checkpoint_every={settings.checkpoint_every}, train.checkpoints_keep={settings.checkpoints_keep}: "
            "use checkpoint_every >= 0 (0 = no checkpoints) and checkpoints_keep >= 1"
        )
    if settings.max_steps < 1:
        raise ValueError(f"train.max_steps={settings.max_steps}: train at least 1 step (the evaluate stage "
                         "already compares the fine-tuned model with the base)")
    if not 0 <= settings.caption_dropout <= 1:
        raise ValueError(f"train.caption_dropout={settings.caption_dropout}: use a probability in [0, 1] (0 = off)")
    if settings.snr_gamma is not None and settings.snr_gamma <= 0:
        raise ValueError(f"train.snr_gamma={settings.snr_gamma}: use a positive gamma (5.0 is usual) or null")
    if settings.ema_decay is not None and (settings.method is not TrainMethod.full or not 0 < settings.ema_decay < 1):
        raise ValueError(
            f"train.ema_decay={settings.ema_decay} with train.method={settings.method.value}: EMA is for "
            "method=full, with a decay in (0, 1) such as 0.9999; set ema_decay=null otherwise"
        )
    if settings.validation_every < 0 or (settings.validation_every and not settings.validation_prompts):
        raise ValueError(
            f"train.validation_every={settings.validation_every} with {len(settings.validation_prompts)} "
            "validation_prompts: use validation_every >= 0 (0 = off) and at least one prompt"
        )


def save_trained(denoiser: Denoiser, model: ModelConfig, settings: TrainConfig, out_dir: Path) -> Path:
    """Write the LoRA file or the whole pipeline to ``out_dir``; returns the file that names it."""
    if settings.method is TrainMethod.full:
        return save_pipeline(denoiser.unet, model.pretrained, out_dir, scheduler=denoiser.noise_scheduler)
    return save_lora(denoiser.unet, out_dir)


def train(
    paths: PathsConfig,
    model: ModelConfig,
    settings: TrainConfig,
    *,
    seed: int,
    run: Any | None = None,
    lock_file: Path | None = None,
) -> dict[str, Any]:
    """Run the whole stage: encode (or reuse) the latent and text caches, fit (resuming), save the model and its card
    (naming the dataset's DVC hash from ``lock_file`` when given), write metrics and the loss curve.

    Returns:
        The metrics written to ``paths.metrics/train.json``.
    """
    from accelerate.utils import set_seed

    check_settings(settings)
    set_seed(seed)  # the LoRA's (or any new layer's) initial weights: same seed, same run
    accelerator = make_accelerator(settings)
    weight_dtype = weight_dtype_for(settings.mixed_precision)
    split = DatasetSplit.open(paths.dataset, TRAIN_SPLIT)
    with accelerator.main_process_first():
        buckets = training_buckets(
            model.pretrained, resolution_px=model.resolution, aspect=settings.aspect_buckets,
            max_aspect=settings.max_aspect,
        )  # fmt: skip
        data = training_data(
            split, paths.state / "cache", pretrained=model.pretrained, buckets=buckets, flips=settings.random_flip,
            captions=settings.captions, seed=seed, weight_dtype=weight_dtype, batch_size=settings.batch_size,
            device=accelerator.device,
        )  # fmt: skip
    denoiser = load_denoiser(
        model.pretrained, weight_dtype=weight_dtype, method=settings.method, rank=settings.rank,
        lora_alpha=settings.lora_alpha, prediction_type=model.prediction_type,
        gradient_checkpointing=settings.gradient_checkpointing,
    )  # fmt: skip
    checkpointing = None
    if settings.checkpoint_every:
        config = run_config(model, settings, seed=seed, dataset_sha256=split.fingerprint())
        checkpointing = Checkpointing(root=checkpoint_root(paths.state, settings.run_name), config=config)
    validator = None
    if settings.validation_every:
        validator = Validator(
            model.pretrained, settings, model.resolution,
            out_dir=checkpoint_root(paths.state, settings.run_name) / "validation", run=run,
        )  # fmt: skip
    result = fit(
        denoiser, data, settings, accelerator=accelerator, seed=seed, checkpointing=checkpointing, run=run,
        validator=validator,
    )  # fmt: skip
    global_batch = settings.effective_batch_size * accelerator.num_processes
    metrics = train_metrics(result, samples=data.examples, effective_batch_size=global_batch)
    if accelerator.is_main_process:
        out_dir = paths.models / settings.run_name
        weights = save_trained(denoiser, model, settings, out_dir)
        write_model_card(out_dir, model, settings, metrics, dataset_dir=paths.dataset, lock_file=lock_file)
        write_json(paths.metrics / TRAIN_METRICS, metrics)
        write_loss_csv(paths.plots / "train_loss.csv", result.rows)
        log.info("saved %s; final loss %.4f", weights, metrics["final_loss"])
    accelerator.wait_for_everyone()
    return metrics
