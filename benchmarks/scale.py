"""Scale: every data stage at N = 1,000, 10,000 and 100,000 products, on the 19-site scale world.

For each N, a copy of this checkout (tracked and untracked files, not ignored ones) becomes a fresh git + DVC
project in ``--work``/<N>, with the scale world's 19 site configs and a ``profile=scale`` written into it and
``params.yaml`` composed from them. With the world served in this process (`pakfashion.demo.scale`), it times
``dvc repro`` of crawl, csv, download and caption (``caption=metadata_only``, then ``caption=tiny``), each
with its peak RSS (the largest process: DVC's own or the stage's) and the files it wrote; then ``dvc status``,
a no-op ``dvc repro caption``, ``dvc push`` to a local remote, ``datasets.load_dataset("imagefolder")`` and the
app's Dataset-tab search (`pakfashion.app.data.filter_dataset`) over every row.

The scale run measures counts, not bytes: the download keeps each image's size (``target_side_px=0``) at JPEG
quality 60, and DVC links its cache (``cache.type hardlink,symlink``), so 300,000 images take about 10 GB
once. Results go to ``benchmarks/results/scale.json`` and ``scale.png`` (time and peak RSS against N; the
growth column is (t(100k) / t(10k)) / 10, 1.0 being linear).

    .venv/bin/python benchmarks/scale.py [--products 1000 10000 100000] [--work /tmp/pakfashion-scale]
        [--crawl-delay 0.05] [--latency 0.02] [--keep]

Ends with ``ratio=<worst stage growth 10k->100k, linear/actual> ours=<that growth> baseline=1.0
unit=growth factor vs linear`` (ratio >= 1/1.3 meets the issue's bar).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
PYTHON = REPO / ".venv" / "bin" / "python"
DVC = str(PYTHON.parent / "dvc")
STAGES = ("crawl", "csv", "download", "caption_metadata_only", "caption_tiny")
OUTPUTS = {"crawl": "data/raw", "csv": "data", "download": "data/images", "caption_metadata_only": "data/dataset",
           "caption_tiny": "data/dataset"}
SEARCH = {"text": "embroidered lawn", "colour": "", "site": "", "garment": ""}
TIMED = f"""
import resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[1:]).returncode
seconds = time.perf_counter() - started
print(f"__timed__ {{code}} {{seconds}} {{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}}", file=sys.stderr)
"""
LOAD_DATASET = """
import sys, time
started = time.perf_counter()
from datasets import load_dataset
rows = load_dataset(sys.argv[1], split="train", cache_dir=sys.argv[2])
print(time.perf_counter() - started, len(rows))
"""
APP_SEARCH = """
import json, sys, time
from pathlib import Path
from pakfashion.app.data import DatasetQuery, filter_dataset, load_dataset
frame = load_dataset(Path(sys.argv[1]))
query = DatasetQuery(**json.loads(sys.argv[2]))
times = []
for _ in range(5):
    started = time.perf_counter()
    hits = filter_dataset(frame, query)
    times.append(time.perf_counter() - started)
print(sorted(times)[2], len(hits), len(frame))
"""


def profile_yaml(sites: list[str], products: int, layout: str) -> str:
    """conf/profile/scale.yaml for the work copy."""
    return f"""# @package _global_
# The scale world (python -m pakfashion.demo.scale): {products} products over {len(sites)} loopback sites.
defaults:
  - override /caption: metadata_only
  - override /model: tiny
crawl:
  sites: [{", ".join(sites)}]
  snapshot: scale-{products}
  min_delay_s: 0.0
download:
  # One CDN host serves every site's images (as cdn.shopify.com does): 2 in flight would take hours.
  workers: 8
  per_host_concurrency: 8
  min_delay_s: 0.0
  target_side_px: 0
  jpeg_quality: 60
dataset:
  layout: {layout}
tracking:
  wandb:
    mode: disabled
tiny_models: []
"""


def copy_checkout(work: Path) -> None:
    """The checkout's tracked and untracked (not ignored) files into ``work``, as a new git + DVC project."""
    if work.exists():
        shutil.rmtree(work)
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file() and not name.startswith("tests/") and name != "dvc.lock":
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / name)
    run(["git", "init", "-q"], work)
    run([DVC, "config", "--local", "cache.type", "hardlink,symlink"], work)
    run([DVC, "remote", "add", "--local", "-f", "-d", "scale", str(work / "storage")], work)


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)


