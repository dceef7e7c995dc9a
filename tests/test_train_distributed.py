"""Data-parallel training: two CPU processes (torchrun, gloo) run the train stage's function together,
checkpoint, and a second launch resumes to the configured steps. Exercises what `accelerate launch` with
conf/accelerate/multi_gpu.yaml does on GPUs: sharded batches, all-reduced gradients, per-process noise,
outputs and checkpoints written once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.helpers import child_pythonpath, write_colour_dataset

pytestmark = pytest.mark.slow

WORKER = """
import logging, sys
from pathlib import Path
from pakfashion.config import TrainConfig
from pakfashion.training.loop import train
from tests.helpers import configured, paths_under, tiny_model
root, tiny, steps = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
paths = paths_under(root, dataset=root / "dataset", metrics=root / "m", plots=root / "p", state=root / "state")
settings = configured(TrainConfig, run_name="ddp", max_steps=steps, batch_size=2, lr=1e-2, checkpoint_every=2, log_every=1)
logging.basicConfig(level=logging.INFO)
train(paths, tiny_model(tiny), settings, seed=0)
"""


def torchrun(root: Path, tiny_sd: str, steps: int) -> subprocess.CompletedProcess[str]:
    # ACCELERATE_USE_CPU: what `accelerate launch --cpu` sets; with torchrun's WORLD_SIZE it means gloo on CPUs.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "ACCELERATE_USE_CPU": "true",
           "PYTHONPATH": child_pythonpath()}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(root / "worker.py"), str(root), tiny_sd, str(steps)]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_two_processes_share_the_work_and_resume(tiny_sd: str, tmp_path: Path) -> None:
    write_colour_dataset(tmp_path / "dataset")
    (tmp_path / "worker.py").write_text(WORKER)
    first = torchrun(tmp_path, tiny_sd, steps=2)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stderr.count("effective batch 4 (2 processes)") == 2  # both processes in one run
    metrics = json.loads((tmp_path / "m" / "train.json").read_text())
    assert metrics["steps"] == 2 and metrics["effective_batch_size"] == 4 and metrics["samples_seen"] == 8
    assert [path.name for path in (tmp_path / "state" / "train" / "ddp").glob("checkpoint-*")] == ["checkpoint-2"]

    second = torchrun(tmp_path, tiny_sd, steps=4)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from" in second.stderr and "(step 2)" in second.stderr
    metrics = json.loads((tmp_path / "m" / "train.json").read_text())
    assert metrics["steps"] == 4 and metrics["resumed_from_step"] == 2
    rows = (tmp_path / "p" / "train_loss.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["step", "1", "2", "3", "4"]
    weights = load_file(tmp_path / "models" / "ddp" / "pytorch_lora_weights.safetensors")
    # LoRA's up matrices start at zero: every one of them must have been trained by the shared steps.
    ups = [tensor for key, tensor in weights.items() if "lora.up" in key]
    assert ups and all(tensor.abs().sum() > 0 for tensor in ups)
