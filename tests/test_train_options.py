"""Train stage options: SDXL (two text encoders, size/crop conditioning), validation grids, optimizer,
gradient checkpointing and compile switches, on tiny models (CPU, a few steps)."""

from __future__ import annotations

import builtins
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image

from pakfashion.common.dataset_files import DatasetSplit
from pakfashion.config import Optimizer, PathsConfig, TrainConfig, TrainMethod
from pakfashion.models.sd import load_run
from pakfashion.models.tiny import build_tiny_sdxl
from pakfashion.training.data import TrainingData, training_data
from pakfashion.training.loop import (
    build_optimizer,
    check_settings,
    make_accelerator,
    train,
)
from pakfashion.training.loss import drop_captions, train_step
from pakfashion.training.models import is_sdxl, load_denoiser
from tests.helpers import configured, paths_under, tiny_model, write_colour_dataset


@pytest.fixture(scope="module")
def tiny_sdxl(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("tiny") / "sdxl"
    build_tiny_sdxl(out, seed=0)
    return str(out)


def _paths(root: Path, dataset: Path) -> PathsConfig:
    return paths_under(root, dataset=dataset, metrics=root / "m", plots=root / "p", state=root / "state")


def _encode(pretrained: str, dataset: Path, cache_dir: Path) -> TrainingData:
    return training_data(
        DatasetSplit.open(dataset, "train"), cache_dir, pretrained=pretrained, buckets=[(64, 64)], flips=False,
        captions=configured(TrainConfig).captions, seed=0, weight_dtype=torch.float32, batch_size=4, device="cpu",
    )  # fmt: skip


def test_sdxl_cache_holds_pooled_text_and_time_ids(tiny_sdxl: str, tmp_path: Path) -> None:
    dataset = write_colour_dataset(tmp_path / "dataset")
    assert is_sdxl(tiny_sdxl)
    data = _encode(tiny_sdxl, dataset, tmp_path / "cache")
    assert data.texts.text_states.shape[-1] == 64  # both encoders' 32-wide states, concatenated
    assert data.texts.pooled_text is not None and data.texts.pooled_text.shape == (9, 32)  # 8 captions and the empty one
    assert data.latents.time_ids[0, 0].tolist() == [64, 80, 0, 8, 64, 64]  # 80x64 image, 8 px off each side


def test_sdxl_lora_trains_validates_and_loads(tiny_sdxl: str, tmp_path: Path) -> None:
    dataset = write_colour_dataset(tmp_path / "dataset")
    paths = _paths(tmp_path, dataset)
    settings = configured(TrainConfig, 
        run_name="lora-xl", max_steps=2, batch_size=4, lr=1e-2, validation_every=1,
        validation_prompts=["red lawn kurta", "blue lawn kurta"], validation_seeds=[0, 1, 2],
        validation_inference_steps=2,
    )  # fmt: skip
    torch.manual_seed(0)
    metrics = train(paths, tiny_model(tiny_sdxl, "model=tiny_sdxl"), settings, seed=0)
    assert metrics["steps"] == 2
    grids = sorted((paths.state / "train" / "lora-xl" / "validation").glob("*.png"))
    assert [grid.name for grid in grids] == ["step-1.png", "step-2.png"]
    with Image.open(grids[0]) as grid:
        assert grid.size == (3 * 64, 2 * (64 + 14))  # columns: seeds; rows: prompts under a label line
    pipe = load_run(paths.models / "lora-xl", base=tiny_sdxl, device="cpu")
    assert type(pipe).__name__ == "StableDiffusionXLPipeline"
    assert pipe.get_list_adapters() == {"unet": ["default_0"]}
    image = pipe("red lawn kurta", num_inference_steps=2, height=64, width=64).images[0]
    assert image.size == (64, 64)


def test_sdxl_full_fine_tune_saves_an_sdxl_pipeline(tiny_sdxl: str, tmp_path: Path) -> None:
    from diffusers import DiffusionPipeline

    dataset = write_colour_dataset(tmp_path / "dataset")
    settings = configured(TrainConfig, run_name="full-xl", method=TrainMethod.full, max_steps=1, batch_size=4, lr=1e-3)
    train(_paths(tmp_path, dataset), tiny_model(tiny_sdxl, "model=tiny_sdxl"), settings, seed=0)
    pipe = DiffusionPipeline.from_pretrained(tmp_path / "models" / "full-xl")
    assert type(pipe).__name__ == "StableDiffusionXLPipeline"


def test_gradient_checkpointing_gives_the_same_loss_and_gradients(tiny_sdxl: str, tmp_path: Path) -> None:
    dataset = write_colour_dataset(tmp_path / "dataset")
    data = _encode(tiny_sdxl, dataset, tmp_path / "cache")
    texts = data.texts
    batch = {"latent_params": data.latents.buckets[0][:4, 0], "text_states": texts.text_states[:4],
             "pooled_text": texts.pooled_text[:4], "time_ids": data.latents.time_ids[:4, 0]}  # fmt: skip
    settings = configured(TrainConfig, run_name="t")
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        denoiser = load_denoiser(tiny_sdxl, weight_dtype=torch.float32, gradient_checkpointing=checkpointing)
        assert denoiser.unet.is_gradient_checkpointing is checkpointing
        denoiser.unet.train()
        loss = train_step(denoiser, batch, settings, scaling_factor=1.0, generator=torch.Generator().manual_seed(1))
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in denoiser.unet.parameters() if p.requires_grad]))
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_adamw_8bit_needs_bitsandbytes(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_bitsandbytes(name: str, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if name == "bitsandbytes":
            raise ImportError("No module named 'bitsandbytes'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_bitsandbytes)
    params = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(RuntimeError, match="pip install bitsandbytes"):
        build_optimizer(params, lr=1e-3, kind=Optimizer.adamw_8bit)
    assert isinstance(build_optimizer(params, lr=1e-3, kind=Optimizer.adamw), torch.optim.AdamW)


@pytest.fixture()
def fresh_accelerate_state() -> Iterator[None]:
    """accelerate keeps one process-wide state: start from none and leave none (later tests must not compile)."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.mark.usefixtures("fresh_accelerate_state")
def test_compile_selects_accelerates_inductor_backend() -> None:
    compiled = make_accelerator(configured(TrainConfig, run_name="t", compile=True))
    assert compiled.state.dynamo_plugin.backend.value == "INDUCTOR"
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    assert make_accelerator(configured(TrainConfig, run_name="t")).state.dynamo_plugin.backend.value == "NO"


def test_validation_settings_fail_before_work() -> None:
    with pytest.raises(ValueError, match="validation_prompts"):
        check_settings(configured(TrainConfig, run_name="t", validation_every=5, validation_prompts=[]))


@pytest.mark.usefixtures("fresh_accelerate_state")
@pytest.mark.parametrize("method", [TrainMethod.lora, TrainMethod.full])
def test_bf16_mixed_precision_trains_and_validates(tiny_sd: str, tmp_path: Path, method: TrainMethod) -> None:
    dataset = write_colour_dataset(tmp_path / "dataset")
    settings = configured(TrainConfig, 
        run_name="bf16", method=method, max_steps=2, batch_size=4, mixed_precision="bf16", validation_every=2,
        validation_prompts=["red lawn kurta"], validation_inference_steps=2,
    )  # fmt: skip
    metrics = train(_paths(tmp_path, dataset), tiny_model(tiny_sd), settings, seed=0)
    assert metrics["steps"] == 2 and math.isfinite(metrics["final_loss"])  # neither NaN nor inf under bf16
    assert (tmp_path / "state" / "train" / "bf16" / "validation" / "step-2.png").is_file()


def test_caption_dropout_swaps_in_the_empty_caption_at_its_rate() -> None:
    batch = {"text_states": torch.ones(400, 3, 2), "empty_text_states": torch.zeros(400, 3, 2),
             "pooled_text": torch.ones(400, 2), "empty_pooled_text": torch.zeros(400, 2)}
    generator = torch.Generator().manual_seed(0)
    assert drop_captions(batch, 0.0, generator=generator) is batch
    dropped = drop_captions(batch, 0.25, generator=generator)
    empty = dropped["text_states"].sum(dim=(1, 2)) == 0
    assert 0.18 < empty.float().mean() < 0.32
    assert torch.equal(empty, dropped["pooled_text"].sum(dim=1) == 0)  # both encoders' texts drop together
    assert (drop_captions(batch, 1.0, generator=generator)["text_states"] == 0).all()


def test_caption_dropout_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="caption_dropout"):
        check_settings(configured(TrainConfig, caption_dropout=1.5))


def test_zero_steps_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="max_steps=0"):
        check_settings(configured(TrainConfig, max_steps=0))
