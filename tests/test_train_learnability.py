"""The train stage teaches colour words: a small run of benchmarks/learnability.py (about a minute on CPU)."""

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


def test_fine_tuned_model_separates_red_from_blue_and_base_does_not(repo_root: Path, tmp_path: Path) -> None:
    results = tmp_path / "learnability.json"
    command = [sys.executable, str(repo_root / "benchmarks" / "learnability.py"), "--steps", "250",
               "--vae-steps", "200", "--seeds", "2", "--results", str(results)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # steady on a shared machine; the numbers are per-thread-count
    done = subprocess.run(command, cwd=repo_root, env=env, capture_output=True, text=True, timeout=600, check=True)
    match = LAST_LINE.match(done.stdout.strip().splitlines()[-1])
    assert match, done.stdout
    ours, baseline = float(match["ours"]), float(match["baseline"])
    assert ours > 10, f"fine-tuned red-minus-blue separation {ours} is not clearly positive\n{done.stdout}"
    assert ours > 5 * max(abs(baseline), 1.0), done.stdout
    recorded = json.loads(results.read_text())
    assert recorded["finetuned"]["separation"] == pytest.approx(ours, abs=0.05)
    assert recorded["train"]["steps"] == 250
