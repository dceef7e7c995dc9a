"""No-op `dvc repro` time on a repository whose pipeline has already run (target: under 5 s).

Runs `dvc repro` (and `dvc status`) several times in the given repository — by default this
checkout, after `make demo` — and reports the median. Nothing may re-run: the script fails if a
stage does.

    .venv/bin/python benchmarks/noop_repro.py [--repo .] [--runs 5]

Ends with ``ratio=<target/median> ours=<median s> baseline=<target s> unit=s`` (ratio > 1: under target).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "noop_repro.json"
TARGET_S = 5.0


def timed(cmd: list[str], repo: Path) -> tuple[float, str]:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=Path("."))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not (args.repo / "dvc.lock").exists():
        sys.exit(f"{args.repo} has no dvc.lock: run `make demo` first")
    repro, status = [], []
    for _ in range(args.runs):
        seconds, out = timed(["dvc", "repro"], args.repo)
        if "Running stage" in out:
            sys.exit(f"a stage re-ran, so this is not a no-op repro:\n{out}")
        repro.append(seconds)
        status.append(timed(["dvc", "status"], args.repo)[0])
    median = statistics.median(repro)
    print(f"dvc repro (no-op): median {median:.2f} s, runs {[round(s, 2) for s in repro]}; "
          f"dvc status median {statistics.median(status):.2f} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": platform.node(), "repro_s": repro, "status_s": status}, indent=2))
    print(f"ratio={TARGET_S / median:.2f} ours={median:.2f} baseline={TARGET_S:.2f} unit=s")


if __name__ == "__main__":
    main()
