"""The app's generation: request checks, PNG settings, base vs LoRA / full runs on a tiny model."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pakfashion.app.data import DataMissing
from pakfashion.app.generate import (
    GenerationRequest,
    ModelPair,
    compare,
    generate_images,
    png_bytes,
    png_settings,
)
from pakfashion.models.sd import load_pipeline
from pakfashion.models.tiny import build_tiny_sd
from tests.helpers import write_random_lora

REQUEST = GenerationRequest(
    prompt="red lawn kurta", negative_prompt="blurry", seed=5, steps=1, guidance_scale=3.0, num_images=2
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny base model, a LoRA run and a full run (a copy of the base) under ``models/``."""
    root = tmp_path_factory.mktemp("models")
    build_tiny_sd(root / "tiny" / "sd", seed=0)
    write_random_lora(str(root / "tiny" / "sd"), root / "lora-run")
    shutil.copytree(root / "tiny" / "sd", root / "full-run")
    return root


def pixels(files: list[Path]) -> list[np.ndarray]:
    return [np.asarray(Image.open(path)) for path in files]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prompt": "  "}, "write a prompt"),
        ({"steps": 0}, "steps=0"),
        ({"num_images": 9}, "number of images=9"),
        ({"seed": -1}, "seed=-1"),
    ],
)
def test_requests_that_cannot_run_are_refused(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GenerationRequest(**{**vars(REQUEST), **change}).check()


def test_png_carries_its_settings() -> None:
    text = png_settings(REQUEST, index=1, model="lora-run", base_model="models/tiny/sd", size=(64, 48))
    image = Image.open(io.BytesIO(png_bytes(Image.new("RGB", (64, 48), "red"), text)))
    assert image.text["parameters"].splitlines() == [
        "red lawn kurta",
        "Negative prompt: blurry",
        "Steps: 1, CFG scale: 3.0, Seed: 6, Size: 64x48, Model: lora-run, Base model: models/tiny/sd",
    ]
    settings = json.loads(image.text["pakfashion"])
    assert settings["seed"] == 6 and settings["model"] == "lora-run" and settings["width"] == 64
    assert "num_images" not in settings


def test_missing_run_fails_before_loading_anything(tmp_path: Path) -> None:
    pair = ModelPair("no/such-model", tmp_path / "models", device="cpu")
    with pytest.raises(DataMissing, match=r"train\.run_name=absent"):
        compare(pair, REQUEST, run="absent", resolution_px=64, out_dir=tmp_path / "out")


def test_base_stays_the_base_model_beside_lora_and_full_runs(models: Path, tmp_path: Path) -> None:
    pretrained = str(models / "tiny" / "sd")
    plain = generate_images(load_pipeline(pretrained, device="cpu"), REQUEST, resolution_px=64)
    pair = ModelPair(pretrained, models, device="cpu")

    base, lora = compare(pair, REQUEST, run="lora-run", resolution_px=64, out_dir=tmp_path / "1")
    assert [path.name for path in base.files] == ["base-seed5.png", "base-seed6.png"]
    assert [path.name for path in lora.files] == ["lora-run-seed5.png", "lora-run-seed6.png"]
    expected = [np.asarray(image) for image in plain]
    assert all(np.array_equal(a, b) for a, b in zip(pixels(base.files), expected, strict=True))
    assert not np.array_equal(pixels(lora.files)[0], expected[0]), "the LoRA changed nothing"

    base_again, full = compare(pair, REQUEST, run="full-run", resolution_px=64, out_dir=tmp_path / "2")
    # The LoRA is unloaded when another run is chosen; the full run here is a copy of the base.
    assert all(np.array_equal(a, b) for a, b in zip(pixels(base_again.files), expected, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(pixels(full.files), expected, strict=True))
