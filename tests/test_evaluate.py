"""Evaluate stage: CLIP scores, categories, the sample grid, W&B logging, and an end-to-end run on tiny models."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pakfashion.common.tracking import finish_run, start_run
from pakfashion.config import (
    EvaluateConfig,
    VocabConfig,
    WandbConfig,
    WandbMode,
)
from pakfashion.evaluation.clip import load_clip
from pakfashion.evaluation.run import (
    HEADER_HEIGHT_PX,
    LABEL_WIDTH_PX,
    MIN_CELL_PX,
    CategoryRow,
    Sample,
    ScoreRow,
    check_settings,
    clip_scores,
    eval_prompts,
    evaluate,
    fid_jobs,
    log_to_wandb,
    sample_grid,
    scores_by_category,
    summarize,
    validation_split,
)
from pakfashion.models.sampling import Job
from pakfashion.models.tiny import build_tiny_clip, build_tiny_sd
from tests.helpers import (
    configured,
    paths_under,
    tiny_model,
    write_colour_dataset,
    write_random_lora,
)


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


def test_eval_prompts_adds_distinct_validation_texts() -> None:
    assert eval_prompts(["a"], []) == ["a"]
    assert eval_prompts(["a", "z"], ["a", "b", "b", "c", "d", "e", "f"]) == ["a", "z", "b", "c", "d"]
    with pytest.raises(ValueError, match="evaluate.prompts"):
        eval_prompts([], [])


def test_validation_split_explains_a_missing_or_tiny_split(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="validation split"):
        validation_split(tmp_path)
    (tmp_path / "validation").mkdir()
    (tmp_path / "validation" / "metadata.jsonl").write_text(json.dumps({"file_name": "a.jpg", "text": "a"}) + "\n")
    with pytest.raises(ValueError, match="at least 2 rows"):
        validation_split(tmp_path)


def test_fid_jobs_cycle_captions_and_seeds() -> None:
    jobs = fid_jobs(["a", "b", "c"], [0, 1], count=5)
    assert jobs == [Job("a", 0), Job("b", 1), Job("c", 0), Job("a", 1), Job("b", 0)]


def test_settings_that_cannot_run_fail_first() -> None:
    with pytest.raises(ValueError, match="num_images_for_fid"):
        check_settings(configured(EvaluateConfig, num_images_for_fid=1))
    with pytest.raises(ValueError, match="evaluate.batch_size"):
        check_settings(configured(EvaluateConfig, batch_size=0))


def test_clip_scores_by_garment_category() -> None:
    vocab = VocabConfig(garments={"kurta": ["kurta", "kurti"], "shawl": ["shawl", "stole"]}, colours=[], fabrics=[],
                        pieces={}, stitching={})
    rows = [
        ScoreRow("red lawn kurti", 0, "base", 20.0),
        ScoreRow("red lawn kurta", 1, "base", 24.0),
        ScoreRow("red lawn kurta", 0, "finetuned", 30.0),
        ScoreRow("black stole", 0, "base", 10.0),
        ScoreRow("green silk", 0, "finetuned", 5.0),
    ]
    assert scores_by_category(rows, vocab) == [
        CategoryRow("kurta", "base", 22.0, 2),
        CategoryRow("kurta", "finetuned", 30.0, 1),
        CategoryRow("other", "finetuned", 5.0, 1),
        CategoryRow("shawl", "base", 10.0, 1),
    ]


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


class RecordingRun:
    """Stands in for a W&B run: keeps what was logged."""

    def __init__(self) -> None:
        self.logged: dict[str, object] = {}

    def log(self, data: dict[str, object]) -> None:
        self.logged.update(data)


def test_evaluate_end_to_end(tiny_dir: Path, tmp_path: Path) -> None:
    paths = paths_under(
        tmp_path,
        dataset=write_colour_dataset(tmp_path / "dataset", validation=2),
        models=tmp_path / "models",
        metrics=tmp_path / "metrics",
        plots=tmp_path / "plots",
        reports=tmp_path / "reports",
        state=tmp_path / "state",
    )
    model = tiny_model(str(tiny_dir / "sd"))
    write_random_lora(model.pretrained, paths.models / "lora-tiny")
    shipped = configured(EvaluateConfig)
    attributes = dataclasses.replace(shipped.attributes, colours=["red", "blue"], concept_colours=["purple"],
                                     garments=["kurta", "3-piece suit"], seeds=[0, 1])
    settings = dataclasses.replace(
        shipped,
        clip_model=str(tiny_dir / "clip"),
        prompts=["red lawn kurta", "blue chiffon suit"],
        seeds=[0, 1],
        num_inference_steps=2,
        guidance_scale=3.0,
        batch_size=3,
        num_images_for_fid=3,
        kid_subsets=4,
        attributes=attributes,
    )
    vocab = dataclasses.replace(configured(VocabConfig), garments={"kurta": ["kurta"], "3-piece suit": ["suit"]})
    run = RecordingRun()
    metrics = evaluate(paths, model, settings, lora_dir=paths.models / "lora-tiny", vocab=vocab, run=run)

    on_disk = json.loads((paths.metrics / "eval.json").read_text())
    assert on_disk == pytest.approx(metrics)
    clip_keys = {f"clip_score_{m}{s}" for m in ("base", "finetuned") for s in ("", "_std")} | {"clip_score_delta"}
    fid_keys = {"fid_base", "fid_finetuned", "fid_delta", "kid_base", "kid_base_std", "kid_finetuned",
                "kid_finetuned_std", "kid_delta"}
    counts = {"num_images", "num_fid_images", "num_validation_images", "num_attribute_images", "num_concept_images",
              "num_pretrained_images"}
    attribute_keys = {f"{group}{check}_{part}{bound}" for group in ("", "concept_", "pretrained_")
                      for check in ("colour_accuracy", "garment_accuracy") for part in ("base", "finetuned", "delta")
                      for bound in ("", "_ci_low", "_ci_high")} | {"colour_unmatched_base", "colour_unmatched_finetuned"}
    assert clip_keys | fid_keys | counts | attribute_keys | {"clip_own_caption_rate"} == on_disk.keys()
    assert 0 <= on_disk["clip_own_caption_rate"] <= 1
    assert on_disk["num_attribute_images"] == 3 * 2 * 2 and on_disk["num_concept_images"] == 2 * 2
    for key in ("colour_accuracy_delta", "concept_garment_accuracy_base"):
        assert on_disk[f"{key}_ci_low"] <= on_disk[key] <= on_disk[f"{key}_ci_high"]
    assert on_disk["num_fid_images"] == 3 and on_disk["num_validation_images"] == 2
    # The random LoRA changes every image: equal FIDs would mean evaluation dropped it.
    assert math.isfinite(on_disk["fid_base"]) and on_disk["fid_finetuned"] != pytest.approx(on_disk["fid_base"])
    assert on_disk["fid_delta"] == pytest.approx(on_disk["fid_finetuned"] - on_disk["fid_base"])
    prompts = 2 + 1  # "red lawn kurta" is also a validation text; "blue lawn kurta" is new
    assert on_disk["num_images"] == prompts * 2 * 2
    with (paths.plots / "clip_scores.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == prompts * 2 * 2
    assert {row["model"] for row in rows} == {"base", "finetuned"} and {row["seed"] for row in rows} == {"0", "1"}
    with (paths.plots / "clip_by_category.csv").open() as handle:
        categories = list(csv.DictReader(handle))
    assert {(row["category"], row["model"]) for row in categories} == {
        (c, m) for c in ("kurta", "3-piece suit") for m in ("base", "finetuned")
    }
    grid = Image.open(paths.reports / "samples.png")
    assert grid.size == (LABEL_WIDTH_PX + 4 * MIN_CELL_PX, HEADER_HEIGHT_PX + prompts * MIN_CELL_PX)  # 64 px scaled up
    # The widget samples are the fine-tuned column of the grid at the first seed, one per prompt, in order.
    index = json.loads((paths.reports / "samples" / "samples.json").read_text())
    assert [entry["seed"] for entry in index] == [0] * prompts and len({e["prompt"] for e in index}) == prompts
    for row, entry in enumerate(index):
        left, top = LABEL_WIDTH_PX + MIN_CELL_PX, HEADER_HEIGHT_PX + row * MIN_CELL_PX
        cell = grid.convert("RGB").crop((left, top, left + MIN_CELL_PX, top + MIN_CELL_PX))
        sample = Image.open(paths.reports / "samples" / entry["file"]).convert("RGB")
        assert np.array_equal(np.asarray(sample), np.asarray(cell)), entry
    report = (paths.reports / "eval.md").read_text()
    assert "| FID |" in report and "| KID |" in report and "![samples](samples.png)" in report
    assert "| taught concept (4) | colour accuracy |" in report and "bootstrap intervals" in report
    assert len(list((paths.state / "evaluate").glob("*.npy"))) == 1  # validation features cached
    assert {"fid_base", "kid_finetuned", "samples", "eval_summary", "eval_report", "eval_attributes",
            "concept_colour_accuracy_delta"} <= run.logged.keys()


@pytest.mark.slow
def test_report_is_logged_to_an_offline_wandb_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    parts = ("base", "finetuned", "delta")
    metrics = {f"{name}_{part}": 1.0 for name in ("clip_score", "fid", "kid") for part in parts}
    run = start_run(configured(WandbConfig, mode=WandbMode.offline), job_type="evaluate", config={}, state_dir=tmp_path)
    log_to_wandb(run, metrics, Image.new("RGB", (64, 64), "red"), "# report <with markup>")
    finish_run(run)
    for pattern in ("samples_*.png", "eval_summary_*.table.json", "eval_report_*.html"):
        assert any((tmp_path / "wandb").rglob(pattern)), pattern
