"""Learnability benchmark: does our train stage teach a model colour words? Fine-tuned vs base, same prompts.

A small Stable Diffusion is built in-process from the real classes: the tiny text encoder and tokenizer
(:mod:`pakfashion.models.tiny`), a small VAE trained for a few hundred steps to reconstruct the demo store's
garment drawings (a random VAE keeps no colours, so no model could show any), and an untrained UNet with
cross-attention at both levels (32 px images, 8x8 latents, so it fits CPU minutes). That is the base.
A dataset of garments in named colours (``pakfashion.demo.images``, captions like "red kurta") is written
as an imagefolder, and :func:`pakfashion.training.loop.train` fine-tunes the base on it with ``train.method=full``
(with EMA; a LoRA on an untrained UNet does not learn in CPU minutes: separation ~0 after 600 steps).
Both pipelines then generate the same prompts and seeds, and the score is the separation: mean(R - B)
over pixels (0-255) of images for "red ..." prompts minus that for "blue ..." prompts.

    .venv/bin/python benchmarks/learnability.py [--images 48] [--steps 600] [--vae-steps 300]

Ends with ``ratio=<ours / max(|baseline|, 1)> ours=<separation> baseline=<separation> unit=...``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "learnability.json"
IMAGE_PX = 32
SHAPES = {"tunic": "kurta", "dress": "dress", "frock": "frock", "wrap": "dupatta", "shalwar": "shalwar"}
COLOURS = ("red", "blue", "green")
EPS = 1.0  # separations below one grey level count as none

log = logging.getLogger("learnability")


def garment_pixels(colours: list[str]):  # noqa: ANN201 (torch imported lazily)
    """Every shape in every colour, as training tensors in [-1, 1] (IMAGE_PX square)."""
    import torch

    from pakfashion.demo.images import DrawSpec, render_image
    from pakfashion.training.data import preprocess_image

    images = [render_image(DrawSpec(shape=shape, colour=colour, width=128, height=128))
              for shape in SHAPES for colour in colours]  # fmt: skip
    return torch.stack([preprocess_image(image, resolution_px=IMAGE_PX, flip=False) for image in images])


def train_vae(steps: int, *, seed: int):  # noqa: ANN201
    """A small AutoencoderKL trained to reconstruct garment drawings in all demo colours."""
    import torch
    import torch.nn.functional as F
    from diffusers import AutoencoderKL

    from pakfashion.demo.images import COLOURS as ALL_COLOURS

    torch.manual_seed(seed)
    channels = (16, 32, 32)
    vae = AutoencoderKL(
        sample_size=IMAGE_PX, block_out_channels=channels, down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3, latent_channels=4, norm_num_groups=8,
    )  # fmt: skip
    pixels = garment_pixels(list(ALL_COLOURS))
    optimizer = torch.optim.AdamW(vae.parameters(), lr=3e-3)
    for _ in range(steps):
        batch = pixels[torch.randint(len(pixels), (16,))]
        posterior = vae.encode(batch).latent_dist
        loss = F.mse_loss(vae.decode(posterior.sample()).sample, batch) + 1e-6 * posterior.kl().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():  # unit-variance latents, as SD's 0.18215 gives its own VAE
        std = vae.encode(pixels).latent_dist.mean.std().item()
    vae.register_to_config(scaling_factor=1 / std)
    log.info("VAE reconstruction loss after %d steps: %.4f; latent std %.2f", steps, loss.item(), std)
    return vae.eval()


def build_base_model(out_dir: Path, *, vae_steps: int, seed: int) -> None:
    """Save the base pipeline: tiny text encoder/tokenizer/scheduler, trained VAE, untrained UNet."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    from pakfashion.models.tiny import HIDDEN, build_tiny_sd

    build_tiny_sd(out_dir, seed=seed)
    pipe = StableDiffusionPipeline.from_pretrained(out_dir)
    torch.manual_seed(seed)
    pipe.unet = UNet2DConditionModel(
        sample_size=IMAGE_PX // 4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D",) * 2, up_block_types=("CrossAttnUpBlock2D",) * 2,
        cross_attention_dim=HIDDEN, attention_head_dim=8,
    )  # fmt: skip
    pipe.vae = train_vae(vae_steps, seed=seed)
    pipe.save_pretrained(out_dir)


