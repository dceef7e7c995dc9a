"""What the app needs from ``params.yaml``: output paths, the base model, generation defaults, the run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from pakfashion.config import (
    EvaluateConfig,
    ModelConfig,
    PathsConfig,
    TrainConfig,
    as_typed,
)
from pakfashion.contracts import PARAMS_FILE


@dataclass(frozen=True)
class AppSettings:
    """The repository the app looks at, its output paths (absolute) and model settings."""

    repo: Path
    paths: PathsConfig
    model: ModelConfig
    evaluate: EvaluateConfig
    # The run params.yaml trains (train.run_name): the Generate tab's default choice.
    default_run: str
    # model.pretrained as params.yaml writes it (``model.pretrained`` is resolved against ``repo``).
    base_model_name: str
    page_size: int = 24


def absolute_paths(paths: PathsConfig, repo: Path) -> PathsConfig:
    """``paths`` with every relative path anchored at ``repo`` (stages run from the repository root)."""
    changes = {f.name: repo / getattr(paths, f.name) for f in dataclasses.fields(paths)}
    return dataclasses.replace(paths, **changes)


def local_or_hub(ref: str, repo: Path) -> str:
    """A model reference as the stages resolve it: a folder relative to ``repo`` when one exists there,
    else the name as written (a hub name such as ``stable-diffusion-v1-5/stable-diffusion-v1-5``)."""
    candidate = repo / ref
    return str(candidate) if candidate.exists() else ref


def load_settings(repo: Path, *, page_size: int = 24) -> AppSettings:
    """Read ``repo/params.yaml`` (composed from ``conf/`` by ``dvc exp run``) into :class:`AppSettings`.

    Raises:
        FileNotFoundError: ``repo`` has no ``params.yaml``.
    """
    from omegaconf import (
        OmegaConf,  # the app's edge: below here only typed settings travel
    )

    params_file = repo / PARAMS_FILE
    if not params_file.is_file():
        raise FileNotFoundError(f"{params_file} not found: pass --repo <pakfashion checkout> (or run `make params`)")
    cfg = OmegaConf.load(params_file)
    repo = repo.resolve()
    model = as_typed(cfg.model, ModelConfig)
    return AppSettings(
        repo=repo,
        paths=absolute_paths(as_typed(cfg.paths, PathsConfig), repo),
        model=dataclasses.replace(model, pretrained=local_or_hub(model.pretrained, repo)),
        evaluate=as_typed(cfg.evaluate, EvaluateConfig),
        default_run=as_typed(cfg.train, TrainConfig).run_name,
        base_model_name=model.pretrained,
        page_size=page_size,
    )