def compose_params(work: Path, overrides: list[str]) -> None:
    """params.yaml from the work copy's conf/, as ``dvc exp run`` composes it."""
    code = ("import sys; from pathlib import Path; from pakfashion.common.params import recompose_params; "
            "recompose_params(Path('.'), sys.argv[1:])")
    run([str(PYTHON), "-c", code, *overrides], work)


def timed(cmd: list[str], work: Path, env: dict[str, str]) -> dict[str, float]:
    """Wall seconds and peak RSS (MiB, largest process) of ``cmd``; raises if it fails."""
    done = subprocess.run([str(PYTHON), "-c", TIMED, *cmd], cwd=work, env=env, capture_output=True, text=True)
    line = next(line for line in done.stderr.splitlines() if line.startswith("__timed__"))
    code, seconds, rss_kib = line.split()[1:]
    if int(code):
        sys.exit(f"{' '.join(cmd)} failed in {work}:\n{done.stderr[-4000:]}")
    return {"seconds": float(seconds), "peak_rss_mib": int(rss_kib) / 1024}


def slowest_site_alone(work: Path, env: dict[str, str]) -> dict[str, Any]:
    """The site that took longest in the side-by-side crawl, crawled again alone (fresh state) and timed."""
    from datetime import datetime

    def seconds(report: dict[str, Any]) -> float:
        return (datetime.fromisoformat(report["finished_at"]) - datetime.fromisoformat(report["started_at"])).total_seconds()

    reports = {path.parent.name: json.loads(path.read_text()) for path in (work / "data" / "raw").glob("*/crawl.json")}
    name = max(reports, key=lambda site: seconds(reports[site]))
    alone = work / "alone"
    figures = timed([str(PYTHON), "-m", "pakfashion.crawl", f"site={name}", f"paths.raw={alone}/raw",
                     f"paths.state={alone}/state", "hydra.run.dir=" + str(alone / "hydra")], work, env)
    shutil.rmtree(alone)
    return {"site": name, "side_by_side_s": seconds(reports[name]), **figures}


def count_files(path: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(path))


