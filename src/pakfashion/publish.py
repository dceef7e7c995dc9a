"""``python -m pakfashion.publish``: the dataset and the trained run to the Hugging Face Hub, each with its card.

Settings are ``publish.*`` (``conf/publish/default.yaml``) in params.yaml, overridable as Hydra overrides
(``python -m pakfashion.publish publish.namespace=me publish.targets=[model]``). ``--dry-run`` (or
``publish.dry_run=true``) prints each repo's files and card and touches no network and needs no token. A real
run needs a token from ``HF_TOKEN`` or ``hf auth login`` and a committed, up-to-date pipeline (``dvc status``
clean, dvc.lock and params.yaml committed), so the Hub copies name their exact version: the dataset is tagged
``dvc-<md5>`` (and any ``dataset-v*`` git tag), the model ``rev-<git rev>``, and its card links the dataset at the
revision it was trained on.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from omegaconf import DictConfig

from pakfashion.common.errors import StageError
from pakfashion.config import ModelConfig, PathsConfig, PublishConfig, PublishTarget, TrainConfig, as_typed, stage_main
from pakfashion.publishing.dataset import dataset_upload
from pakfashion.publishing.hub import HubClient, RepoUpload, hub_token, push, refuse_token_leak
from pakfashion.publishing.model import model_upload
from pakfashion.publishing.version import SourceVersion, read_version

log = logging.getLogger(__name__)

# The stages whose outputs a publish reads: their outputs must match dvc.lock.
PUBLISHED_STAGES = ["caption", "train", "evaluate"]
# The dry run's owner when publish.namespace is unset (a real run asks the Hub whose token it holds).
NAMESPACE_PLACEHOLDER = "your-hf-username"


def uploads(paths: PathsConfig, model: ModelConfig, train: TrainConfig, settings: PublishConfig, *,
            version: SourceVersion, namespace: str) -> list[RepoUpload]:
    """The uploads of ``settings.targets``, built from the pipeline's outputs (nothing is sent).

    Raises:
        StageError: an output is missing; it names the stage to run.
    """
    dataset_repo = f"{namespace}/{settings.dataset_repo}"
    built = []
    try:
        if PublishTarget.dataset in settings.targets:
            built.append(dataset_upload(paths.dataset, paths.state / "publish", version, dataset_repo,
                                        images_per_shard=settings.images_per_shard))
        if PublishTarget.model in settings.targets:
            built.append(model_upload(model, train, run_dir=paths.models / train.run_name, dataset_dir=paths.dataset,
                                      metrics_dir=paths.metrics, reports_dir=paths.reports, version=version,
                                      repo_id=f"{namespace}/{settings.model_repo}", dataset_repo=dataset_repo,
                                      widget_images=settings.widget_images))
    except FileNotFoundError as err:
        raise StageError(f"not published: {err}") from None
    return built


def dry_run_text(built: list[RepoUpload], version: SourceVersion) -> str:
    """What a dry run prints: the version's problems, then each repo's files and card."""
    lines = [f"warning: a real publish would stop here: {problem}" for problem in version.problems()]
    for upload in built:
        lines += ["", upload.listing(), "", f"--- {upload.repo_id}: README.md ---", upload.card.rstrip("\n")]
    return "\n".join(lines) + "\n"


def publish(root: Path, paths: PathsConfig, model: ModelConfig, train: TrainConfig, settings: PublishConfig, *,
            api: HubClient | None = None) -> list[RepoUpload]:
    """Build the uploads and, unless ``settings.dry_run``, push them (the dry run prints them instead)."""
    version = read_version(root, paths.dataset, stages=PUBLISHED_STAGES)
    if settings.dry_run:
        built = uploads(paths, model, train, settings, version=version,
                        namespace=settings.namespace or NAMESPACE_PLACEHOLDER)
        sys.stdout.write(dry_run_text(built, version))
        return built
    if version.problems():
        raise StageError("not published: " + "; ".join(version.problems()))
    token = hub_token()
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    namespace = settings.namespace or api.whoami()["name"]
    built = uploads(paths, model, train, settings, version=version, namespace=namespace)
    for upload in built:
        refuse_token_leak(upload, token)
    for upload in built:
        commit = push(api, upload, private=settings.private)
        sys.stdout.write(f"{upload.repo_type} {upload.repo_id}: {commit.commit_url} (tags: {', '.join(upload.tags)})\n")
    return built


def hydra_argv(argv: list[str]) -> list[str]:
    """``--dry-run`` as the Hydra override ``publish.dry_run=true`` (Hydra takes only ``key=value`` overrides)."""
    return [("publish.dry_run=true" if arg == "--dry-run" else arg) for arg in argv]


@stage_main
def main(cfg: DictConfig) -> None:
    """Entry: ``python -m pakfashion.publish [--dry-run] [publish.key=value ...]`` (reads params.yaml)."""
    publish(Path.cwd(), as_typed(cfg.paths, PathsConfig), as_typed(cfg.model, ModelConfig),
            as_typed(cfg.train, TrainConfig), as_typed(cfg.publish, PublishConfig))


if __name__ == "__main__":
    sys.argv = hydra_argv(sys.argv)
    main()
