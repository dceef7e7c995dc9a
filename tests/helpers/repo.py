"""Copy the repository's tracked files (plus uncommitted edits) into a scratch directory."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def copy_repo(repo_root: Path, dest: Path, *, with_git: bool = False) -> Path:
    """Copy what git tracks or would track (not ignored) to ``dest``; optionally start a fresh git repo."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=repo_root, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = repo_root / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    if with_git:
        git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=dest, check=True)
        subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
        subprocess.run([*git, "commit", "-qm", "copy"], cwd=dest, check=True)
    return dest


def run(cmd: list[str], cwd: Path, *, stdout_only: bool = False, env: dict[str, str] | None = None) -> str:
    """Run a command with the project's venv first on PATH, offline; fail with its output."""
    import os
    import sys

    full_env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "DVC_NO_ANALYTICS": "1", **(env or {})}
    done = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout if stdout_only else done.stdout + done.stderr


def commit_all(repo: Path, message: str) -> None:
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", message], cwd=repo, check=True)


def clone_with_outputs(source: Path, dest: Path) -> Path:
    """A git clone of ``source`` whose DVC outputs are checked out from ``source``'s cache (shared)."""
    subprocess.run(["git", "clone", "-q", str(source), str(dest)], check=True)
    run(["dvc", "cache", "dir", "--local", str(source / ".dvc" / "cache")], dest)
    run(["dvc", "checkout", "-q"], dest)
    return dest
