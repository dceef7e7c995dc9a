"""`python -m pakfashion.publish`: the dry run's files and cards on the demo outputs, the exact Hub calls of a
real run (a recording client checked against HfApi's signatures), the token rules and the version checks."""

from __future__ import annotations

import inspect
import io
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from pakfashion.common.errors import StageError
from pakfashion.config import (
    DatasetLayout,
    ModelConfig,
    PathsConfig,
    PublishConfig,
    PublishTarget,
    TrainConfig,
    compose_config,
    settings_from,
)
from pakfashion.publish import NAMESPACE_PLACEHOLDER, hydra_argv, publish, uploads
from pakfashion.publishing.dataset import dataset_upload
from pakfashion.publishing.hub import RepoUpload, hub_token, push, refuse_token_leak
from pakfashion.publishing.version import SourceVersion, dataset_tag, read_version
from tests.helpers.repo import clone_with_outputs, run

# Made up per run, so no file (this one included) can hold it unless publishing wrote it there.
FAKE_TOKEN = "hf_" + secrets.token_hex(17)


class RecordingHub:
    """Stands in for HfApi: records each call after binding it to HfApi's own signature (a wrong keyword fails)."""

    def __init__(self, remote_files: dict[str, list[str]] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.remote_files = remote_files or {}

    def _record(self, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        from huggingface_hub import HfApi

        bound = inspect.signature(getattr(HfApi, name)).bind(None, *args, **kwargs).arguments
        bound.pop("self")
        self.calls.append((name, bound))
        return bound

    def whoami(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._record("whoami", *args, **kwargs)
        return {"name": "someone"}

    def create_repo(self, *args: Any, **kwargs: Any) -> str:
        return str(self._record("create_repo", *args, **kwargs)["repo_id"])

    def list_repo_files(self, *args: Any, **kwargs: Any) -> list[str]:
        return self.remote_files.get(self._record("list_repo_files", *args, **kwargs)["repo_id"], [])

    def create_commit(self, *args: Any, **kwargs: Any) -> Any:
        bound = self._record("create_commit", *args, **kwargs)
        oid = f"{len(self.calls):040x}"
        return SimpleNamespace(oid=oid, commit_url=f"https://huggingface.co/{bound['repo_id']}/commit/{oid}")

    def create_tag(self, *args: Any, **kwargs: Any) -> None:
        self._record("create_tag", *args, **kwargs)


def settings_of(repo: Path, *overrides: str) -> tuple[PathsConfig, ModelConfig, TrainConfig, PublishConfig]:
    cfg = compose_config(repo / "conf", overrides)
    return (settings_from(cfg, "paths", PathsConfig), settings_from(cfg, "model", ModelConfig),
            settings_from(cfg, "train", TrainConfig), settings_from(cfg, "publish", PublishConfig))


@pytest.fixture(scope="module")
def published_repo(demo_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean clone of the demo run's commit with its outputs (the e2e tests run experiments in demo_repo)."""
    return clone_with_outputs(demo_repo, tmp_path_factory.mktemp("publish") / "repo")


@pytest.fixture()
def in_repo(published_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(published_repo)
    return published_repo


def version_of(repo: Path) -> SourceVersion:
    return read_version(repo, Path("data/dataset"), stages=["caption", "train", "evaluate"])


# --- on the demo outputs -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_dry_run_prints_both_repos_without_network_or_token(published_repo: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(published_repo.parent / "hf-home"), HF_TOKEN=FAKE_TOKEN)
    out = run([sys.executable, "-m", "pakfashion.publish", "--dry-run"], published_repo, stdout_only=True, env=env)
    assert "warning" not in out  # a committed, reproduced demo names its exact version
    dataset_repo, model_repo = f"{NAMESPACE_PLACEHOLDER}/pakfashion", f"{NAMESPACE_PLACEHOLDER}/pakfashion-lora-tiny"
    assert f"dataset repo {dataset_repo}: " in out and f"model repo {model_repo}: " in out
    for name in ("data/train-00000-of-00001.parquet", "data/validation-00000-of-00001.parquet", "README.md",
                 "pytorch_lora_weights.safetensors", "lora-tiny.safetensors", "images/00.png", "images/samples.png",
                 "metrics/eval.json", f"--- {model_repo}: README.md ---", "library_name: diffusers", "widget:"):
        assert name in out, name
    # Nothing of the token was written anywhere git sees, and no tracked file changed.
    assert run(["git", "status", "--porcelain", "--untracked-files=all"], published_repo, stdout_only=True) == ""
    tracked = run(["git", "ls-files", "-z"], published_repo, stdout_only=True).split("\0")
    assert not [name for name in filter(None, tracked) if FAKE_TOKEN.encode() in (published_repo / name).read_bytes()]


@pytest.mark.slow
def test_cards_parse_and_name_the_exact_version(in_repo: Path) -> None:
    import datasets
    from huggingface_hub import DatasetCard, ModelCard

    paths, model, train, settings = settings_of(in_repo)
    version = version_of(in_repo)
    built = {u.repo_type: u for u in uploads(paths, model, train, settings, version=version, namespace="someone")}
    lock = (in_repo / "dvc.lock").read_text()
    assert version.dataset_md5 and version.dataset_md5 in lock and version.trained_on_md5 == version.dataset_md5
    head = run(["git", "rev-parse", "HEAD"], in_repo, stdout_only=True).strip()
    tag = dataset_tag(version.dataset_md5)

    dataset_card = DatasetCard(built["dataset"].card)
    assert dataset_card.data.license == "other" and "text-to-image" in dataset_card.data.task_categories
    assert dataset_card.data.configs[0]["data_files"][0] == {"split": "train", "path": "data/train-*.parquet"}
    assert f"revision={tag!r}" in dataset_card.text and version.dataset_md5 in dataset_card.text and head in dataset_card.text
    assert built["dataset"].tags == [tag, f"rev-{head[:12]}"]

    model_card = ModelCard(built["model"].card)  # raises on a model-index the Hub could not read
    data = model_card.data
    # The tiny base is a folder of this repo, not a Hub model: no base_model the Hub would reject.
    assert (data.base_model, data.library_name, data.license, data.pipeline_tag) == (
        None, "diffusers", "mit", "text-to-image")
    assert data.datasets == ["someone/pakfashion"]
    widget_urls = [entry["output"]["url"] for entry in data.widget]
    assert len(widget_urls) == settings.widget_images and set(widget_urls) <= set(built["model"].files)
    prompts = [entry["prompt"] for entry in json.loads((in_repo / "reports/samples/samples.json").read_text())]
    assert [entry["text"] for entry in data.widget] == prompts[: settings.widget_images]
    eval_metrics = json.loads((in_repo / "metrics/eval.json").read_text())
    by_type = {result.metric_type: result for result in data.eval_results}
    assert by_type["clip_score"].metric_value == pytest.approx(eval_metrics["clip_score_finetuned"])
    assert by_type["fid"].dataset_revision == tag and by_type["fid"].dataset_type == "someone/pakfashion"
    assert "pipe.load_lora_weights('someone/pakfashion-lora-tiny'" in model_card.text
    assert f"datasets/someone/pakfashion/tree/{tag}" in model_card.text and "lora-tiny.safetensors" in model_card.text

    # The Parquet copy of the imagefolder holds the same rows and the same image bytes.
    shards = {path: src for path, src in built["dataset"].files.items() if path.endswith(".parquet")}
    loaded = datasets.load_dataset("parquet", data_files={s: [str(p) for n, p in shards.items() if f"/{s}-" in n]
                                                          for s in ("train", "validation")})
    for split in ("train", "validation"):
        rows = [json.loads(line) for line in (in_repo / f"data/dataset/{split}/metadata.jsonl").read_text().splitlines()]
        assert loaded[split]["file_name"] == [row["file_name"] for row in rows]
        first = loaded[split].cast_column("image", datasets.Image(decode=False))[0]["image"]["bytes"]
        assert first == (in_repo / f"data/dataset/{split}" / rows[0]["file_name"]).read_bytes()


@pytest.mark.slow
def test_publish_makes_exactly_these_hub_calls(in_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    stale = "data/train-00000-of-00002.parquet"  # a shard of an older version with more shards
    hub = RecordingHub({"someone/pakfashion": [".gitattributes", stale, "README.md"]})
    paths, model, train, settings = settings_of(in_repo)
    built = publish(in_repo, paths, model, train, settings, api=hub)
    names = [name for name, _ in hub.calls]
    assert names == ["whoami", "create_repo", "list_repo_files", "create_commit", "create_tag", "create_tag",
                     "create_repo", "list_repo_files", "create_commit", "create_tag"]
    dataset_commit, model_commit = (args for name, args in hub.calls if name == "create_commit")
    assert dataset_commit["repo_id"] == "someone/pakfashion" and dataset_commit["repo_type"] == "dataset"
    adds = {op.path_in_repo for op in dataset_commit["operations"] if isinstance(op, CommitOperationAdd)}
    deletes = [op.path_in_repo for op in dataset_commit["operations"] if isinstance(op, CommitOperationDelete)]
    assert adds == set(built[0].files) and deletes == [stale]
    assert {op.path_in_repo for op in model_commit["operations"]} == set(built[1].files)
    first_repo = next(args for name, args in hub.calls if name == "create_repo")
    assert first_repo == {"repo_id": "someone/pakfashion", "repo_type": "dataset", "private": True, "exist_ok": True}
    tags = [args for name, args in hub.calls if name == "create_tag"]
    version = version_of(in_repo)
    assert tags[0]["tag"] == dataset_tag(version.dataset_md5) and tags[0]["repo_type"] == "dataset"
    assert [tag["tag"] for tag in tags[1:]] == [f"rev-{version.git_rev[:12]}"] * 2
    assert tags[2]["repo_id"] == "someone/pakfashion-lora-tiny" and tags[2]["repo_type"] == "model"
    assert all(tag["revision"] for tag in tags)


# --- without the demo run ------------------------------------------------------------------------------------


def test_no_token_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "stored_tokens"))
    with pytest.raises(StageError, match=r"HF_TOKEN.*hf auth login"):
        hub_token()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(StageError, match="HF_HUB_OFFLINE=1.*make publish"):
        hub_token()


def test_a_file_holding_the_token_stops_the_upload(tmp_path: Path) -> None:
    notebook = tmp_path / "train.ipynb"
    notebook.write_text(json.dumps({"cells": [{"source": f"login(token='{FAKE_TOKEN}')"}]}))
    upload = RepoUpload("me/x", "model", {"README.md": b"card", "train.ipynb": notebook}, "card", "msg")
    with pytest.raises(StageError, match="train.ipynb contains the Hugging Face token"):
        refuse_token_leak(upload, FAKE_TOKEN)
    refuse_token_leak(RepoUpload("me/x", "model", {"README.md": b"card"}, "card", "msg"), FAKE_TOKEN)


def test_the_token_has_no_config_key(repo_root: Path) -> None:
    with pytest.raises(Exception, match="token"):
        settings_of(repo_root, "+publish.token=" + FAKE_TOKEN)


def test_push_removes_only_files_the_new_version_lacks() -> None:
    from huggingface_hub import CommitOperationDelete

    hub = RecordingHub({"me/d": [".gitattributes", "README.md", "data/old.parquet"]})
    upload = RepoUpload("me/d", "dataset", {"README.md": b"card", "data/new.parquet": b"rows"}, "card", "msg",
                        tags=["dvc-0123456789ab"], tag_message="why")
    commit = push(hub, upload, private=False)
    operations = next(args for name, args in hub.calls if name == "create_commit")["operations"]
    assert [op.path_in_repo for op in operations if isinstance(op, CommitOperationDelete)] == ["data/old.parquet"]
    assert hub.calls[-1] == ("create_tag", {"repo_id": "me/d", "tag": "dvc-0123456789ab", "tag_message": "why",
                                            "revision": commit.oid, "repo_type": "dataset", "exist_ok": True})


def test_version_problems_say_what_to_do() -> None:
    clean = SourceVersion(git_rev="a" * 40, git_tags=[], git_remote="", uncommitted=[], dataset_md5="f" * 32 + ".dir",
                          trained_on_md5="f" * 32 + ".dir", stale=[])
    assert clean.problems() == [] and clean.trained_on_tag == "dvc-ffffffffffff"
    dirty = SourceVersion(git_rev="", git_tags=[], git_remote="", uncommitted=["dvc.lock"], dataset_md5="",
                          trained_on_md5="", stale=["train"])
    problems = " ".join(dirty.problems())
    for words in ("not a git repository", "dvc.lock not committed as they are", "git add dvc.lock && git commit", "run `dvc repro` first", "(train)"):
        assert words in problems


def test_dry_run_flag_becomes_the_hydra_override() -> None:
    assert hydra_argv(["publish", "--dry-run", "publish.namespace=me"]) == [
        "publish", "publish.dry_run=true", "publish.namespace=me"]


def test_a_parquet_dataset_is_uploaded_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pakfashion.common.dataset_files import write_dataset_files

    monkeypatch.chdir(tmp_path)  # stages and publish run at the repository root, paths.dataset relative to it

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "purple").save(buffer, format="JPEG")
    rows = [{"file_name": f"{c * 64}.jpg", "text": "a purple kurta", "sha256": c * 64, "split": split}
            for c, split in (("a", "train"), ("b", "validation"))]
    dataset = Path("data/dataset")
    write_dataset_files(rows, lambda sha: buffer.getvalue(), dataset, layout=DatasetLayout.parquet, images_per_shard=10)
    (dataset / "README.md").write_text("---\nlicense: other\n---\n# card\n")
    version = SourceVersion(git_rev="b" * 40, git_tags=["dataset-v1.0", "other"], git_remote="https://git.example/p",
                            uncommitted=[], dataset_md5="c" * 32 + ".dir", trained_on_md5="", stale=[])
    upload = dataset_upload(dataset, tmp_path / "staging", version, "me/pakfashion", images_per_shard=10)
    assert upload.files["data/train-00000-of-00001.parquet"] == dataset / "data/train-00000-of-00001.parquet"
    assert not (tmp_path / "staging").exists()  # nothing converted
    assert upload.tags == ["dvc-cccccccccccc", "rev-bbbbbbbbbbbb", "dataset-v1.0"]
    assert "dvc get https://git.example/p data/dataset --rev " + "b" * 40 in upload.card


def test_targets_pick_the_repos(repo_root: Path, tmp_path: Path) -> None:
    *_, settings = settings_of(repo_root, "publish.targets=[model]", "publish.namespace=me")
    assert settings.targets == [PublishTarget.model] and settings.namespace == "me"
    with pytest.raises(Exception, match="owner is publish.namespace"):
        settings_of(repo_root, "publish.model_repo=me/x")


def test_cli_without_outputs_says_which_stage_to_run(tmp_path: Path, repo_root: Path) -> None:
    from tests.helpers.repo import copy_repo

    work = copy_repo(repo_root, tmp_path / "repo", with_git=True)
    done = subprocess.run([sys.executable, "-m", "pakfashion.publish", "--dry-run"], cwd=work, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 1, done.stderr[-2000:]
    assert "run the caption stage" in done.stdout + done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(("base", "licence"), [("sd15", "creativeml-openrail-m"), ("sdxl", "openrail++")])
def test_a_real_base_is_the_cards_base_model_with_its_licence(repo_root: Path, base: str, licence: str) -> None:
    from huggingface_hub import ModelCard

    from pakfashion.training.card import model_card

    _, model, train, _ = settings_of(repo_root, f"model={base}", "profile=full")
    card = ModelCard(model_card(model, train, {"samples": 3}, out_dir=Path("models") / train.run_name,
                                dataset_dir=Path("data/dataset"), dataset_hash=None, location="me/run"))
    assert (card.data.base_model, card.data.license) == (model.pretrained, licence)
    assert f"<lora:{train.run_name}:1>" in card.text and f"`{train.run_name}.safetensors`" in card.text


def test_a_refused_upload_says_what_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    class ReadOnlyHub(RecordingHub):
        def create_commit(self, *args: Any, **kwargs: Any) -> Any:
            self._record("create_commit", *args, **kwargs)
            response = SimpleNamespace(status_code=403, headers={}, request=None)
            raise HfHubHTTPError("403 Forbidden: You don't have the rights to create a model under namespace "
                                 "'someone-else'", response=response)

    hub = ReadOnlyHub()
    upload = RepoUpload("someone-else/run", "model", {"README.md": b"card"}, "card", "msg", tags=["rev-0"])
    with pytest.raises(StageError, match=r"someone-else/run not published: .*403.*write access.*publish.namespace"):
        push(hub, upload, private=True)
    assert "create_tag" not in [name for name, _ in hub.calls]  # nothing is tagged after a refused commit

