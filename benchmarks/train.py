"""Training speed: our train stage vs diffusers' ``examples/text_to_image/train_text_to_image_lora.py``.

Both sides run in one venv, ``benchmarks/.venv-train`` (created on first use: ``torch==2.14.1
torchvision==0.29.1``, which the script needs, then this project, which brings diffusers >= 0.40), on the same
tiny SD model, the same imagefolder dataset (garment drawings in named colours, 3:4 like product photos:
``thumbnail`` 96 x 128 PNGs, and ``real`` photo-grain JPEGs as the download stage writes them, 768 x 1024 at
quality 92, which the script decodes and resizes every step while ours reads its latent cache),
LoRA rank 4 on the same attention projections, batch 4, 64 px square (center crop, random flip), constant
LR 1e-4 and the same thread count (``accelerate launch --num_cpu_threads_per_process``; ours:
``OMP_NUM_THREADS`` and ``torch.set_num_threads``). Rounds alternate the sides.

Steps/s exclude start-up: a ``sitecustomize`` hook (written to the work dir, put on ``PYTHONPATH`` for both
sides) timestamps every ``Accelerator.backward`` call without changing anything, and the rate is taken
over the steps after the first ``--warmup`` (model loading, our latent-cache encoding, compilation).
Whole-run wall times (start-up included) are reported too.

The diffusers script is not vendored: pass ``--script PATH`` (e.g. ``git -C diffusers show
v0.40.0:examples/text_to_image/train_text_to_image_lora.py > script.py``), else it is downloaded once from
GitHub at the installed diffusers' release tag into ``benchmarks/.cache/``.

    python3 benchmarks/train.py [--script PATH] [--threads 1] [--steps 120] [--rounds 2] [--compile both]
        [--images thumbnail real]

Ends with ``ratio=<median of per-round ours/baseline> ours=<median steps/s> baseline=<median steps/s>
unit=steps/s`` for uncompiled ours on the real-size images (every kind and variant is printed above it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv-train"
CACHE = HERE / ".cache"
RESULTS = HERE / "results" / "train.json"
VENV_TORCH = ("torch==2.14.1", "torchvision==0.29.1")  # the pair whose torchvision imports (x86_64)
SCRIPT_URL = "https://raw.githubusercontent.com/huggingface/diffusers/v{version}/examples/text_to_image/train_text_to_image_lora.py"
SHAPES = ("tunic", "dress", "frock", "wrap", "shalwar")
COLOURS = ("red", "blue", "green", "black", "white", "yellow")
RESOLUTION, BATCH, RANK, LR, SEED = 64, 4, 4, 1e-4, 0
IMAGE_KINDS = ("thumbnail", "real")
STEP_HOOK = '''\
import atexit, json, os, time
_path = os.environ.get("PAKFASHION_STEP_TIMES")
if _path:
    import accelerate
    _stamps, _backward = [], accelerate.Accelerator.backward
    def _timed_backward(self, loss, **kwargs):
        _stamps.append(time.perf_counter())
        return _backward(self, loss, **kwargs)
    accelerate.Accelerator.backward = _timed_backward
    atexit.register(lambda: _stamps and open(_path, "w").write(json.dumps(_stamps)))
'''


def venv_python() -> Path:
    """The benchmark venv's interpreter, creating the venv on first use (a few minutes, ~5.5 GB)."""
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV} ({' '.join(VENV_TORCH)}, then this project)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *VENV_TORCH], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", str(REPO)], check=True)
    return python


