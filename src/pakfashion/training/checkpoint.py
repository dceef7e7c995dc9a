"""Checkpoints: ``<state>/train/<run_name>/checkpoint-<step>/`` with accelerate's state and ours.

Each holds the trained weights (the LoRA in diffusers' format, also loadable for inference; or for
``method: full`` the whole UNet and its EMA), optimizer, LR schedule, RNG states (the global ones and the
training noise generator), the resolved config (``train_config.json``) and the loss history
(``trainer_state.json``). They live outside DVC's outs, which DVC deletes before a
rerun. A directory is written as ``checkpoint-<step>.tmp`` and renamed when complete, so a killed run
leaves either a whole checkpoint or none.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pakfashion.common.files import read_json, write_json
from pakfashion.config import ModelConfig, Resume, TrainConfig
from pakfashion.training.models import model_files, restore_lora, save_lora

if TYPE_CHECKING:
    from accelerate import Accelerator

log = logging.getLogger(__name__)

CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")
CONFIG_FILE = "train_config.json"
STATE_FILE = "trainer_state.json"
LIBRARIES = ("torch", "diffusers", "transformers", "peft", "accelerate")
# Settings a resumed run may change without invalidating the checkpoint.
RESUMABLE_CHANGES = frozenset(
    {"max_steps", "checkpoint_every", "checkpoints_keep", "resume", "log_every", "num_workers", "compile",
     "gradient_checkpointing", "validation_every", "validation_prompts", "validation_seeds",
     "validation_inference_steps"}
)  # fmt: skip


@dataclass
class TrainerState:
    """What the loop carries across a resume besides accelerate's state."""

    step: int = 0
    losses: list[float] = field(default_factory=list)  # one per optimizer step
    rows: list[dict[str, float]] = field(default_factory=list)  # the loss CSV so far
    train_seconds: float = 0.0


