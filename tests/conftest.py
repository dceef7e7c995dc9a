"""Shared fixtures: the repository root, the loopback demo store, offline environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Never reach a hub or a tracker from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture()
def demo_store() -> Iterator["DemoServer"]:  # noqa: F821
    """A fresh demo store (both sites) on a free loopback port, stopped after the test."""
    from pakfashion.demo import running_demo

    with running_demo(port=0) as server:
        yield server


@pytest.fixture()
def platform_store() -> Iterator["DemoServer"]:  # noqa: F821
    """The demo store with its SFCC (demo_sfcc), WooCommerce (demo_woo) and Magento (demo_magento) sites."""
    from pakfashion.demo import running_demo

    with running_demo(port=0, platform_demos=True) as server:
        yield server


@pytest.fixture(scope="session")
def demo_repo(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Path:
    """A git copy of the repository after one full `dvc repro` on the demo store, committed."""
    import sys

    from tests.helpers.repo import commit_all, copy_repo, run

    work = copy_repo(repo_root, tmp_path_factory.mktemp("e2e") / "repo", with_git=True)
    run([sys.executable, "-m", "pakfashion.demo", "run", "--port", "0", "--", "dvc", "repro"], work)
    commit_all(work, "demo run")
    return work


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny random-weight SD pipeline (the `tiny_models` stage's `sd`), built once per session."""
    from pakfashion.models.tiny import build_tiny_sd

    out = tmp_path_factory.mktemp("tiny") / "sd"
    build_tiny_sd(out, seed=0)
    return str(out)
