"""The train stage's LoRA teaches the committed tiny SD colours its pretraining lacked: a small run of
benchmarks/learnability.py (about a minute on CPU)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

LAST_LINE = re.compile(r"^ratio=(?P<ratio>\S+) ours=(?P<ours>\S+) baseline=(?P<baseline>\S+) unit=")


def test_lora_teaches_the_held_out_colours_and_the_base_does_not_draw_them(repo_root: Path, tmp_path: Path) -> None:
    results = tmp_path / "learnability.json"
    command = [sys.executable, str(repo_root / "benchmarks" / "learnability.py"), "--steps", "100", "--images", "128",
               "--seeds", "1", "--results", str(results)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # steady on a shared machine; the numbers are per-thread-count
    done = subprocess.run(command, cwd=repo_root, env=env, capture_output=True, text=True, timeout=600, check=True)
    match = LAST_LINE.match(done.stdout.strip().splitlines()[-1])
    assert match, done.stdout
    ours, baseline = float(match["ours"]), float(match["baseline"])
    chance = 1 / 16  # the world palette's colours
    assert ours >= 0.2, f"fine-tuned held-out colour accuracy {ours} is not clearly above chance\n{done.stdout}"
    assert ours > 2 * max(baseline, chance), done.stdout
    recorded = json.loads(results.read_text())
    assert recorded["finetuned"]["held_out"]["accuracy"] == pytest.approx(ours, abs=0.001)
    assert recorded["train"]["steps"] == 100
