"""params.yaml, the composition of conf/ that DVC reads, written as ``dvc exp run`` writes it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pakfashion.contracts import PARAMS_FILE


def recompose_params(repo: Path, overrides: Sequence[str] = ()) -> Path:
    """Write ``<repo>/params.yaml`` from ``<repo>/conf/`` exactly as ``dvc exp run`` composes it (``make params``,
    ``python -m pakfashion.sites add``, the scale benchmark)."""
    from dvc.utils.hydra import compose_and_dump

    params = repo / PARAMS_FILE
    compose_and_dump(params, str((repo / "conf").resolve()), None, "config", str(repo), list(overrides))
    return params
