"""Download benchmark: our download stage vs. img2dataset on the same loopback images, side by side.

A bulk image server (``python -m pakfashion.demo.bulk``, its own process) serves N generated JPEGs
(20-100 KB, 300-900 px). Each tool runs as its own process tree with the same budget: 2 processes,
the same threads per process, resize to 256 px with a centre crop; wall time from launch to exit
(start-up included). Ours runs with robots.txt checks and pHash near-duplicate detection on.
img2dataset is installed only into ``benchmarks/.venv-img2dataset`` (created on first use).

    .venv/bin/python benchmarks/download.py [--images 5000] [--threads 16]

Ends with ``ratio=... ours=... baseline=... unit=images/s`` (ratio > 1: we are faster).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pakfashion.contracts import STORED_STATUSES

HERE = Path(__file__).resolve().parent
BASELINE_VENV = HERE / ".venv-img2dataset"
RESULTS = HERE / "results" / "download.json"
OURS = """
import sys
from pathlib import Path
import pandas as pd
from pakfashion.config import DownloadConfig, ResizeMode, WebConfig, compose_config, settings_from
from pakfashion.images.download import run_download, write_ledger
work, conf = Path(sys.argv[1]), compose_config(Path(sys.argv[3]))
settings = settings_from(conf, "download", DownloadConfig, processes=2, workers=int(sys.argv[2]),
                         per_host_concurrency=int(sys.argv[2]) * 2, min_delay_s=0.0, target_side_px=256,
                         resize_mode=ResizeMode.center_crop, near_duplicate_distance=4, min_success_rate=0.0,
                         log_every_s=3600)
web = settings_from(conf, "web", WebConfig)
rows, metrics = run_download(work / "products.csv", work / "images", settings, web=web, state_dir=work / "state")
write_ledger(rows, work / "images.csv")
print(metrics["by_status"])
"""


def ensure_baseline() -> Path:
    """img2dataset in its own venv (never in the product's)."""
    exe = BASELINE_VENV / "bin" / "img2dataset"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BASELINE_VENV)], check=True)
        subprocess.run([str(BASELINE_VENV / "bin" / "pip"), "install", "-q", "img2dataset"], check=True)
    return exe


def start_server(images: int) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen([sys.executable, "-m", "pakfashion.demo.bulk", "--images", str(images), "--port", "0"],
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def run_ours(urls: list[str], work: Path, threads: int) -> tuple[float, int]:
    import pandas as pd

    work.mkdir(parents=True)
    pd.DataFrame([{"site": "bulk", "product_id": str(i), "title": "", "image_urls": json.dumps([u])}
                  for i, u in enumerate(urls)]).to_csv(work / "products.csv", index=False)
    seconds = timed([sys.executable, "-c", OURS, str(work), str(threads), str(HERE.parent / "conf")], dict(os.environ))
    ledger = pd.read_csv(work / "images.csv")
    return seconds, int(ledger["status"].isin([status.value for status in STORED_STATUSES]).sum())


def run_baseline(exe: Path, urls: list[str], work: Path, threads: int) -> tuple[float, int]:
    work.mkdir(parents=True)
    (work / "urls.txt").write_text("\n".join(urls) + "\n")
    cmd = [str(exe), "--url_list", str(work / "urls.txt"), "--input_format", "txt", "--output_folder",
           str(work / "out"), "--output_format", "files", "--processes_count", "2", "--thread_count", str(threads),
           "--image_size", "256", "--resize_mode", "center_crop", "--number_sample_per_shard",
           str(max(1, len(urls) // 8)), "--timeout", "10", "--retries", "0", "--enable_wandb", "False",
           "--distributor", "multiprocessing"]
    seconds = timed(cmd, {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"})
    ok = sum(json.loads(p.read_text())["successes"] for p in (work / "out").glob("*_stats.json"))
    return seconds, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=16, help="threads per process, both tools")
    args = parser.parse_args()
    exe = ensure_baseline()
    server, base_url = start_server(args.images)
    try:
        urls = [f"{base_url}/img/{i}.jpg" for i in range(args.images)]
        with tempfile.TemporaryDirectory() as scratch:
            ours_s, ours_ok = run_ours(urls, Path(scratch) / "ours", args.threads)
            base_s, base_ok = run_baseline(exe, urls, Path(scratch) / "baseline", args.threads)
    finally:
        server.terminate()
        server.wait()
    ours, baseline = ours_ok / ours_s, base_ok / base_s
    print(f"ours: {ours_ok}/{args.images} images in {ours_s:.1f} s; img2dataset: {base_ok}/{args.images} in {base_s:.1f} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": platform.node(), "cpus": os.cpu_count(), "images": args.images,
                                   "threads": args.threads, "ours": {"seconds": ours_s, "ok": ours_ok},
                                   "img2dataset": {"seconds": base_s, "ok": base_ok}}, indent=2))
    print(f"ratio={ours / baseline:.2f} ours={ours:.1f} baseline={baseline:.1f} unit=images/s")


if __name__ == "__main__":
    if shutil.which("git") and not (HERE.parent / "src" / "pakfashion").exists():
        sys.exit("run from a pakfashion checkout with the package installed (make install)")
    main()
