"""Weights & Biases runs switched by config: online, offline, or disabled (writes nothing)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import yaml

from pakfashion.config import WandbConfig, WandbMode

log = logging.getLogger(__name__)


def dvc_output_hashes(lock_file: Path) -> dict[str, str]:
    """``{output path: md5}`` of every stage output recorded in dvc.lock (empty before the first run)."""
    if not lock_file.exists():
        return {}
    stages = (yaml.safe_load(lock_file.read_text()) or {}).get("stages", {})
    return {out["path"]: out.get("md5", "") for stage in stages.values() for out in stage.get("outs", [])}


def start_run(
    settings: WandbConfig, *, job_type: str, config: dict[str, Any], state_dir: Path, name: str | None = None,
    lock_file: Path = Path("dvc.lock"),
) -> Any | None:
    """Start a W&B run, or return None when tracking is disabled.

    Runs are grouped by DVC experiment (``DVC_EXP_NAME``, set by ``dvc exp run``) and record the DVC
    hashes of the pipeline's outputs (the dataset's among them), so a run names the data it used.
    Offline runs are written under ``state_dir/wandb`` (git- and DVC-ignored); `wandb sync` uploads
    them later.
    """
    if settings.mode is WandbMode.disabled:
        log.info("W&B tracking disabled")
        return None
    import wandb

    run_dir = state_dir / "wandb"
    run_dir.mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        project=settings.project,
        entity=settings.entity,
        mode=settings.mode.value,
        job_type=job_type,
        name=name,
        group=os.environ.get("DVC_EXP_NAME", "workspace"),
        config={**config, "dvc_outputs": dvc_output_hashes(lock_file)},
        dir=str(run_dir),
        reinit="finish_previous",
    )
    log.info("W&B run %s (%s) in %s", run.id, settings.mode.value, run_dir)
    return run


def finish_run(run: Any | None) -> None:
    """Finish a run started by :func:`start_run` (no-op when disabled)."""
    if run is not None:
        run.finish()
