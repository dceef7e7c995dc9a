"""The tiny Stable Diffusion, pretrained on the world: a VAE, the tiny CLIP's text tower, and a UNet trained
by the project's own train stage.

The VAE (32 px images ↔ 8x8x4 latents) learns to reconstruct world drawings of every colour; the text
encoder is the text tower of the tiny CLIP (as SD 1.x uses CLIP's); a base pipeline with a random UNet is
then fine-tuned with ``train.method=full`` (:func:`pakfashion.training.loop.train`, caption dropout for
classifier-free guidance) on world drawings WITHOUT :data:`~pakfashion.pretraining.world.HELD_OUT_COLOURS`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from pakfashion.config import ModelConfig, PathsConfig, TrainConfig, compose_config, settings_from
from pakfashion.demo.images import COLOURS
from pakfashion.models.tiny import SD_NOISE_SCHEDULE
from pakfashion.pretraining.world import HELD_OUT_COLOURS, world_images, write_imagefolder

log = logging.getLogger(__name__)

IMAGE_PX = 32
VAE_CHANNELS = (16, 32, 32)
UNET_CHANNELS = (48, 96)
IMAGES = 4000
VAE_STEPS = 2000
UNET_STEPS = 1500


def world_pixels(seed: int, count: int) -> torch.Tensor:
    """World drawings of every colour as a ``[count, 3, px, px]`` tensor in [-1, 1]."""
    images = [item.image for item in world_images(seed, count, px=IMAGE_PX)]
    array = np.stack([np.asarray(image, dtype=np.float32) for image in images])
    return torch.from_numpy(array).permute(0, 3, 1, 2) / 127.5 - 1


def pretrain_vae(pixels: torch.Tensor, *, seed: int, steps: int, batch_size: int = 32) -> torch.nn.Module:
    """An ``AutoencoderKL`` that reconstructs ``pixels``; its scaling factor gives unit-variance latents."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    blocks = len(VAE_CHANNELS)
    vae = AutoencoderKL(
        sample_size=IMAGE_PX, block_out_channels=VAE_CHANNELS, down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks, latent_channels=4, norm_num_groups=8,
    )  # fmt: skip
    optimizer = torch.optim.AdamW(vae.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(steps), desc="vae", unit="step", mininterval=5.0, disable=None):
        batch = pixels[torch.randint(len(pixels), (batch_size,), generator=generator)]
        posterior = vae.encode(batch).latent_dist
        loss = F.mse_loss(vae.decode(posterior.sample(generator)).sample, batch) + 1e-6 * posterior.kl().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    vae.eval()
    with torch.no_grad():
        means = torch.cat([vae.encode(chunk).latent_dist.mean for chunk in pixels.split(256)])
    vae.register_to_config(scaling_factor=float(1 / means.std()))
    log.info("VAE: final reconstruction loss %.4f, latent std %.3f", loss.item(), means.std().item())
    return vae


def text_encoder_from_clip(clip_dir: Path) -> tuple[Any, Any]:
    """The tiny CLIP's text tower as a ``CLIPTextModel`` and its tokenizer (SD's text encoder is CLIP's)."""
    from transformers import CLIPModel, CLIPTextModel, CLIPTokenizer

    clip = CLIPModel.from_pretrained(clip_dir)
    text_encoder = CLIPTextModel(clip.config.text_config)
    text_encoder.load_state_dict(clip.text_model.state_dict())
    return text_encoder.eval(), CLIPTokenizer.from_pretrained(clip_dir)


def random_unet(cross_attention_dim: int, *, seed: int) -> torch.nn.Module:
    """SD's UNet class for 8x8 latents: cross-attention at both levels."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=IMAGE_PX // 4, block_out_channels=UNET_CHANNELS, layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=cross_attention_dim, attention_head_dim=8, norm_num_groups=16,
    )  # fmt: skip


def save_pipeline(out_dir: Path, *, vae: Any, text_encoder: Any, tokenizer: Any, unet: Any) -> Path:
    """A ``StableDiffusionPipeline`` of these parts with a DPM-Solver++ sampler (few steps suffice)."""
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        scheduler=DPMSolverMultistepScheduler(**SD_NOISE_SCHEDULE, prediction_type="epsilon"),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.save_pretrained(out_dir)
    return out_dir


def unet_settings(conf_dir: Path, *, steps: int, work: Path) -> tuple[PathsConfig, TrainConfig]:
    """The train stage's ``train=full`` settings (from ``conf_dir``) for pretraining the UNet from scratch."""
    cfg = compose_config(conf_dir, ["train=full", "profile=full"])
    paths = settings_from(cfg, "paths", PathsConfig, dataset=work / "world", models=work / "models",
                          metrics=work / "metrics", plots=work / "plots", state=work / "state")
    settings = settings_from(
        cfg, "train", TrainConfig, run_name="world-unet", max_steps=steps, batch_size=64, lr=1e-3,
        lr_warmup_steps=100, mixed_precision="no", ema_decay=None, caption_dropout=0.1, aspect_buckets=False,
        random_flip=True, checkpoint_every=0, validation_every=0, log_every=max(1, steps // 20),
    )  # fmt: skip
    return paths, settings


def pretrain_sd(out_dir: Path, *, clip_dir: Path, conf_dir: Path, seed: int, vae_steps: int = VAE_STEPS,
                unet_steps: int = UNET_STEPS, images: int = IMAGES) -> dict[str, Any]:
    """Build the tiny SD pipeline into ``out_dir``; returns what it took and the final losses."""
    from pakfashion.training.loop import train

    started = time.perf_counter()
    vae = pretrain_vae(world_pixels(seed, images), seed=seed, steps=vae_steps)
    text_encoder, tokenizer = text_encoder_from_clip(clip_dir)
    unet = random_unet(text_encoder.config.hidden_size, seed=seed)
    vae_seconds = time.perf_counter() - started
    taught = [colour for colour in COLOURS if colour not in HELD_OUT_COLOURS]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = save_pipeline(work / "base", vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet)
        write_imagefolder(world_images(seed + 1, images, px=IMAGE_PX, colours=taught), work / "world" / "train")
        paths, settings = unet_settings(conf_dir, steps=unet_steps, work=work)
        model = ModelConfig(name="tiny-world", pretrained=str(base), weights=str(base), licence="mit",
                            resolution=IMAGE_PX, prediction_type=None)
        metrics = train(paths, model, settings, seed=seed)
        trained = paths.models / settings.run_name
        shutil.rmtree(out_dir, ignore_errors=True)
        shutil.copytree(trained, out_dir, ignore=shutil.ignore_patterns("README.md"))
    return {"vae_steps": vae_steps, "unet_steps": unet_steps, "images": images, "vae_seconds": round(vae_seconds, 1),
            "seconds": round(time.perf_counter() - started, 1), "unet_final_loss": metrics["final_loss"],
            "held_out_colours": list(HELD_OUT_COLOURS)}
