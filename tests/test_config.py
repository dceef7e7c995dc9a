"""conf/ composes for every group option, validates against the stage dataclasses, and params.yaml is fresh."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from pakfashion.config import (
    CaptionConfig,
    CrawlConfig,
    CsvConfig,
    DatasetConfig,
    DownloadConfig,
    EvaluateConfig,
    ModelConfig,
    PathsConfig,
    SiteConfig,
    TrainConfig,
    WandbConfig,
    WebConfig,
    as_typed,
)

SECTIONS = {"paths": PathsConfig, "web": WebConfig, "crawl": CrawlConfig, "csv": CsvConfig, "download": DownloadConfig,
            "caption": CaptionConfig, "dataset": DatasetConfig, "model": ModelConfig, "train": TrainConfig,
            "evaluate": EvaluateConfig}


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


def test_every_site_file_validates(repo_root: Path) -> None:
    names = sorted(p.stem for p in (repo_root / "conf" / "site").glob("*.yaml") if p.stem != "generic")
    for name in names:
        site = as_typed(composed(repo_root, [f"+site={name}"]).site, SiteConfig)
        assert site.name == name and site.base_url.startswith("http"), name


def test_every_configured_site_resolves_to_a_platform_adapter(repo_root: Path) -> None:
    """Each site file names the platform it runs on (forced, or as the hint detection probes first), and a
    crawl has an adapter for it; the real retailers all carry a hint."""
    from pakfashion.config import Platform
    from pakfashion.crawling.platforms import ADAPTERS

    full = set(composed(repo_root, ["profile=full"]).crawl.sites)
    for path in sorted((repo_root / "conf" / "site").glob("*.yaml")):
        if path.stem == "generic":
            continue
        site = as_typed(composed(repo_root, [f"+site={path.stem}"]).site, SiteConfig)
        expected = site.platform if site.platform is not Platform.auto else site.platform_hint
        assert expected is Platform.auto or ADAPTERS[expected].platform is expected, path.name
        if path.stem in full:
            assert expected is not Platform.auto, f"{path.name}: set platform_hint (python -m pakfashion.sites check)"
    hints = {name: as_typed(composed(repo_root, [f"+site={name}"]).site, SiteConfig).platform_hint.value
             for name in ("khaadi", "sapphire", "bareeze", "sanasafinaz")}
    assert hints == {"khaadi": "sfcc", "sapphire": "sfcc", "bareeze": "shopify", "sanasafinaz": "shopify"}
    urls = {name: composed(repo_root, [f"+site={name}"]).site.base_url for name in ("bareeze", "sanasafinaz")}
    assert urls == {"bareeze": "https://bareezepk.com", "sanasafinaz": "https://www.sanasafinaz.com"}


def test_every_crawled_site_has_a_valid_site_file(repo_root: Path) -> None:
    for profile in ("demo", "full"):
        for name in composed(repo_root, [f"profile={profile}"]).crawl.sites:
            path = repo_root / "conf" / "site" / f"{name}.yaml"
            assert path.exists(), f"profile {profile} crawls {name} but {path} is missing"


# What each combination users run must compose to (README "Profiles and groups"): a profile picks the
# world and, for demo, shrinks a train option through conf/profile_train/; it never changes an lr.
TRAIN = {  # (profile, train) -> lr, max_steps, mixed_precision, ema_decay
    ("full", "lora"): (1e-4, 10000, "bf16", None),
    ("full", "full"): (1e-5, 10000, "bf16", 0.9999),
    ("demo", "lora"): (1e-3, 800, "no", None),
    ("demo", "full"): (1e-5, 60, "no", 0.9999),
}
MODELS = {"sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5", "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
          "tiny": "assets/tiny/sd", "tiny_sdxl": "models/tiny/sdxl"}
CAPTIONERS = {"blip2": "Salesforce/blip2-opt-2.7b", "tiny": "assets/tiny/blip2", "metadata_only": "",
              "smolvlm": "HuggingFaceTB/SmolVLM-500M-Instruct", "tiny_smolvlm": "assets/tiny/smolvlm"}


@pytest.mark.parametrize("caption", sorted(CAPTIONERS))
@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize(("profile", "train"), sorted(TRAIN))
def test_combinations_keep_their_documented_values(repo_root: Path, profile: str, train: str, model: str,
                                                   caption: str) -> None:
    cfg = composed(repo_root, [f"profile={profile}", f"train={train}", f"model={model}", f"caption={caption}"])
    settings = as_typed(cfg.train, TrainConfig)
    lr, steps, precision, ema = TRAIN[(profile, train)]
    assert (settings.lr, settings.max_steps, settings.mixed_precision, settings.ema_decay) == (lr, steps, precision, ema)
    assert settings.method.value == train and settings.run_name == f"{train}-{model}"
    assert as_typed(cfg.model, ModelConfig).pretrained == MODELS[model]
    captioner = as_typed(cfg.caption, CaptionConfig)
    assert captioner.model == CAPTIONERS[caption] and captioner.text_tokenizer == MODELS[model]


def test_profiles_choose_their_defaults(repo_root: Path) -> None:
    demo, full = composed(repo_root), composed(repo_root, ["profile=full"])
    assert (demo.model.name, demo.caption.model, demo.tracking.wandb.mode) == ("tiny", "assets/tiny/smolvlm", "offline")
    assert (full.model.name, full.caption.model, full.tracking.wandb.mode) == (
        "sd15", "Salesforce/blip2-opt-2.7b", "online")
    assert len(full.crawl.sites) == 19 and all(site.startswith("demo_") for site in demo.crawl.sites)


def test_bad_values_fail_before_work(repo_root: Path) -> None:
    cfg = composed(repo_root, ["train.max_steps=many"])
    with pytest.raises(ValidationError, match="max_steps"):
        as_typed(cfg.train, TrainConfig)
    with pytest.raises(ConfigKeyError, match="nonsense"):
        as_typed(OmegaConf.create({"name": "x", "base_url": "http://x", "nonsense": 1}), SiteConfig)


def stage_deps(repo: Path) -> dict[str, list[str]]:
    """Each stage of dvc.yaml (templated from the repo's params.yaml) and its dependency paths."""
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc:
        return {stage.name: [dep.def_path for dep in stage.deps] for stage in dvc.index.stages}


@pytest.mark.parametrize("profile", ["demo", "full"])
def test_only_the_demo_builds_and_depends_on_tiny_models(repo_root: Path, tmp_path: Path, profile: str) -> None:
    from tests.helpers.repo import copy_repo

    repo = copy_repo(repo_root, tmp_path / "repo", with_git=True)
    (repo / "params.yaml").write_text(yaml.safe_dump(OmegaConf.to_container(composed(repo_root, [f"profile={profile}"]))))
    stages = stage_deps(repo)
    tiny = sorted(name for name in stages if name.startswith("tiny_models"))
    on_tiny = sorted(name for name, deps in stages.items() if any(d.startswith("assets/tiny") for d in deps))
    if profile == "full":
        assert tiny == [] and on_tiny == []
        assert {"conf/model/sd15.yaml", "conf/caption/blip2.yaml"} <= set(stages["caption"])
    else:
        # The demo runs the committed pretrained models; only the random tiny SDXL (model=tiny_sdxl) is built.
        assert tiny == ["tiny_models@sdxl"]
        assert on_tiny == ["caption", "curate", "evaluate", "train"]  # curate: the tiny CLIP
