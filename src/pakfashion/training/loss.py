"""The diffusion training loss on cached latents: noise (with optional offset), target, min-SNR weights."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from pakfashion.config import TrainConfig
from pakfashion.training.models import Denoiser

if TYPE_CHECKING:
    from diffusers import DDPMScheduler


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


def min_snr_weights(scheduler: DDPMScheduler, timesteps: torch.Tensor, *, gamma: float) -> torch.Tensor:
    """Per-sample loss weights ``min(SNR, gamma) / SNR`` (``/ (SNR + 1)`` for v-prediction), Hang et al. 2023.

    A zero-terminal-SNR step (SNR 0) gets weight 1 instead of a division by zero.
    """
    from diffusers.training_utils import compute_snr

    snr = compute_snr(scheduler, timesteps)
    clipped = torch.clamp(snr, max=gamma)
    denominator = snr + 1 if scheduler.config.prediction_type == "v_prediction" else snr
    weights = clipped / denominator
    return torch.where(snr == 0, torch.ones_like(weights), weights)


def sample_noise(latents: torch.Tensor, *, offset: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise like ``latents``, plus a per-channel constant scaled by ``offset`` when it is > 0."""
    noise = torch.randn(latents.shape, generator=generator, device=latents.device, dtype=latents.dtype)
    if offset > 0:
        shift = torch.randn(latents.shape[:2], generator=generator, device=latents.device, dtype=latents.dtype)
        noise = noise + offset * shift[:, :, None, None]
    return noise


def added_conditioning(denoiser: Denoiser, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """SDXL's extra UNet inputs: the pooled text embedding and the size/crop time ids; None for SD 1.x/2.x."""
    if not denoiser.sdxl:
        return None
    if "pooled_text" not in batch:
        raise ValueError("an SDXL UNet needs pooled text embeddings: the latent cache was made for another model")
    dtype = denoiser.weight_dtype
    return {"text_embeds": batch["pooled_text"].to(dtype), "time_ids": batch["time_ids"].to(dtype)}


def drop_captions(batch: dict[str, torch.Tensor], rate: float, *, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The batch with each example's text replaced by the empty caption's with probability ``rate``.

    Trains the unconditional prediction that classifier-free guidance subtracts (``train.caption_dropout``).
    """
    if rate <= 0:
        return batch
    states = batch["text_states"]
    dropped = torch.rand(states.shape[0], generator=generator, device=generator.device) < rate
    changed = dict(batch)
    for key in ("text_states", "pooled_text"):
        if key in batch:
            mask = dropped.to(batch[key].device).view(-1, *[1] * (batch[key].dim() - 1))
            changed[key] = torch.where(mask, batch[f"empty_{key}"], batch[key])
    return changed


def train_step(
    denoiser: Denoiser,
    batch: dict[str, torch.Tensor],
    settings: TrainConfig,
    *,
    scaling_factor: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Diffusion loss of one cached batch: sample latents, add noise at random timesteps, predict, (weighted) MSE.

    All randomness comes from ``generator`` (saved in checkpoints), so a resumed run draws what an
    uninterrupted one would.
    """
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    params = batch["latent_params"].to(denoiser.weight_dtype)
    latents = DiagonalGaussianDistribution(params).sample(generator) * scaling_factor
    noise = sample_noise(latents, offset=settings.noise_offset, generator=generator)
    scheduler = denoiser.noise_scheduler
    timesteps = torch.randint(
        0, scheduler.config.num_train_timesteps, (latents.shape[0],), generator=generator, device=latents.device
    )
    noisy = scheduler.add_noise(latents, noise, timesteps)
    batch = drop_captions(batch, settings.caption_dropout, generator=generator)
    text_states = batch["text_states"].to(denoiser.weight_dtype)
    prediction = denoiser.unet(
        noisy, timesteps, text_states, added_cond_kwargs=added_conditioning(denoiser, batch), return_dict=False
    )[0]
    target = noise_target(scheduler, latents, noise, timesteps)
    if settings.snr_gamma is None:
        return F.mse_loss(prediction.float(), target.float())
    per_sample = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
    return (per_sample * min_snr_weights(scheduler, timesteps, gamma=settings.snr_gamma)).mean()
