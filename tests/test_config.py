"""conf/ composes for every group option, validates against the stage dataclasses, and params.yaml is fresh."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from pakfashion.config import (
    CaptionConfig,
    CrawlConfig,
    CsvConfig,
    DownloadConfig,
    EvaluateConfig,
    ModelConfig,
    PathsConfig,
    SiteConfig,
    TrainConfig,
    WandbConfig,
    as_typed,
)

SECTIONS = {"paths": PathsConfig, "crawl": CrawlConfig, "csv": CsvConfig, "download": DownloadConfig,
            "caption": CaptionConfig, "model": ModelConfig, "train": TrainConfig, "evaluate": EvaluateConfig}


def composed(repo_root: Path, overrides: list[str] | None = None):  # noqa: ANN201
    with initialize_config_dir(str(repo_root / "conf"), version_base=None):
        cfg = compose(config_name="config", overrides=overrides or [])
    OmegaConf.resolve(cfg)
    return cfg


def test_params_yaml_is_fresh(repo_root: Path) -> None:
    on_disk = yaml.safe_load((repo_root / "params.yaml").read_text())
    assert OmegaConf.to_container(composed(repo_root)) == on_disk, "run `make params` (or `dvc exp run`)"


# site: one file per crawled site (validated below); accelerate: accelerate's own config files.
NOT_HYDRA_GROUPS = {"site", "accelerate"}


def group_options(repo_root: Path) -> list[str]:
    return [f"{group.name}={option.stem}" for group in sorted((repo_root / "conf").iterdir())
            if group.is_dir() and group.name not in NOT_HYDRA_GROUPS for option in sorted(group.glob("*.yaml"))]


def test_accelerate_configs_load_with_accelerate(repo_root: Path) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    files = sorted((repo_root / "conf" / "accelerate").glob("*.yaml"))
    assert files
    for path in files:
        config = load_config_from_file(str(path))
        assert config.num_processes >= 1, path


@pytest.mark.parametrize("override", group_options(Path(__file__).resolve().parents[1]))
def test_every_group_option_validates(repo_root: Path, override: str) -> None:
    cfg = composed(repo_root, [override])
    for key, schema in SECTIONS.items():
        as_typed(cfg[key], schema)
    as_typed(cfg.tracking.wandb, WandbConfig)


def test_every_crawled_site_has_a_valid_site_file(repo_root: Path) -> None:
    for profile in ("demo", "full"):
        for name in composed(repo_root, [f"profile={profile}"]).crawl.sites:
            path = repo_root / "conf" / "site" / f"{name}.yaml"
            assert path.exists(), f"profile {profile} crawls {name} but {path} is missing"


def test_bad_values_fail_before_work(repo_root: Path) -> None:
    cfg = composed(repo_root, ["train.max_steps=many"])
    with pytest.raises(Exception, match="max_steps"):
        as_typed(cfg.train, TrainConfig)
    with pytest.raises(Exception, match="nonsense"):
        as_typed(OmegaConf.create({"name": "x", "base_url": "http://x", "nonsense": 1}), SiteConfig)
