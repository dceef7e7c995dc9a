"""The model repo: a trained run (LoRA with its kohya copy, or a whole pipeline), its samples and metrics, and a
model card the Hub renders (base model, licence, widget, evaluation results, the dataset repo at its revision)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pakfashion.common.files import read_json
from pakfashion.config import ModelConfig, TrainConfig
from pakfashion.contracts import (
    EVAL_METRICS,
    MODEL_CARD_FILE,
    SAMPLE_IMAGES_DIR,
    SAMPLE_INDEX_FILE,
    SAMPLES_REPORT,
    TRAIN_METRICS,
    is_trained_run,
)
from pakfashion.publishing.hub import RepoUpload
from pakfashion.publishing.version import SourceVersion, rev_tag
from pakfashion.training.card import model_card

# Where the repo keeps what is not the weights.
IMAGES_DIR, METRICS_DIR = "images", "metrics"
# eval.json's headline measures (base, fine-tuned, delta each): the card's table and its model-index.
HEADLINE = (("clip_score", "CLIP score"), ("fid", "FID"), ("kid", "KID"), ("colour_accuracy", "colour accuracy"),
            ("garment_accuracy", "garment accuracy"), ("concept_colour_accuracy", "colour accuracy, taught colours"))


def run_files(run_dir: Path) -> dict[str, Path]:
    """The run's files by path in the repo (its local card excluded: the Hub card replaces it)."""
    if not is_trained_run(run_dir):
        raise FileNotFoundError(f"no trained run in {run_dir}: run the train stage (dvc repro train)")
    return {path.relative_to(run_dir).as_posix(): path for path in sorted(run_dir.rglob("*"))
            if path.is_file() and path.relative_to(run_dir).as_posix() != MODEL_CARD_FILE}


def widget_samples(reports_dir: Path, count: int) -> list[tuple[str, Path]]:
    """The first ``count`` of the evaluate stage's samples as ``(prompt, image)``."""
    index_file = reports_dir / SAMPLE_IMAGES_DIR / SAMPLE_INDEX_FILE
    if not index_file.is_file():
        raise FileNotFoundError(f"no {index_file}: run the evaluate stage (dvc repro evaluate)")
    return [(entry["prompt"], index_file.parent / entry["file"]) for entry in read_json(index_file)[:count]]


def eval_table(metrics: dict[str, Any]) -> str:
    """Base, fine-tuned and delta of each headline measure eval.json has."""
    lines = ["| measure | base | fine-tuned | delta |", "|---|---|---|---|"]
    for key, label in HEADLINE:
        if f"{key}_finetuned" in metrics:
            values = [metrics[f"{key}_{part}"] for part in ("base", "finetuned", "delta")]
            lines.append(f"| {label} | " + " | ".join(f"{v:.4g}" for v in values) + " |")
    return "\n".join(lines)


def eval_results(metrics: dict[str, Any], *, dataset_repo: str, revision: str) -> list[Any]:
    """The fine-tuned model's headline measures as the card's ``model-index`` (the Hub's evaluation results)."""
    from huggingface_hub import EvalResult

    return [EvalResult(task_type="text-to-image", dataset_type=dataset_repo, dataset_name="pakfashion validation prompts",
                       dataset_split="validation", dataset_revision=revision, metric_type=key, metric_name=label,
                       metric_value=float(metrics[f"{key}_finetuned"]))
            for key, label in HEADLINE if f"{key}_finetuned" in metrics]


def hub_model_card(model: ModelConfig, settings: TrainConfig, *, run_dir: Path, dataset_dir: Path,
                   train_metrics: dict[str, Any], eval_metrics: dict[str, Any], widget: list[tuple[str, str]],
                   repo_id: str, dataset_repo: str, version: SourceVersion) -> str:
    """The model card for the Hub: the train stage's card for ``repo_id``, plus widget, evaluation and data version."""
    from huggingface_hub import ModelCard

    revision = version.trained_on_tag
    card = ModelCard(model_card(model, settings, train_metrics, out_dir=run_dir, dataset_dir=dataset_dir,
                                dataset_hash=version.trained_on_md5 or None, location=repo_id))
    card.data.datasets = [dataset_repo]
    card.data.widget = [{"text": prompt, "output": {"url": url}} for prompt, url in widget]
    card.data.model_name = settings.run_name
    card.data.eval_results = eval_results(eval_metrics, dataset_repo=dataset_repo, revision=revision)
    card.text = card.text.rstrip("\n") + (
        f"\n\n## Dataset version\n\nTrained on [{dataset_repo}](https://huggingface.co/datasets/{dataset_repo}/tree/"
        f"{revision}) at revision `{revision}` (`load_dataset({dataset_repo!r}, revision={revision!r})`), built by the "
        f"pakfashion pipeline at git rev `{version.git_rev}`.\n\n"
        f"## Evaluation (`metrics/eval.json`)\n\nThe evaluate stage's prompts drawn by the base model and by this one "
        f"from the same seeds ({eval_metrics.get('num_images', 0)} images; full results in "
        f"`{METRICS_DIR}/eval.json`).\n\n{eval_table(eval_metrics)}\n\n![samples]({IMAGES_DIR}/{SAMPLES_REPORT})\n"
    )
    return str(card)


def model_upload(model: ModelConfig, settings: TrainConfig, *, run_dir: Path, dataset_dir: Path, metrics_dir: Path,
                 reports_dir: Path, version: SourceVersion, repo_id: str, dataset_repo: str,
                 widget_images: int) -> RepoUpload:
    """The model repo's upload: the run's files, widget samples, metrics, the sample grid and the Hub card."""
    files: dict[str, Path | bytes] = dict(run_files(run_dir))
    widget = []
    for prompt, image in widget_samples(reports_dir, widget_images):
        files[f"{IMAGES_DIR}/{image.name}"] = image
        widget.append((prompt, f"{IMAGES_DIR}/{image.name}"))
    files[f"{IMAGES_DIR}/{SAMPLES_REPORT}"] = reports_dir / SAMPLES_REPORT
    train_metrics, eval_metrics = (read_json(metrics_dir / name) for name in (TRAIN_METRICS, EVAL_METRICS))
    for name in (TRAIN_METRICS, EVAL_METRICS):
        files[f"{METRICS_DIR}/{name}"] = metrics_dir / name
    card = hub_model_card(model, settings, run_dir=run_dir, dataset_dir=dataset_dir, train_metrics=train_metrics,
                          eval_metrics=eval_metrics,
                          widget=widget, repo_id=repo_id, dataset_repo=dataset_repo, version=version)
    files[MODEL_CARD_FILE] = card.encode()
    rev, dataset = version.git_rev[:12], version.trained_on_tag
    return RepoUpload(
        repo_id=repo_id, repo_type="model", files=files, card=card,
        commit_message=f"pakfashion {settings.run_name} at git rev {rev} (dataset {dataset})",
        tags=[rev_tag(version.git_rev)], tag_message=f"trained by the pakfashion pipeline at git rev {version.git_rev}",
    )