class GeneratorState:
    """Adapter letting ``accelerator.register_for_checkpointing`` save every process's noise generator.

    accelerate writes custom states from the main process only, so the state holds all processes'
    generator states (gathered) and each process restores its own.
    """

    def __init__(self, generator: torch.Generator, accelerator: Accelerator):
        self.generator = generator
        self.accelerator = accelerator

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = self.generator.get_state().to(self.accelerator.device)
        return {"states": self.accelerator.gather(state[None]).cpu()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        states = state["states"]
        if len(states) != self.accelerator.num_processes:
            raise ValueError(
                f"the checkpoint holds {len(states)} processes' noise generators, this run has "
                f"{self.accelerator.num_processes}: resume with the same launcher, or set train.resume=none"
            )
        self.generator.set_state(states[self.accelerator.process_index].clone())  # its own storage


def process_seed(seed: int, process_index: int) -> int:
    """The noise seed of one process: ``seed`` itself on the first, a derived one on the others (so
    data-parallel processes do not draw the same noise and timesteps)."""
    if process_index == 0:
        return seed
    return int(np.random.SeedSequence([seed, process_index]).generate_state(1)[0])


def checkpoint_root(state_dir: Path, run_name: str) -> Path:
    """Where the checkpoints of run ``run_name`` live."""
    return state_dir / "train" / run_name


def training_code_sha256() -> str:
    """sha256 of the train stage's source (the ``pakfashion.training`` package)."""
    package = Path(str(importlib.util.find_spec("pakfashion.training").origin)).parent
    digest = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def run_config(model: ModelConfig, settings: TrainConfig, *, seed: int, dataset_sha256: str) -> dict[str, Any]:
    """What a run is, stored in each checkpoint: resolved settings, data, base UNet, code and library versions.

    A checkpoint is resumed only when all of it (but :data:`RESUMABLE_CHANGES`) matches: DVC also re-runs
    the stage when the code or the base model changes, and that run must not pick up the old weights.
    """
    return {
        "model": asdict(model),  # the enums are str enums: JSON writes their values
        "train": asdict(settings),
        "seed": seed,
        "dataset_sha256": dataset_sha256,
        "unet_files": model_files(model.pretrained, ("unet", "scheduler")),
        "code_sha256": training_code_sha256(),
        "libraries": {name: importlib.metadata.version(name) for name in LIBRARIES},
    }


def _resume_identity(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a run config that must equal a checkpoint's for the run to continue from it."""
    train = {key: value for key, value in config["train"].items() if key not in RESUMABLE_CHANGES}
    return {**config, "train": train}


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ between a stored (JSON) config and the current one."""
    old, new = _flatten(stored), _flatten(json.loads(json.dumps(current)))
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``root`` as (step, dir), oldest first."""
    if not root.is_dir():
        return []
    found = [(int(match[1]), path) for path in root.iterdir() if (match := CHECKPOINT_DIR.match(path.name))]
    return sorted(found)


def _remove_all(root: Path, reason: str) -> None:
    found = list_checkpoints(root)
    if found:
        log.warning("removing %d checkpoints in %s: %s", len(found), root, reason)
    for _, path in found:
        shutil.rmtree(path)


def find_resumable(root: Path, config: dict[str, Any], *, resume: Resume, max_steps: int) -> Path | None:
    """The checkpoint this run continues from, or None to start over.

    Half-written checkpoints are deleted. Starting over (``resume: none``, or settings that differ from
    the newest checkpoint's) deletes this run's old checkpoints, so they are never mixed with new ones.
    Checkpoints past ``max_steps`` (from a longer run of the same settings) are deleted too: the run
    continues from the newest one at or before ``max_steps``.
    """
    for partial in root.glob("checkpoint-*.tmp") if root.is_dir() else []:
        log.info("removing half-written %s", partial)
        shutil.rmtree(partial)
    found = list_checkpoints(root)
    if not found:
        return None
    if resume is Resume.none:
        _remove_all(root, "train.resume=none")
        return None
    changed = _differences(_resume_identity(read_json(found[-1][1] / CONFIG_FILE)), _resume_identity(config))
    if changed:
        _remove_all(root, f"the newest was made with other settings ({', '.join(changed)}); starting over")
        return None
    for step, path in found:
        if step > max_steps:
            log.info("removing %s: past train.max_steps=%d", path, max_steps)
            shutil.rmtree(path)
    earlier = [path for step, path in found if step <= max_steps]
    return earlier[-1] if earlier else None


def register_lora_hooks(accelerator: Accelerator) -> None:
    """Make ``save_state``/``load_state`` write and read the UNet's LoRA only, in diffusers' format.

    Without the load hook accelerate would load nothing for a model whose weights the save hook took
    over; diffusers' reference script once resumed that way, silently from fresh LoRA weights.
    """

    def save(models: list[torch.nn.Module], weights: list[dict[str, torch.Tensor]], output_dir: str) -> None:
        for model in models:
            if accelerator.is_main_process:
                save_lora(accelerator.unwrap_model(model), Path(output_dir))
            weights.pop()

    def load(models: list[torch.nn.Module], input_dir: str) -> None:
        while models:
            restore_lora(accelerator.unwrap_model(models.pop()), Path(input_dir))

    accelerator.register_save_state_pre_hook(save)
    accelerator.register_load_state_pre_hook(load)


def save_checkpoint(
    accelerator: Accelerator, root: Path, state: TrainerState, *, config: dict[str, Any], keep: int
) -> Path:
    """Save a complete checkpoint for ``state.step`` and keep only the ``keep`` newest."""
    final = root / f"checkpoint-{state.step}"
    partial = final.with_name(final.name + ".tmp")
    if accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    if accelerator.is_main_process:
        write_json(partial / CONFIG_FILE, config)
        write_json(partial / STATE_FILE, asdict(state))
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        for _, old in list_checkpoints(root)[:-keep]:
            shutil.rmtree(old)
        log.info("saved checkpoint %s", final)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Accelerator, path: Path) -> TrainerState:
    """Restore accelerate's state (LoRA, optimizer, schedule, RNGs) from ``path``; returns the loop state."""
    accelerator.load_state(str(path))
    state = TrainerState(**read_json(path / STATE_FILE))
    log.info("resumed from %s (step %d)", path, state.step)
    return state