def measure(products: int, args: argparse.Namespace) -> dict[str, Any]:
    """Every stage and DVC/datasets/app timing for one N."""
    from pakfashion.demo.scale import (
        PORT_ENV,
        ScaleServer,
        ScaleWorld,
        write_site_configs,
    )

    work = args.work / str(products)
    world = ScaleWorld(products, crawl_delay_s=args.crawl_delay, latency_s=args.latency)
    copy_checkout(work)
    sites = write_site_configs(world, work / "conf" / "site")
    (work / "conf" / "profile" / "scale.yaml").write_text(profile_yaml(sites, products, args.layout))
    compose_params(work, ["profile=scale"])
    result: dict[str, Any] = {"products": products, "stages": {}}
    with ScaleServer(world) as server:
        env = {**os.environ, PORT_ENV: str(server.port), "PATH": f"{PYTHON.parent}:{os.environ['PATH']}",
               "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "DVC_NO_ANALYTICS": "1"}
        for stage in STAGES:
            name = stage.split("_")[0]
            if stage == "caption_tiny":
                compose_params(work, ["profile=scale", "caption=tiny"])
            print(f"[{products}] dvc repro {name} ({stage})", flush=True)
            figures = timed([DVC, "repro", "--single-item", name], work, env)
            figures["files"] = count_files(work / OUTPUTS[stage]) if stage != "csv" else 2
            result["stages"][stage] = figures
            print(f"[{products}]   {figures}", flush=True)
        result["requests"] = {f"{site}:{status}": n for (site, status), n in sorted(server.requests.items())}
        result["crawl_alone"] = slowest_site_alone(work, env)
    metrics = json.loads((work / "data" / "metrics" / "csv.json").read_text()) if (
        work / "data" / "metrics" / "csv.json").is_file() else {}
    result["kept_products"] = metrics.get("kept", metrics)
    result["images"] = count_files(work / "data" / "images")
    result["dvc_status"] = timed([DVC, "status"], work, env)
    result["noop_repro"] = timed([DVC, "repro", "caption"], work, env)
    result["dvc_push"] = timed([DVC, "push"], work, env)
    load = subprocess.run([str(PYTHON), "-c", LOAD_DATASET, str(work / "data" / "dataset"), str(work / "hf-cache")],
                          cwd=work, env=env,
                          check=True, capture_output=True, text=True).stdout.split()
    result["load_dataset"] = {"seconds": float(load[0]), "rows": int(load[1])}
    search = subprocess.run([str(PYTHON), "-c", APP_SEARCH, str(work / "data" / "dataset"), json.dumps(SEARCH)],
                            cwd=work, env=env, check=True, capture_output=True, text=True).stdout.split()
    result["app_search"] = {"seconds": float(search[0]), "hits": int(search[1]), "rows": int(search[2]),
                            "query": SEARCH}
    result["disk_gib"] = sum(f.stat().st_size for f in work.rglob("*") if f.is_file() and not f.is_symlink()) / 2**30
    if not args.keep:
        shutil.rmtree(work)
    return result


def merged_runs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The runs of ``--merge`` at sizes not measured now; refused if its settings differ."""
    if args.merge is None:
        return []
    earlier = json.loads(args.merge.read_text())
    settings = {"crawl_delay_s": args.crawl_delay, "latency_s": args.latency, "layout": args.layout}
    if {key: earlier.get(key) for key in settings} != settings:
        sys.exit(f"{args.merge} was measured with other settings ({earlier}); measure every N alike")
    return [run_ for run_ in earlier["runs"] if run_["products"] not in args.products]


def growth(runs: list[dict[str, Any]]) -> dict[str, float]:
    """(t(largest) / t(second largest)) / (N ratio) per stage; 1.0 is linear."""
    if len(runs) < 2:
        return {}
    small, large = sorted(runs, key=lambda r: r["products"])[-2:]
    factor = large["products"] / small["products"]
    out = {stage: large["stages"][stage]["seconds"] / small["stages"][stage]["seconds"] / factor for stage in STAGES}
    for key in ("dvc_status", "noop_repro", "dvc_push", "load_dataset"):
        out[key] = large[key]["seconds"] / small[key]["seconds"] / factor
    return out


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    """Time and peak RSS of every stage against N, log-log, with the linear slope for reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["products"] for r in runs]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for stage in STAGES:
        left.plot(sizes, [r["stages"][stage]["seconds"] for r in runs], marker="o", label=stage)
        right.plot(sizes, [r["stages"][stage]["peak_rss_mib"] for r in runs], marker="o", label=stage)
    for key in ("dvc_status", "noop_repro"):
        left.plot(sizes, [r[key]["seconds"] for r in runs], marker="x", linestyle="--", label=key)
    first = runs[0]["stages"]["download"]["seconds"]
    left.plot(sizes, [first * n / sizes[0] for n in sizes], color="grey", linestyle=":", label="linear")
    right.axhline(4096, color="red", linestyle=":", label="4 GiB")
    for axis, label in ((left, "wall time (s)"), (right, "peak RSS (MiB)")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("products")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=7)
    figure.suptitle("pakfashion data stages on the 19-site scale world")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/pakfashion-scale"))
    parser.add_argument("--crawl-delay", type=float, default=0.05)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--keep", action="store_true", help="keep each N's work copy")
    parser.add_argument("--layout", choices=["imagefolder", "parquet"], default="parquet", help="dataset.layout")
    parser.add_argument("--out", type=Path, default=RESULTS / "scale.json")
    parser.add_argument("--merge", type=Path, help="an earlier scale.json made with the same settings: its runs "
                        "at other N join these (a long N measured on its own)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    runs = [*merged_runs(args), *(measure(n, args) for n in args.products)]
    runs.sort(key=lambda run_: run_["products"])
    rates = growth(runs)
    summary = {"machine": platform.node(), "cpus": os.cpu_count(), "crawl_delay_s": args.crawl_delay,
               "latency_s": args.latency, "layout": args.layout, "runs": runs, "growth_vs_linear": rates}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    plot(runs, args.out.with_suffix(".png"))
    for run_ in runs:
        cells = "  ".join(f"{s}={run_['stages'][s]['seconds']:.1f}s/{run_['stages'][s]['peak_rss_mib']:.0f}MiB"
                          for s in STAGES)
        print(f"N={run_['products']}: {cells}  status={run_['dvc_status']['seconds']:.1f}s "
              f"noop={run_['noop_repro']['seconds']:.1f}s push={run_['dvc_push']['seconds']:.1f}s "
              f"load_dataset={run_['load_dataset']['seconds']:.1f}s search={run_['app_search']['seconds']:.3f}s "
              f"slowest site alone={run_['crawl_alone']['seconds']:.1f}s")
    stage_growth = {s: rates[s] for s in STAGES} if rates else {"none": 1.0}
    worst = max(stage_growth.values())
    print(f"ratio={1 / worst:.2f} ours={worst:.2f} baseline=1.0 unit=growth factor vs linear "
          f"(worst stage: {max(stage_growth, key=stage_growth.get)})")


if __name__ == "__main__":
    main()