def write_dataset(root: Path, *, colours: tuple[str, ...], caption: str, images: int = 0) -> Path:
    """An imagefolder train split of garments cycling through shapes and colours (``images``; 0 = each pair once).

    ``caption`` is a format string over ``colour`` and ``noun``.
    """
    from pakfashion.demo.images import DrawSpec, draw_garment

    split = root / "train"
    split.mkdir(parents=True)
    rows = []
    pairs = [(shape, colour) for shape in SHAPES for colour in colours]
    for index, (shape, colour) in enumerate(islice(cycle(pairs), images or len(pairs))):
        (split / f"{index}.jpg").write_bytes(draw_garment(DrawSpec(shape=shape, colour=colour, width=128, height=128)))
        rows.append({"file_name": f"{index}.jpg", "text": caption.format(colour=colour, noun=SHAPES[shape])})
    (split / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root


def fine_tune(work: Path, dataset: Path, base: Path, *, steps: int, lr: float, ema_decay: float | None) -> dict:
    """Our train stage, unchanged, as ``train=full`` on the colour dataset; returns its metrics."""
    from pakfashion.config import (
        ModelConfig,
        PathsConfig,
        TrainConfig,
        compose_config,
        settings_from,
    )
    from pakfashion.training.loop import train

    cfg = compose_config(Path(__file__).resolve().parents[1] / "conf", ["train=full"])
    paths = settings_from(cfg, "paths", PathsConfig, dataset=dataset, models=work / "models", metrics=work / "metrics",
                          plots=work / "plots", state=work / "state")  # fmt: skip
    settings = settings_from(cfg, "train", TrainConfig, run_name="colour", max_steps=steps, batch_size=16, lr=lr,
                             log_every=max(1, steps // 5), snr_gamma=5.0, ema_decay=ema_decay,
                             checkpoint_every=0)  # fmt: skip
    model = settings_from(cfg, "model", ModelConfig, name="colour", pretrained=str(base), resolution=IMAGE_PX)
    return train(paths, model, settings, seed=0)


def red_minus_blue(pipe, *, seeds: list[int], steps: int, guidance: float) -> dict[str, float]:  # noqa: ANN001
    """Mean R - B (0-255) of generated images per prompt colour, and the red-minus-blue separation."""
    import torch

    scores = {}
    for colour in ("red", "blue"):
        prompts = [f"{colour} {noun}" for noun in SHAPES.values() for _ in seeds]
        generators = [torch.Generator().manual_seed(seed) for _ in SHAPES for seed in seeds]
        images = pipe(prompts, num_inference_steps=steps, guidance_scale=guidance, generator=generators,
                      output_type="np").images  # fmt: skip
        scores[colour] = float((images[..., 0] - images[..., 2]).mean() * 255)
    return {**scores, "separation": scores["red"] - scores["blue"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--steps", type=int, default=600, help="fine-tune optimizer steps (batch 16)")
    parser.add_argument("--vae-steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--ema-decay", type=float, default=0.99)
    parser.add_argument("--seeds", type=int, default=4, help="images per prompt")
    parser.add_argument("--inference-steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=5.0)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    from diffusers import StableDiffusionPipeline

    started = time.perf_counter()
    sample = {"seeds": list(range(args.seeds)), "steps": args.inference_steps, "guidance": args.guidance}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        build_base_model(work / "base", vae_steps=args.vae_steps, seed=0)
        dataset = write_dataset(work / "dataset", colours=COLOURS, caption="{colour} {noun}", images=args.images)
        metrics = fine_tune(work, dataset, work / "base", steps=args.steps, lr=args.lr, ema_decay=args.ema_decay)
        separations = {}
        for name, folder in (("base", work / "base"), ("finetuned", work / "models" / "colour")):
            pipe = StableDiffusionPipeline.from_pretrained(folder)
            pipe.set_progress_bar_config(disable=True)
            separations[name] = red_minus_blue(pipe, **sample)
    seconds = time.perf_counter() - started
    base, ours = separations["base"], separations["finetuned"]
    print(f"base:       red prompts R-B {base['red']:+.1f}, blue prompts R-B {base['blue']:+.1f}")
    print(f"fine-tuned: red prompts R-B {ours['red']:+.1f}, blue prompts R-B {ours['blue']:+.1f}")
    print(f"train: {metrics['steps']} steps at {metrics['steps_per_s']:.2f} steps/s, final loss "
          f"{metrics['final_loss']:.4f}; whole benchmark {seconds:.0f} s")  # fmt: skip
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({
        "machine": platform.node(), "cpus": os.cpu_count(), "seconds": round(seconds, 1),
        "settings": {key: str(value) for key, value in vars(args).items()}, **separations, "train": metrics,
    }, indent=2))  # fmt: skip
    ratio = ours["separation"] / max(abs(base["separation"]), EPS)
    print(f"ratio={ratio:.2f} ours={ours['separation']:.1f} baseline={base['separation']:.1f} "
          "unit=mean(R-B) red minus blue prompts")  # fmt: skip


if __name__ == "__main__":
    if not (HERE.parent / "src" / "pakfashion").exists():
        sys.exit("run from a pakfashion checkout with the package installed (make install)")
    main()
