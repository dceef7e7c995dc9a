"""dvc.yaml cannot go stale: each stage's code deps cover its import closure inside the package (and no
more), and its params cover the config sections its entry module reads."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

SRC = REPO_ROOT / "src"
PACKAGE = "pakfashion"
# Sections a stage reads on purpose without listing them in params (a change must not re-run it).
UNLISTED_SECTIONS = {
    "paths": "every stage: dvc.yaml templates the paths into deps and outs, so a new path is a new stage",
    "site": "crawl: conf/site/ (every site file) is the stage's dep",
    "web": "crawl: how we ask (user agent, retries) is not what the sites say; crawl.json records it",
    "tracking": "train, evaluate: where W&B logs does not change what is trained or measured",
    "build": "tiny_models@<name>: the +build=<name> override is the stage's own name",
}


def stages() -> dict[str, tuple[str, list[str], list[str]]]:
    """Each stage of dvc.yaml (templated from params.yaml): its command, dep paths and params."""
    from dvc.repo import Repo

    with Repo(str(REPO_ROOT)) as dvc:
        found = {}
        for stage in dvc.index.stages:
            params = [key for dep in stage.deps if hasattr(dep, "params") for key in (dep.params or [])]
            paths = [dep.def_path for dep in stage.deps if not hasattr(dep, "params")]
            found[stage.name] = (stage.cmd, paths, params)
        return found


def module_file(module: str) -> Path | None:
    """The source file of ``pakfashion.x.y`` (a module or a package's ``__init__``), if it exists."""
    base = SRC.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """The package modules a file imports anywhere (functions included), submodules of ``from`` too."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if module_file(f"{node.module}.{alias.name}") is not None)
    return found


def closure(entry: str) -> set[Path]:
    """Every package file that running ``python -m <entry>`` can import (parent packages' __init__ too)."""
    todo, files = [entry], set()
    while todo:
        module = todo.pop()
        parts = module.split(".")
        for depth in range(1, len(parts) + 1):
            path = module_file(".".join(parts[:depth]))
            if path is not None and path not in files:
                files.add(path)
                todo.extend(imported_modules(path))
    return files


def entry_module(cmd: str) -> str:
    found = re.search(rf"-m ({PACKAGE}(?:\.\w+)*)", cmd)
    assert found, f"stage command {cmd!r} does not run a {PACKAGE} module"
    return found.group(1)


def covers(dep: str, path: Path) -> bool:
    target = (REPO_ROOT / dep).resolve()
    return path == target or target in path.parents


def uncovered_files(needed: set[Path], deps: list[str]) -> list[str]:
    return sorted(str(p.relative_to(REPO_ROOT)) for p in needed if not any(covers(d, p) for d in deps))


STAGES = stages()


def code_deps_of(deps: list[str]) -> list[str]:
    return [d for d in deps if (REPO_ROOT / d).resolve().is_relative_to(SRC)]


@pytest.mark.parametrize("name", sorted(n for n in STAGES if n != "crawl"))
def test_code_deps_are_the_import_closure(name: str) -> None:
    cmd, deps, _ = STAGES[name]
    needed = closure(entry_module(cmd))
    code_deps = code_deps_of(deps)
    uncovered = uncovered_files(needed, code_deps)
    assert not uncovered, f"{name}: add to its dvc.yaml deps (the stage imports them): {uncovered}"
    unused = [d for d in code_deps if not any(covers(d, p) for p in needed)]
    assert not unused, f"{name}: dvc.yaml deps the stage never imports: {unused}"


def test_crawls_follow_the_web_not_the_code() -> None:
    """DESIGN.md: a crawl re-runs when a site file, the site list or crawl.snapshot changes, never for a code
    change."""
    _, deps, params = STAGES["crawl"]
    assert not code_deps_of(deps) and "conf/site" in deps, deps
    assert sorted(params) == ["crawl.sites", "crawl.snapshot"]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_params_cover_the_sections_the_stage_reads(name: str) -> None:
    cmd, _, params = STAGES[name]
    tree = ast.parse(module_file(entry_module(cmd)).read_text())  # type: ignore[union-attr]
    read = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "cfg"}
    read |= {node.args[0].value for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
             and isinstance(node.func.value, ast.Name) and node.func.value.id == "cfg"
             and node.args and isinstance(node.args[0], ast.Constant)}
    listed = {key.split(".")[0] for key in params}
    missing = sorted(read - listed - set(UNLISTED_SECTIONS) - {"get"})
    assert not missing, f"{name}: reads cfg sections {missing} that its dvc.yaml params do not list"


def test_the_closure_follows_imports(tmp_path: Path) -> None:
    """The check itself: the train stage's closure holds modules it reaches only through other modules."""
    train = closure("pakfashion.training.loop")
    assert SRC / PACKAGE / "config.py" in train and SRC / PACKAGE / "__init__.py" in train
    assert any(p.parent.name == "training" for p in train)
