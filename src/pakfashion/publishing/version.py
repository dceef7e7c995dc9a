"""Which exact version is published: the git rev of the pipeline and the DVC hashes of its outputs."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from pakfashion.common.errors import StageError
from pakfashion.contracts import PARAMS_FILE
from pakfashion.training.card import dataset_md5 as dataset_md5_in

log = logging.getLogger(__name__)

LOCK_FILE = "dvc.lock"
# The files that define what the outputs are: a change to one not yet committed means the git rev does not name
# the published bytes.
DEFINING_FILES = (LOCK_FILE, PARAMS_FILE, "dvc.yaml")


@dataclass(frozen=True)
class SourceVersion:
    """The git rev and DVC hashes the published files come from."""

    git_rev: str  # the commit's full sha ("" outside a git repository)
    git_tags: list[str]  # tags on that commit (``make release-dataset``'s dataset-v*)
    git_remote: str  # ``origin``'s URL ("" when none), for ``dvc get <remote> data/dataset --rev <rev>``
    uncommitted: list[str]  # of :data:`DEFINING_FILES`, those that differ from the commit
    dataset_md5: str  # the caption stage's dataset output in dvc.lock ("" before a run)
    trained_on_md5: str  # the dataset the train stage read, as dvc.lock records its dependency
    stale: list[str]  # stages whose outputs or dependencies differ from dvc.lock (``dvc status``)

    @property
    def trained_on_tag(self) -> str:
        """The Hub tag of the dataset version the model was trained on (the current one when unrecorded)."""
        return dataset_tag(self.trained_on_md5 or self.dataset_md5)

    def problems(self) -> list[str]:
        """Why the published copy would not name its exact version (empty when it does)."""
        found = []
        if not self.git_rev:
            found.append("this is not a git repository: the Hub copy could not name the rev it came from")
        if self.uncommitted:
            files = " ".join(self.uncommitted)
            found.append(f"{', '.join(self.uncommitted)} not committed as they are (the Hub copy would name a git rev "
                         f"that does not describe it): `git add {files} && git commit` first")
        if not self.dataset_md5:
            found.append(f"{LOCK_FILE} has no dataset output: run `dvc repro` first")
        if self.stale:
            found.append(f"outputs differ from {LOCK_FILE} ({', '.join(self.stale)}): run `dvc repro` (or "
                         "`dvc checkout`) and commit dvc.lock")
        return found


def dataset_tag(md5: str) -> str:
    """The Hub tag of a dataset version: ``dvc-`` and the first 12 hex digits of its DVC md5."""
    return f"dvc-{md5.removesuffix('.dir')[:12]}"


def rev_tag(git_rev: str) -> str:
    """The Hub tag of the pipeline's git rev: ``rev-`` and its first 12 hex digits."""
    return f"rev-{git_rev[:12]}"


def _git(root: Path, *args: str) -> str:
    """``git <args>`` in ``root``: its stripped stdout, or "" when git fails (no repository, no remote)."""
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def train_dependency_md5(lock_file: Path, path: Path) -> str:
    """The md5 of ``path`` as dvc.lock records the train stage's dependency on it ("" when absent)."""
    if not lock_file.is_file():
        return ""
    deps = ((yaml.safe_load(lock_file.read_text()) or {}).get("stages", {}).get("train", {}).get("deps", []))
    return next((dep.get("md5", "") for dep in deps if Path(dep["path"]) == path), "")


def stale_stages(root: Path, targets: list[str]) -> list[str]:
    """The stages among ``targets`` whose outputs or dependencies differ from dvc.lock, as ``dvc status`` says."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            return sorted(name.split(":")[-1] for name in repo.status(targets=targets))
    except DvcException as err:
        raise StageError(f"dvc status failed in {root}: {err}") from err


def read_version(root: Path, dataset_dir: Path, *, stages: list[str]) -> SourceVersion:
    """The version of ``root``'s outputs: git rev, tags, remote, uncommitted defining files and DVC hashes."""
    rev = _git(root, "rev-parse", "HEAD")
    changed = _git(root, "status", "--porcelain", "--", *DEFINING_FILES) if rev else ""
    dataset_md5 = dataset_md5_in(root / LOCK_FILE, dataset_dir) or ""
    trained_on = train_dependency_md5(root / LOCK_FILE, dataset_dir)
    return SourceVersion(
        git_rev=rev,
        git_tags=_git(root, "tag", "--points-at", "HEAD").split() if rev else [],
        git_remote=_git(root, "remote", "get-url", "origin") if rev else "",
        uncommitted=sorted(line[3:] for line in changed.splitlines()),
        dataset_md5=dataset_md5,
        trained_on_md5=trained_on,
        stale=stale_stages(root, stages) if dataset_md5 else [],
    )
