"""A training run SIGKILLed after a checkpoint resumes from it and ends exactly like an uninterrupted run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pakfashion.config import ModelConfig, PathsConfig, TrainConfig
from pakfashion.models.tiny import build_tiny_sd
from pakfashion.training import loop as train_module
from pakfashion.training.checkpoint import checkpoint_root, list_checkpoints
from pakfashion.training.models import lora_state
from tests.helpers import (
    add_caption_parts,
    child_pythonpath,
    configured,
    paths_under,
    tiny_model,
    write_colour_dataset,
)

pytestmark = pytest.mark.slow

# 8 images, batch 3, accumulation 2: 3 micro-batches and 2 optimizer steps per epoch, so checkpoints
# land mid-epoch and mid-way between loss rows (log_every 2, checkpoint_every 3).
SETTINGS = configured(TrainConfig, run_name="lora-tiny", max_steps=24, batch_size=3, grad_accum=2, lr=1e-2, log_every=2,
                       checkpoint_every=3, checkpoints_keep=2)
CHILD = """
import json, sys
import torch
from pathlib import Path
from pakfashion.config import ModelConfig, TrainConfig, as_typed
from pakfashion.training.loop import train
from tests.helpers import paths_under
args = json.loads(sys.argv[1])
root = Path(args["root"])
paths = paths_under(root, dataset=Path(args["dataset"]), state=root / "state")
torch.manual_seed(0)
train(paths, as_typed(args["model"], ModelConfig), as_typed(args["settings"], TrainConfig), seed=0)
"""


def run_paths(root: Path, dataset: Path) -> PathsConfig:
    return paths_under(root, dataset=dataset, state=root / "state")


def loss_rows(root: Path) -> list[dict[str, float]]:
    with (root / "plots" / "train_loss.csv").open() as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def final_lora(root: Path) -> dict[str, torch.Tensor]:
    return load_file(root / "models" / SETTINGS.run_name / "pytorch_lora_weights.safetensors")


def kill_after_first_checkpoint(root: Path, dataset: Path, model: ModelConfig) -> int:
    """Train in a child process, SIGKILL it once a checkpoint exists; returns the newest checkpoint's step."""
    args = {"root": str(root), "dataset": str(dataset), "model": asdict(model),
            "settings": asdict(SETTINGS)}
    # One thread: the same kernels (and sums) as this process; PYTHONPATH: the child imports tests.helpers.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": child_pythonpath()}
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args, default=str)], env=env)
    checkpoints = checkpoint_root(root / "state", SETTINGS.run_name)
    deadline = time.monotonic() + 120
    while not list_checkpoints(checkpoints) and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    assert child.poll() is None, f"the child exited early ({child.returncode}) instead of being killed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    found = list_checkpoints(checkpoints)
    assert found, "the child wrote no checkpoint before the deadline"
    return found[-1][0]


def test_sigkill_then_resume_equals_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_test(tmp_path, monkeypatch)
    finally:
        torch.set_num_threads(threads)


def run_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_tiny_sd(tmp_path / "sd", seed=0)
    model = tiny_model(str(tmp_path / "sd"))
    # composed captions (train.captions.source=parts): the resumed epoch must replay its caption variants too
    dataset = add_caption_parts(write_colour_dataset(tmp_path / "dataset"))
    killed = tmp_path / "killed"
    step = kill_after_first_checkpoint(killed, dataset, model)
    assert 0 < step < SETTINGS.max_steps, "kill the run before it ends"
    assert not (killed / "metrics" / "train.json").exists()
    checkpoint = checkpoint_root(killed / "state", SETTINGS.run_name) / f"checkpoint-{step}"
    saved = load_file(checkpoint / "pytorch_lora_weights.safetensors")  # pruned later by the resumed run
    saved_config = json.loads((checkpoint / "train_config.json").read_text())
    assert saved_config["train"]["lr"] == SETTINGS.lr and saved_config["model"]["pretrained"] == model.pretrained

    after_resume: dict[str, torch.Tensor] = {}
    real_resume = train_module.resume_or_start

    def spy(state, settings, checkpointing):  # noqa: ANN001, ANN202
        progress = real_resume(state, settings, checkpointing)
        after_resume.update({key: value.clone() for key, value in lora_state(state.denoiser.unet).items()})
        return progress

    monkeypatch.setattr(train_module, "resume_or_start", spy)
    torch.manual_seed(1)  # a different fresh LoRA init than the killed run's: only the checkpoint can match
    metrics = train_module.train(run_paths(killed, dataset), model, SETTINGS, seed=0)
    assert metrics["steps"] == SETTINGS.max_steps and metrics["resumed_from_step"] == step

    from diffusers.utils import convert_state_dict_to_diffusers

    resumed = {f"unet.{key}": value for key, value in convert_state_dict_to_diffusers(after_resume).items()}
    assert resumed.keys() == saved.keys()
    assert all(torch.equal(resumed[key], saved[key]) for key in saved), "LoRA after resume != checkpoint's"
    assert all(saved[key].abs().sum() > 0 for key in saved if "lora.up" in key)  # trained, not the zero init

    rows = loss_rows(killed)
    assert [int(row["step"]) for row in rows] == list(range(2, SETTINGS.max_steps + 1, 2))

    monkeypatch.setattr(train_module, "resume_or_start", real_resume)
    fresh = tmp_path / "uninterrupted"
    torch.manual_seed(0)
    train_module.train(run_paths(fresh, dataset), model, SETTINGS, seed=0)
    reference = loss_rows(fresh)
    assert [row["step"] for row in rows] == [row["step"] for row in reference]
    assert [row["loss"] for row in rows] == pytest.approx([row["loss"] for row in reference], rel=1e-5)
    expected = final_lora(fresh)
    resumed_final = final_lora(killed)
    assert all(torch.allclose(tensor, expected[key], rtol=1e-5, atol=1e-7) for key, tensor in resumed_final.items())
