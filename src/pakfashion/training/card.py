"""The model card (``README.md``) written beside the trained weights: base model, data version, settings, metrics."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from pakfashion.common.files import write_text_atomic
from pakfashion.common.tracking import dvc_output_hashes
from pakfashion.config import CaptionSource, ModelConfig, TrainConfig, TrainMethod
from pakfashion.contracts import LORA_WEIGHTS_FILE, MODEL_CARD_FILE, kohya_lora_file
from pakfashion.training.captions import SHORT, TAIL

log = logging.getLogger(__name__)

USAGE = {
    TrainMethod.lora: (
        "pipe = DiffusionPipeline.from_pretrained({base!r})\n"
        f"pipe.load_lora_weights({{out!r}}, weight_name={LORA_WEIGHTS_FILE!r})"
    ),
    TrainMethod.full: "pipe = DiffusionPipeline.from_pretrained({out!r})",
}


def is_hub_model(pretrained: str) -> bool:
    """Whether ``pretrained`` names a Hub model (``owner/name``), not a local folder such as the tiny models'.

    Only a Hub id may be the card's ``base_model``: the Hub links it and rejects anything else.
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(pretrained)
    except HFValidationError:
        return False
    return not Path(pretrained).exists()


def dataset_md5(lock_file: Path, dataset_dir: Path) -> str | None:
    """The DVC hash of ``dataset_dir`` as a stage output recorded in ``lock_file`` (None when absent)."""
    hashes = {Path(path): md5 for path, md5 in dvc_output_hashes(lock_file).items()}
    return hashes.get(dataset_dir) or None


def training_settings(settings: TrainConfig) -> dict[str, Any]:
    """The settings as table rows, ``captions`` (its own section) left out."""
    return {key: value for key, value in asdict(settings).items() if key != "captions"}


def _table(rows: dict[str, Any]) -> str:
    lines = ["| key | value |", "|---|---|"]
    lines += [f"| {key} | {getattr(value, 'value', value)} |" for key, value in rows.items()]
    return "\n".join(lines)


def captions_section(settings: TrainConfig) -> str:
    """What the model was conditioned on (``train.captions``, ``train.caption_dropout``), and how to prompt it."""
    captions = settings.captions
    empty = f"{settings.caption_dropout:.0%} of examples trained on the empty caption (classifier-free guidance)."
    if captions.source is CaptionSource.text:
        return f"Trained on the dataset's `text` as the caption stage wrote it (`train.captions.source=text`). {empty}\n"
    dropout = {f"{name} dropout": rate for name, rate in asdict(captions.field_dropout).items()}
    return (
        f"Trained on captions composed from each image's stored parts (`train.captions.source=parts`): "
        f"{captions.variants} per image, drawn once from the seed; {captions.long_share:.0%} in the long form "
        f"(`{' '.join(SHORT)}, {', '.join(TAIL)}`, the model caption last), the rest in the short form "
        f"(`{' '.join(SHORT)}`), each part left out at its rate below. {empty} Short prompts such as "
        f"\"red lawn kurta\" and full descriptions were both trained.\n\n{_table(dropout)}\n"
    )


def apps_section(settings: TrainConfig, out_dir: Path) -> str:
    """How to use a LoRA run in ComfyUI and AUTOMATIC1111 (its kohya-layout copy); nothing for a whole pipeline."""
    if settings.method is not TrainMethod.lora:
        return ""
    kohya = kohya_lora_file(out_dir)
    return (
        f"### ComfyUI, AUTOMATIC1111, Forge, SD.Next\n\n`{kohya.name}` is the same LoRA in the kohya layout those apps "
        f"read. ComfyUI: put it in `models/loras/` and pick it in a *Load LoRA* node. AUTOMATIC1111: put it in "
        f"`models/Lora/` and add `<lora:{kohya.stem}:1>` to the prompt.\n\n"
    )


def model_card(
    model: ModelConfig,
    settings: TrainConfig,
    metrics: dict[str, Any],
    *,
    out_dir: Path,
    dataset_dir: Path,
    dataset_hash: str | None,
    location: str | None = None,
) -> str:
    """Markdown model card with Hugging Face front matter; its code loads the run from ``location`` (a Hub repo id),
    else from ``out_dir``."""
    front = {
        **({"base_model": model.pretrained} if is_hub_model(model.pretrained) else {}),
        "library_name": "diffusers",
        "license": model.licence,
        "pipeline_tag": "text-to-image",
        "tags": ["stable-diffusion", "text-to-image", "diffusers-training", settings.method.value, "pakfashion"],
    }
    usage = USAGE[settings.method].format(base=model.pretrained, out=location or str(out_dir))
    data = f"`{dataset_dir}` (train split), DVC md5 `{dataset_hash or 'unknown: not in dvc.lock'}`"
    return (
        f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n\n"
        f"# {settings.run_name}\n\n"
        f"Stable Diffusion fine-tuned by the pakfashion train stage (`train.method={settings.method.value}`) "
        f"from `{model.pretrained}` at {model.resolution} px.\n\n"
        f"## Data\n\n{data}; {metrics['samples']} images.\n\n"
        f"## Use\n\n```python\nfrom diffusers import DiffusionPipeline\n{usage}\n```\n\n{apps_section(settings, out_dir)}"
        f"## Captions\n\n{captions_section(settings)}\n"
        f"## Training settings\n\n{_table({**asdict(model), **training_settings(settings)})}\n\n"
        f"## Metrics (`train.json`)\n\n{_table(metrics)}\n"
    )


def write_model_card(
    out_dir: Path,
    model: ModelConfig,
    settings: TrainConfig,
    metrics: dict[str, Any],
    *,
    dataset_dir: Path,
    lock_file: Path | None,
) -> Path:
    """Write ``out_dir/README.md``; the dataset's DVC hash comes from ``lock_file`` when given."""
    dataset_hash = dataset_md5(lock_file, dataset_dir) if lock_file is not None else None
    card = out_dir / MODEL_CARD_FILE
    text = model_card(model, settings, metrics, out_dir=out_dir, dataset_dir=dataset_dir, dataset_hash=dataset_hash)
    write_text_atomic(card, text)
    return card
