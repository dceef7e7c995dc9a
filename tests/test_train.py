"""Train stage on the tiny SD model and a solid-colour imagefolder dataset (CPU, a few steps)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from pakfashion.config import ModelConfig, PathsConfig, TrainConfig
from pakfashion.models.tiny import build_tiny_sd
from pakfashion.train import (
    build_dataset,
    clip_gradients,
    fit,
    load_models,
    noise_target,
    prepare_training,
    preprocess_image,
    read_examples,
    train,
    train_step,
)

COLOURS = ["red", "blue", "green", "black", "white", "yellow", "pink", "orange"]


def write_colour_dataset(root: Path, *, validation: int = 2) -> Path:
    """An imagefolder dataset: 8 solid-colour 64x80 JPEGs in train/, ``validation`` in validation/."""
    for split, colours in (("train", COLOURS), ("validation", COLOURS[:validation])):
        (root / split).mkdir(parents=True)
        rows = []
        for i, colour in enumerate(colours):
            Image.new("RGB", (80, 64), colour).save(root / split / f"{i}.jpg")
            rows.append({"file_name": f"{i}.jpg", "text": f"{colour} lawn kurta", "site": "demo"})
        (root / split / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("tiny") / "sd"
    build_tiny_sd(out, seed=0)
    return str(out)


@pytest.fixture()
def dataset_dir(tmp_path: Path) -> Path:
    return write_colour_dataset(tmp_path / "dataset")


def test_preprocess_resizes_crops_and_flips() -> None:
    image = Image.new("RGB", (100, 50), "black")
    image.paste((255, 255, 255), (0, 0, 50, 50))  # left half white
    pixels = preprocess_image(image, resolution_px=32, flip=False)
    flipped = preprocess_image(image, resolution_px=32, flip=True)
    assert pixels.shape == (3, 32, 32) and pixels.dtype == torch.float32
    assert pixels.min() >= -1.0 and pixels.max() <= 1.0
    assert pixels[:, :, 0].mean() > 0.9 and pixels[:, :, -1].mean() < -0.9  # centre crop keeps the split
    assert torch.equal(flipped, pixels.flip(-1))


def test_read_examples_explains_bad_metadata(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="caption stage"):
        read_examples(tmp_path)
    (tmp_path / "metadata.jsonl").write_text('{"file_name": "a.jpg", "caption": "x"}\n')
    with pytest.raises(ValueError, match="file_name/text"):
        read_examples(tmp_path)


def test_noise_target_follows_prediction_type() -> None:
    from diffusers import DDPMScheduler

    latents, noise, timesteps = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8), torch.tensor([10, 500])
    assert noise_target(DDPMScheduler(prediction_type="epsilon"), latents, noise, timesteps) is noise
    v_scheduler = DDPMScheduler(prediction_type="v_prediction")
    expected = v_scheduler.get_velocity(latents, noise, timesteps)
    assert torch.equal(noise_target(v_scheduler, latents, noise, timesteps), expected)
    with pytest.raises(ValueError, match="epsilon or v_prediction"):
        noise_target(DDPMScheduler(prediction_type="sample"), latents, noise, timesteps)


def test_gradient_clipping_clips_the_lora_parameters(tiny_sd: str, dataset_dir: Path) -> None:
    torch.manual_seed(0)
    models = load_models(tiny_sd, rank=4, lora_alpha=4, weight_dtype=torch.float32)
    dataset = build_dataset(dataset_dir, tokenizer=models.tokenizer, resolution_px=64, random_flip=True)
    state = prepare_training(models, dataset, TrainConfig(run_name="t", max_steps=1, batch_size=4))
    names = [name for name, p in models.unet.named_parameters() if p.requires_grad]
    assert names and all("lora" in name for name in names)
    state.accelerator.backward(train_step(state.models, next(iter(state.loader))))
    max_norm = 1e-4
    before = clip_gradients(state.accelerator, state.params, max_grad_norm=max_norm)
    after = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in state.params]))
    assert before > max_norm
    assert after <= max_norm * 1.001


def test_train_learns_and_writes_outputs(tiny_sd: str, dataset_dir: Path, tmp_path: Path) -> None:
    from diffusers import StableDiffusionPipeline

    paths = PathsConfig(dataset=dataset_dir, models=tmp_path / "models", metrics=tmp_path / "m", plots=tmp_path / "p")
    settings = TrainConfig(run_name="lora-tiny", max_steps=4, batch_size=4, lr=1e-2, log_every=2)
    torch.manual_seed(0)
    metrics = train(paths, ModelConfig(name="tiny", pretrained=tiny_sd, resolution=64), settings)

    weights = load_file(tmp_path / "models" / "lora-tiny" / "pytorch_lora_weights.safetensors")
    up = [tensor for key, tensor in weights.items() if "lora.up" in key]
    # Gaussian init sets every LoRA "up" (B) matrix to zero: non-zero means the optimizer moved them.
    assert up and all(tensor.abs().sum() > 0 for tensor in up)
    pipe = StableDiffusionPipeline.from_pretrained(tiny_sd)
    pipe.load_lora_weights(tmp_path / "models" / "lora-tiny")
    assert pipe.get_list_adapters() == {"unet": ["default_0"]}

    on_disk = json.loads((tmp_path / "m" / "train.json").read_text())
    assert on_disk == pytest.approx(metrics)
    assert on_disk["steps"] == 4 and on_disk["samples"] == 8 and on_disk["effective_batch_size"] == 4
    assert on_disk["steps_per_s"] > 0 and on_disk["train_seconds"] > 0
    assert on_disk["final_loss"] > 0 and on_disk["mean_loss_last_10"] > 0
    with (tmp_path / "p" / "train_loss.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["step"] for row in rows] == ["2", "4"]
    assert all(float(row["loss"]) > 0 and float(row["lr"]) == pytest.approx(1e-2) for row in rows)


def test_fit_counts_optimizer_steps_with_accumulation(tiny_sd: str, dataset_dir: Path) -> None:
    torch.manual_seed(0)
    models = load_models(tiny_sd, rank=2, lora_alpha=2, weight_dtype=torch.float32)
    dataset = build_dataset(dataset_dir, tokenizer=models.tokenizer, resolution_px=64, random_flip=False)
    settings = TrainConfig(run_name="t", max_steps=3, batch_size=2, grad_accum=2, lr_warmup_steps=2, log_every=2)
    result = fit(models, dataset, settings)
    assert result.steps == 3 and len(result.losses) == 3
    assert result.epochs == 2  # 4 micro-batches per epoch = 2 optimizer steps
    assert [row["step"] for row in result.rows] == [2, 3]
    assert [row["lr"] for row in result.rows] == pytest.approx([1e-4, 1e-4])  # warmup done after 2 steps
