"""Weights & Biases runs switched by config: online, offline, or disabled (writes nothing)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pakfashion.config import WandbConfig, WandbMode

log = logging.getLogger(__name__)


def start_run(
    settings: WandbConfig, *, job_type: str, config: dict[str, Any], state_dir: Path, name: str | None = None
) -> Any | None:
    """Start a W&B run, or return None when tracking is disabled.

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
        config=config,
        dir=str(run_dir),
        reinit="finish_previous",
    )
    log.info("W&B run %s (%s) in %s", run.id, settings.mode.value, run_dir)
    return run


def finish_run(run: Any | None) -> None:
    """Finish a run started by :func:`start_run` (no-op when disabled)."""
    if run is not None:
        run.finish()
