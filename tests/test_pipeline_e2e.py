"""End to end: `dvc repro` of the demo profile in a copy of the repository, then a DVC experiment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.repo_copy import copy_repo

pytestmark = [pytest.mark.slow, pytest.mark.network]

CONTRACT_OUTPUTS = [
    "data/raw/demo_shop/products.jsonl", "data/raw/demo_shop/crawl.json", "data/raw/demo_boutique/products.jsonl",
    "data/interim/products.csv", "data/interim/excluded.csv", "data/interim/images.csv",
    "data/dataset/train/metadata.jsonl", "data/dataset/validation/metadata.jsonl", "data/dataset/README.md",
    "models/lora-tiny/pytorch_lora_weights.safetensors", "metrics/csv.json", "metrics/download.json",
    "metrics/caption.json", "metrics/train.json", "metrics/eval.json", "plots/train_loss.csv", "reports/samples.png",
]


def run(cmd: list[str], cwd: Path, *, stdout_only: bool = False) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout if stdout_only else done.stdout + done.stderr


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Path:
    """A git copy of the repository after one full `dvc repro` on the demo store."""
    work = copy_repo(repo_root, tmp_path_factory.mktemp("e2e") / "repo", with_git=True)
    run([sys.executable, "-m", "pakfashion.demo", "run", "--port", "0", "--", "dvc", "repro"], work)
    return work


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


def test_experiment_with_another_step_count_is_listed(demo_repo: Path) -> None:
    run(["dvc", "exp", "run", "-S", "train.max_steps=7", "-n", "steps7"], demo_repo)
    text = json.dumps(json.loads(run(["dvc", "exp", "show", "--json"], demo_repo, stdout_only=True)))
    assert "steps7" in text
    assert '"max_steps": 7' in text