def diffusers_script(python: Path, given: Path | None) -> Path:
    """The reference script: ``given``, else a copy for the venv's diffusers release in ``benchmarks/.cache``."""
    if given is not None:
        return given
    version = subprocess.run(
        [str(python), "-c", "import diffusers; print(diffusers.__version__)"], check=True, capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip
    path = CACHE / f"train_text_to_image_lora-{version}.py"
    if not path.exists():
        try:
            with urllib.request.urlopen(SCRIPT_URL.format(version=version), timeout=30) as response:
                data = response.read()
        except OSError as error:
            sys.exit(
                f"cannot download diffusers' script ({error}); pass --script PATH, e.g. from a diffusers "
                "checkout: git show v0.40.0:examples/text_to_image/train_text_to_image_lora.py > script.py"
            )
        CACHE.mkdir(exist_ok=True)
        path.write_bytes(data)
    return path


def build_inputs(work: Path) -> None:
    """(in the venv) The tiny SD model and two imagefolders of the same 3:4 garment drawings with colour captions:
    ``thumbnail`` (96 x 128 PNG) and ``real`` (photo-grain JPEGs at the download stage's ``target_side_px`` and
    ``jpeg_quality``, 768 x 1024 at the defaults: what a real run's dataset holds)."""
    import random

    from PIL import Image, ImageChops

    from pakfashion.config import compose_config
    from pakfashion.demo.images import DrawSpec, render_image
    from pakfashion.models.tiny import build_tiny_sd

    download = compose_config(REPO / "conf").download
    build_tiny_sd(work / "sd", seed=SEED)
    rng = random.Random(SEED)
    for kind in IMAGE_KINDS:
        split = work / f"data_{kind}" / "train"
        split.mkdir(parents=True)
        rows = []
        for shape in SHAPES:
            for colour in COLOURS:
                if kind == "thumbnail":
                    name = f"{colour}-{shape}.png"
                    render_image(DrawSpec(shape=shape, colour=colour, width=96, height=128)).save(split / name)
                else:
                    side = int(download.target_side_px)
                    width = side * 3 // 4
                    drawing = render_image(DrawSpec(shape=shape, colour=colour, width=width, height=side))
                    grain = Image.frombytes("L", (width, side), rng.randbytes(width * side)).point(lambda v: v // 16)
                    photo = ImageChops.add(drawing.convert("RGB"), grain.convert("RGB"), offset=-8)
                    name = f"{colour}-{shape}.jpg"
                    photo.save(split / name, format="JPEG", quality=int(download.jpeg_quality))
                rows.append({"file_name": name, "text": f"{colour} {shape}"})
        (split / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def run_ours(work: Path, *, images: str, steps: int, threads: int, compile_unet: bool, out: Path) -> None:
    """(in the venv) Our train stage's function, as ``dvc repro`` runs it, with a fresh state dir."""
    import torch

    from pakfashion.config import (
        ModelConfig,
        PathsConfig,
        TrainConfig,
        compose_config,
        settings_from,
    )
    from pakfashion.training.loop import train

    torch.set_num_threads(threads)
    cfg = compose_config(REPO / "conf")
    paths = settings_from(cfg, "paths", PathsConfig, dataset=work / f"data_{images}", models=out / "models",
                          metrics=out / "metrics", plots=out / "plots", state=out / "state")  # fmt: skip
    model = settings_from(cfg, "model", ModelConfig, pretrained=str(work / "sd"), resolution=RESOLUTION)
    settings = settings_from(cfg, "train", TrainConfig,
        run_name="bench", max_steps=steps, batch_size=BATCH, rank=RANK, lora_alpha=RANK, lr=LR, random_flip=True,
        aspect_buckets=False, checkpoint_every=0, log_every=steps, compile=compile_unet,
    )  # fmt: skip
    train(paths, model, settings, seed=SEED)


def baseline_command(python: Path, script: Path, work: Path, *, images: str, steps: int, threads: int,
                     out: Path) -> list[str]:
    """``accelerate launch`` of diffusers' script with the same model, data and settings."""
    return [
        str(python), "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--cpu", "--num_cpu_threads_per_process", str(threads),
        str(script), "--pretrained_model_name_or_path", str(work / "sd"), "--train_data_dir", str(work / f"data_{images}"),
        "--resolution", str(RESOLUTION), "--center_crop", "--random_flip", "--train_batch_size", str(BATCH),
        "--rank", str(RANK), "--learning_rate", str(LR), "--lr_scheduler", "constant", "--max_train_steps",
        str(steps), "--checkpointing_steps", str(10 * steps), "--seed", str(SEED), "--output_dir", str(out),
    ]  # fmt: skip


def ours_command(python: Path, work: Path, *, images: str, steps: int, threads: int, compile_unet: bool,
                 out: Path) -> list[str]:
    flags = ["--compile-unet"] if compile_unet else []
    return [str(python), __file__, "ours", "--work", str(work), "--images", images, "--steps", str(steps),
            "--threads", str(threads), "--out", str(out), *flags]  # fmt: skip


def timed_run(cmd: list[str], work: Path, *, name: str, threads: int, warmup: int) -> dict[str, float]:
    """Run one side; steps/s after ``warmup`` steps from the backward() timestamps, and the wall time."""
    times = work / f"{name}.json"
    times.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(work / "hook"), "PAKFASHION_STEP_TIMES": str(times),
           "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled",
           "DVC_NO_ANALYTICS": "1", "TQDM_DISABLE": "1"}  # fmt: skip
    start = time.perf_counter()
    log = work / f"{name}.log"
    with log.open("w") as handle:
        result = subprocess.run(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT, check=False)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{name} failed (exit {result.returncode}); its output: {log}\n" + log.read_text()[-3000:])
    stamps = json.loads(times.read_text())
    if len(stamps) <= warmup + 1:
        sys.exit(f"{name}: only {len(stamps)} steps timed; use --steps well above --warmup {warmup}")
    rate = (len(stamps) - 1 - warmup) / (stamps[-1] - stamps[warmup])
    print(f"{name}: {rate:.2f} steps/s over {len(stamps) - 1 - warmup} steps, {wall:.1f} s in all", flush=True)
    return {"steps_per_s": rate, "wall_s": wall, "steps": len(stamps)}


def orchestrate(args: argparse.Namespace) -> None:
    """Make the venv and inputs, run the sides alternately, print and save the comparison."""
    python = venv_python()
    script = diffusers_script(python, args.script)
    variants = {"no": [False], "yes": [True], "both": [False, True]}[args.compile]
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        work = Path(tmp)
        (work / "hook").mkdir()
        (work / "hook" / "sitecustomize.py").write_text(STEP_HOOK)
        subprocess.run([str(python), __file__, "inputs", "--work", str(work)], check=True)
        runs: dict[str, dict[str, list[dict[str, float]]]] = {kind: {} for kind in args.images}
        for round_ in range(args.rounds):
            for kind in args.images:
                out = work / f"round{round_}-{kind}"
                common = {"images": kind, "steps": args.steps, "threads": args.threads}
                sides = {"baseline": baseline_command(python, script, work, **common, out=out / "baseline")}
                for compiled in variants:
                    sides["ours_compiled" if compiled else "ours"] = ours_command(
                        python, work, **common, compile_unet=compiled, out=out / f"ours{compiled}"
                    )
                for name, cmd in sides.items():
                    runs[kind].setdefault(name, []).append(
                        timed_run(cmd, work, name=f"{kind}-{name}", threads=args.threads, warmup=args.warmup)
                    )
    report(runs, args, script=script, python=python)


def compare(runs: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """Median steps/s per side, and the median of the per-round ratios (each side against the baseline run
    next to it, which cancels slow drifts of this shared machine)."""
    median = {name: statistics.median(r["steps_per_s"] for r in rounds) for name, rounds in runs.items()}
    paired = {
        name: [ours["steps_per_s"] / base["steps_per_s"] for ours, base in zip(runs[name], runs["baseline"])]
        for name in median if name != "baseline"
    }
    ratio = {name: statistics.median(values) for name, values in paired.items()}
    return {"steps_per_s_median": median, "paired_ratios": paired, "ratio_median": ratio, "runs": runs}


def report(runs: dict[str, dict[str, list[dict[str, float]]]], args: argparse.Namespace, *, script: Path,
           python: Path) -> None:
    """Per image kind, every side against the baseline; the headline is uncompiled ours on the real-size images
    (the thumbnails' ratio when only they ran)."""
    versions = subprocess.run(
        [str(python), "-c", "import torch, diffusers; print(torch.__version__, diffusers.__version__)"],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    by_kind = {kind: compare(kind_runs) for kind, kind_runs in runs.items()}
    result = {
        "machine": platform.node(), "cpus": os.cpu_count(), "torch": versions[0], "diffusers": versions[1],
        "script": script.name, "settings": {key: str(value) for key, value in vars(args).items()}, **by_kind,
    }  # fmt: skip
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for kind, figures in by_kind.items():
        baseline = figures["steps_per_s_median"]["baseline"]
        for name, ratios in figures["paired_ratios"].items():
            rounds = ", ".join(f"{r:.2f}" for r in ratios)
            print(f"{kind} images, {name}: {figures['steps_per_s_median'][name]:.2f} steps/s vs baseline "
                  f"{baseline:.2f}; per-round ratios {rounds}; median {figures['ratio_median'][name]:.2f}")
    kind = "real" if "real" in by_kind else args.images[0]
    side = "ours" if "ours" in by_kind[kind]["ratio_median"] else "ours_compiled"
    figures = by_kind[kind]
    print(f"ratio={figures['ratio_median'][side]:.2f} ours={figures['steps_per_s_median'][side]:.2f} "
          f"baseline={figures['steps_per_s_median']['baseline']:.2f} unit=steps/s ({kind} images, {side})")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", nargs="?", default="compare", choices=["compare", "inputs", "ours"],
                        help="compare (default); inputs/ours are run inside the benchmark venv")  # fmt: skip
    parser.add_argument("--script", type=Path, help="diffusers' train_text_to_image_lora.py")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--warmup", type=int, default=10, help="steps left out of the rate (start-up, compile)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compile", choices=["no", "yes", "both"], default="both", help="our train.compile")
    parser.add_argument("--images", nargs="+", choices=IMAGE_KINDS, default=list(IMAGE_KINDS),
                        help="dataset images: thumbnail drawings and/or real-size JPEGs (in 'ours': one)")
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--compile-unet", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.role == "inputs":
        build_inputs(args.work)
    elif args.role == "ours":
        run_ours(args.work, images=args.images[0], steps=args.steps, threads=args.threads, compile_unet=args.compile_unet, out=args.out)
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
