"""Evaluate stage: CLIP scores, aggregation, the sample grid, and an end-to-end run on tiny models."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from pakfashion.config import EvaluateConfig, ModelConfig, PathsConfig, TrainConfig
from pakfashion.evaluate import (
    HEADER_HEIGHT_PX,
    LABEL_WIDTH_PX,
    Sample,
    ScoreRow,
    clip_scores,
    eval_prompts,
    evaluate,
    sample_grid,
    summarize,
)
from pakfashion.models.clip import load_clip
from pakfashion.models.tiny import build_tiny_clip, build_tiny_sd
from pakfashion.train import train
from tests.test_train import write_colour_dataset


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    build_tiny_sd(out / "sd", seed=0)
    build_tiny_clip(out / "clip", seed=0)
    return out


def test_clip_scores_are_floored_scaled_cosines(tiny_dir: Path) -> None:
    clip = load_clip(str(tiny_dir / "clip"), device="cpu")
    images = [Image.new("RGB", (64, 64), colour) for colour in ("red", "blue", "green", "red")]
    prompts = ["red kurta", "blue shawl", "green silk dupatta", "red kurta"]
    scores = clip_scores(images, prompts, clip=clip, batch_size=3)

    inputs = clip.processor(text=prompts, images=images, return_tensors="pt", padding=True)
    with torch.inference_mode():
        out = clip.model(**inputs)
        cosine = out.logits_per_image.diagonal() / clip.model.logit_scale.exp()
    assert scores == pytest.approx((100 * cosine).clamp(min=0).tolist(), abs=1e-4)
    assert len(scores) == 4 and all(0 <= score <= 100 for score in scores)
    assert scores[0] == pytest.approx(scores[3], abs=1e-4)
    with pytest.raises(ValueError, match="one prompt per image"):
        clip_scores(images, prompts[:2], clip=clip)


def test_summarize_means_stds_and_delta() -> None:
    rows = [
        ScoreRow("a", 0, "base", 20.0),
        ScoreRow("a", 1, "base", 24.0),
        ScoreRow("a", 0, "finetuned", 30.0),
        ScoreRow("a", 1, "finetuned", 30.0),
    ]
    assert summarize(rows) == pytest.approx(
        {
            "num_images": 4,
            "clip_score_base": 22.0,
            "clip_score_base_std": 2.8284271,
            "clip_score_finetuned": 30.0,
            "clip_score_finetuned_std": 0.0,
            "clip_score_delta": 8.0,
        }
    )
    with pytest.raises(ValueError, match="finetuned"):
        summarize(rows[:2])


def test_eval_prompts_adds_distinct_validation_texts(tmp_path: Path) -> None:
    assert eval_prompts(["a"], tmp_path) == ["a"]
    texts = ["a", "b", "b", "c", "d", "e", "f"]
    (tmp_path / "metadata.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    assert eval_prompts(["a", "z"], tmp_path) == ["a", "z", "b", "c", "d"]
    with pytest.raises(ValueError, match="evaluate.prompts"):
        eval_prompts([], tmp_path / "missing")


def test_sample_grid_size_and_placement() -> None:
    prompts, seeds, cell = ["red kurta", "a very long prompt " * 5], [0, 1, 2], 32
    samples = [
        Sample(p, s, m, Image.new("RGB", (64, 64), "red" if m == "base" else "blue"))
        for p in prompts
        for s in seeds
        for m in ("base", "finetuned")
    ]
    grid = sample_grid(samples, prompts=prompts, seeds=seeds, cell_px=cell)
    assert grid.size == (LABEL_WIDTH_PX + 6 * cell, HEADER_HEIGHT_PX + 2 * cell)
    centre = HEADER_HEIGHT_PX + cell // 2
    assert grid.getpixel((LABEL_WIDTH_PX + cell // 2, centre)) == (255, 0, 0)  # seed 0, base
    assert grid.getpixel((LABEL_WIDTH_PX + cell + cell // 2, centre)) == (0, 0, 255)  # seed 0, fine-tuned


def test_evaluate_end_to_end(tiny_dir: Path, tmp_path: Path) -> None:
    paths = PathsConfig(
        dataset=write_colour_dataset(tmp_path / "dataset", validation=2),
        models=tmp_path / "models",
        metrics=tmp_path / "metrics",
        plots=tmp_path / "plots",
        reports=tmp_path / "reports",
    )
    model = ModelConfig(name="tiny", pretrained=str(tiny_dir / "sd"), resolution=64)
    train(paths, model, TrainConfig(run_name="lora-tiny", max_steps=2, batch_size=4, log_every=1))
    settings = EvaluateConfig(
        clip_model=str(tiny_dir / "clip"),
        prompts=["red lawn kurta", "blue chiffon suit"],
        seeds=[0, 1],
        num_inference_steps=2,
        guidance_scale=3.0,
    )
    metrics = evaluate(paths, model, settings, lora_dir=paths.models / "lora-tiny")

    on_disk = json.loads((paths.metrics / "eval.json").read_text())
    assert on_disk == pytest.approx(metrics)
    keys = {"clip_score_base", "clip_score_base_std", "clip_score_finetuned", "clip_score_finetuned_std"}
    assert keys | {"clip_score_delta", "num_images"} == on_disk.keys()
    prompts = 2 + 1  # "red lawn kurta" is also a validation text; "blue lawn kurta" is new
    assert on_disk["num_images"] == prompts * 2 * 2
    with (paths.plots / "clip_scores.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == prompts * 2 * 2
    assert {row["model"] for row in rows} == {"base", "finetuned"} and {row["seed"] for row in rows} == {"0", "1"}
    grid = Image.open(paths.reports / "samples.png")
    assert grid.size == (LABEL_WIDTH_PX + 4 * 64, HEADER_HEIGHT_PX + prompts * 64)
