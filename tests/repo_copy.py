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
