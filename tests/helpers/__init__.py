"""Helpers shared by the tests, in one package: here, settings from the composed conf/ (never a second copy of
a default) and small datasets and runs built on disk; :mod:`tests.helpers.http` scripted loopback servers;
:mod:`tests.helpers.repo` copies of the repository for pipeline runs."""

from __future__ import annotations

import dataclasses
import io
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import torch
from omegaconf import OmegaConf
from PIL import Image

from pakfashion.config import (
    CaptionConfig,
    CrawlConfig,
    CurateConfig,
    DatasetConfig,
    DownloadConfig,
    EvaluateConfig,
    ModelConfig,
    PathsConfig,
    SafetyChecks,
    SiteConfig,
    TrainConfig,
    VocabConfig,
    WandbConfig,
    WebConfig,
    as_typed,
    compose_config,
    settings_from,
)
from pakfashion.contracts import LORA_WEIGHTS_FILE

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
SECTIONS: dict[type, str] = {CaptionConfig: "caption", EvaluateConfig: "evaluate", ModelConfig: "model",
                             TrainConfig: "train", VocabConfig: "vocab", WandbConfig: "tracking.wandb",
                             PathsConfig: "paths", WebConfig: "web", CrawlConfig: "crawl",
                             DownloadConfig: "download", DatasetConfig: "dataset", CurateConfig: "curate",
                             SafetyChecks: "curate.safety"}


@lru_cache(maxsize=None)
def _composed(overrides: tuple[str, ...]) -> Any:
    return compose_config(REPO_ROOT / "conf", overrides)


def composed(*overrides: str) -> Any:
    """The composed, resolved conf/ (profile=demo unless overridden); a fresh copy per call."""
    return OmegaConf.create(OmegaConf.to_container(_composed(tuple(overrides))))


def configured(schema: type[T], *overrides: str, **changes: Any) -> T:
    """A stage section as users run it (``overrides`` as on the command line), then the test's ``changes``."""
    return settings_from(composed(*overrides), SECTIONS[schema], schema, **changes)


def site_settings(name: str, base_url: str, **changes: Any) -> SiteConfig:
    """A site as ``python -m pakfashion.crawl site=generic site.name=... site.base_url=...`` configures it."""
    node = OmegaConf.merge(composed("+site=generic").site, {"name": name, "base_url": base_url, **changes})
    return as_typed(node, SiteConfig)


def child_pythonpath() -> str:
    """PYTHONPATH for a child Python that imports ``tests.helpers`` (the repository root first)."""
    return os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))


def paths_under(root: Path, **changes: Path) -> PathsConfig:
    """Every path of the composed ``paths`` section moved under ``root`` (the same relative layout)."""
    composed_paths = configured(PathsConfig)
    moved = {f.name: root / getattr(composed_paths, f.name) for f in dataclasses.fields(PathsConfig)}
    return PathsConfig(**{**moved, **changes})


def quick_web(**changes: Any) -> WebConfig:
    """The shipped web client with test-sized waits: backoff from 50 ms, 5 s timeouts (loopback servers)."""
    return configured(WebConfig, **{"backoff_base_s": 0.05, "timeout_s": 5.0, **changes})


def tiny_model(pretrained: str | Path, *overrides: str, **changes: Any) -> ModelConfig:
    """The demo's tiny model settings pointing at ``pretrained`` (a tiny model built by the test)."""
    return configured(ModelConfig, *overrides, pretrained=str(pretrained), **changes)


COLOURS = ["red", "blue", "green", "black", "white", "yellow", "pink", "orange"]


def write_colour_dataset(root: Path, *, validation: int = 2) -> Path:
    """An imagefolder dataset: 8 solid-colour 64x80 JPEGs in train/, ``validation`` in validation/."""
    for split, colours in (("train", COLOURS), ("validation", COLOURS[:validation])):
        (root / split).mkdir(parents=True)
        rows = []
        for i, colour in enumerate(colours):
            Image.new("RGB", (80, 64), colour).save(root / split / f"{i}.jpg")
            rows.append({"file_name": f"{i}.jpg", "text": f"{colour} lawn kurta", "site": "demo"})
        (root / split / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root


def add_caption_parts(root: Path, *, brand: str = "Demo", caption: str = "a garment on a plain background") -> Path:
    """A :func:`write_colour_dataset` whose train rows also have the caption parts the caption stage writes."""
    metadata = root / "train" / "metadata.jsonl"
    rows = [json.loads(line) for line in metadata.read_text().splitlines()]
    parts = {"garment": "kurta", "fabrics": ["lawn"], "pieces": "", "stitching": "stitched", "brand": brand,
             "caption": caption}
    metadata.write_text("".join(json.dumps({**row, **parts, "colours": [row["text"].split()[0]]}) + "\n"
                                for row in rows))
    return root


def store_image(images_dir: Path, sha256: str, image: Image.Image) -> None:
    """``image`` as a JPEG named ``sha256`` in the download stage's store (its tar shards)."""
    from pakfashion.images.store import ImageStore

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    ImageStore(images_dir).put(sha256, buffer.getvalue())


def write_random_lora(pretrained: str, out_dir: Path) -> None:
    """A rank-2 LoRA with random (non-zero) weights on the UNet's attention, in the train stage's format."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(pretrained, subfolder="unet")
    unet.add_adapter(LoraConfig(r=2, lora_alpha=2, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(0)
        for name, param in unet.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.1)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(out_dir, unet_lora_layers=layers, weight_name=LORA_WEIGHTS_FILE)
