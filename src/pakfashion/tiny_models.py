"""Stage `tiny_models@<name>` (profile=demo only): a tiny model with the real classes, built from configs.

``python -m pakfashion.tiny_models +build=<name>`` writes ``paths.tiny_models/<name>`` (sd, sdxl, blip2 or
clip; :mod:`pakfashion.models.tiny`) from ``seed``, so the demo and the tests run every model code path
offline. Real runs load their models by name and have no such stage.
"""

from __future__ import annotations

from omegaconf import DictConfig

from pakfashion.config import PathsConfig, as_typed, stage_main
from pakfashion.models.tiny import build_tiny


@stage_main
def main(cfg: DictConfig) -> None:
    name = str(cfg.get("build") or "")
    build_tiny(name, as_typed(cfg.paths, PathsConfig).tiny_models / name, seed=cfg.seed)


if __name__ == "__main__":
    main()
