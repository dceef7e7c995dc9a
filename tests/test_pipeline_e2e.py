"""End to end: `dvc repro` of the demo profile in a copy of the repository, then a DVC experiment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers.repo import run

pytestmark = [pytest.mark.slow, pytest.mark.network]

CONTRACT_OUTPUTS = [
    "data/raw/demo_shop/products.jsonl", "data/raw/demo_shop/crawl.json", "data/raw/demo_boutique/products.jsonl",
    "data/interim/products.csv", "data/interim/excluded.csv", "data/interim/images.csv",
    "data/interim/curation.csv", "metrics/curation.json", "reports/curation.html",
    "data/dataset/train/metadata.jsonl", "data/dataset/validation/metadata.jsonl", "data/dataset/README.md",
    "models/lora-tiny/pytorch_lora_weights.safetensors", "metrics/csv.json", "metrics/download.json",
    "metrics/caption.json", "metrics/train.json", "metrics/eval.json", "plots/train_loss.csv", "reports/samples.png",
    "reports/samples/samples.json", "models/lora-tiny/lora-tiny.safetensors",
]


def test_every_contracted_output_exists(demo_repo: Path) -> None:
    missing = [name for name in CONTRACT_OUTPUTS if not (demo_repo / name).exists()]
    assert not missing


def test_second_repro_is_a_no_op(demo_repo: Path) -> None:
    assert "up to date" in run(["dvc", "status"], demo_repo)
    out = run(["dvc", "repro"], demo_repo)
    assert "Running stage" not in out


def test_dataset_loads_and_exclusions_are_explained(demo_repo: Path) -> None:
    import datasets

    loaded = datasets.load_dataset("imagefolder", data_dir=str(demo_repo / "data/dataset"))
    assert set(loaded) == {"train", "validation"}
    assert all(loaded[split].num_rows > 0 and "text" in loaded[split].column_names for split in loaded)
    excluded = pd.read_csv(demo_repo / "data/interim/excluded.csv")
    assert {"children", "non_clothing"} <= set(excluded["reason"])
    assert excluded["signal"].notna().all()
    assert not excluded[excluded["reason"] == "non_clothing"]["title"].str.contains("Kurta").any()


def test_demo_run_shows_the_models_learnt(demo_repo: Path) -> None:
    """What `make demo` must show: captions name what the images show, the base draws the colours it was
    pretrained on, and the default LoRA teaches the demo store's purple and pink (interval above 0)."""
    caption = json.loads((demo_repo / "metrics/caption.json").read_text())
    assert caption["caption_colour_accuracy"] >= 0.8 and caption["caption_garment_accuracy"] >= 0.7, caption
    metrics = json.loads((demo_repo / "metrics/eval.json").read_text())
    assert metrics["clip_own_caption_rate"] >= 0.8, metrics
    assert metrics["pretrained_colour_accuracy_base"] >= 0.6, metrics
    assert metrics["concept_colour_accuracy_delta_ci_low"] > 0, metrics
    # FID is reported, but the demo's 23 validation images cannot rank the two models by it: on one demo run,
    # evaluation seeds [0,1], [2,3] and [4,5] gave base 193.7, 208.0, 200.7 against fine-tuned 195.2, 211.1,
    # 199.9 (issue 19's note). The concept interval above is the demo's quality gate; here FID only has to
    # be measured for both models (a LoRA dropped at evaluation fails the interval: tests/test_quality_e2e.py).
    assert 0 < metrics["fid_base"] != metrics["fid_finetuned"] > 0, metrics


def test_experiment_with_another_step_count_is_listed(demo_repo: Path) -> None:
    out = run(["dvc", "exp", "run", "-S", "train.max_steps=7", "-n", "steps7"], demo_repo)
    # A train-only change re-runs train and evaluate, nothing upstream.
    ran = set(re.findall(r"Running stage '([^']+)'", out))
    assert ran == {"train", "evaluate"}, ran
    text = json.dumps(json.loads(run(["dvc", "exp", "show", "--json"], demo_repo, stdout_only=True)))
    assert "steps7" in text
    assert '"max_steps": 7' in text
