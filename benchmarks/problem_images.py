"""Held-out problem images: Pillow's own test images through our download checks and the curate pixel checks.

Pillow's test suite (``Tests/images`` of its sdist, about 1,000 files) is a corpus of real problem files we
never tuned on: truncated and corrupt files, decompression bombs, CMYK, 16-bit, palette with
transparency, EXIF-rotated, animated, 1-bit, tiny and huge images, dozens of formats. Every file goes
through the download stage's checks as a downloaded body would (:func:`pakfashion.images.normalise.normalise_image`
with the composed ``download`` policy), then the images it keeps through the curate stage's pixel checks
(:func:`pakfashion.curation.quality.measure_quality`, :func:`pakfashion.curation.content.measure_content`
with the composed ``curate`` settings).

A file "passes" when it gets a definite outcome: stored, or rejected with the download stage's own reason
(``decode_failed``, ``too_small``); an exception escaping either stage is a failure. The baseline is the
naive loader the original project used (``Image.open(...).convert("RGB")``): the share of files it gets
through without an exception escaping (it has no reject path, so a corrupt file is a crash).

    .venv/bin/python benchmarks/problem_images.py [--images DIR]

Without ``--images`` the Pillow sdist is fetched from PyPI (``pip download pillow --no-binary :all:``) into
``benchmarks/.cache`` once. Writes ``results/problem_images.json``; ends with
``ratio=... ours=... baseline=... unit=share of files with a definite outcome``.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = HERE / ".cache"
RESULTS = HERE / "results" / "problem_images.json"
SUFFIXES = {".bmp", ".blp", ".bw", ".cur", ".dcx", ".dds", ".eps", ".fits", ".fli", ".ftex", ".gbr", ".gif",
            ".icns", ".ico", ".im", ".j2k", ".jp2", ".jpeg", ".jpg", ".jpx", ".mic", ".mpo", ".msp", ".pcd",
            ".pcx", ".pgm", ".png", ".ppm", ".psd", ".qoi", ".ras", ".rgb", ".sgi", ".spider", ".tga", ".tif",
            ".tiff", ".webp", ".xbm", ".xpm", ".apng", ".avif", ".pbm", ".pnm", ".pfm", ".dib", ".emf",
            ".wmf", ".sun", ".iptc", ".bin", ".fli", ".heic"}  # fmt: skip


def pillow_test_images() -> Path:
    """``Tests/images`` of the newest Pillow sdist, downloaded and extracted once under benchmarks/.cache."""
    target = CACHE / "pillow-tests"
    if not (target / "Tests" / "images").is_dir():
        CACHE.mkdir(parents=True, exist_ok=True)
        if not list(CACHE.glob("pillow-*.tar.gz")):
            subprocess.run([sys.executable, "-m", "pip", "download", "pillow", "--no-binary", ":all:", "--no-deps",
                            "-q", "-d", str(CACHE)], check=True)
        sdist = sorted(CACHE.glob("pillow-*.tar.gz"))[-1]
        with tarfile.open(sdist) as archive:
            members = [m for m in archive.getmembers() if "/Tests/images/" in m.name and m.isfile()]
            for member in members:
                member.name = member.name.split("/", 1)[1]  # drop the pillow-X.Y.Z/ prefix
            archive.extractall(target, members=members, filter="data")
    return target / "Tests" / "images"


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def naive_outcome(data: bytes) -> str:
    """The original project's loader: open and convert, no policy."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                image.convert("RGB")
        return "ok"
    except Exception as err:  # noqa: BLE001 - the baseline has no reject path: anything raised escapes
        return f"crash:{type(err).__name__}"


def our_outcome(data: bytes, policy: Any, curate: Any) -> tuple[str, list[str]]:
    """(download outcome, curation reasons fired) — ``crash:<type>`` when an exception escapes."""
    from pakfashion.curation.content import measure_content
    from pakfashion.curation.quality import measure_quality
    from pakfashion.curation.signals import ImageView
    from pakfashion.images.normalise import Rejected, normalise_image

    try:
        stored = normalise_image(data, policy)
    except Rejected as rejected:
        return rejected.reason, []
    except Exception as err:  # noqa: BLE001 - counted as a failure of our checks
        return f"crash:{type(err).__name__}", []
    try:
        with Image.open(io.BytesIO(stored.jpeg)) as image:
            view = ImageView.of(image, analysis_px=curate.analysis_px)
        measured = measure_quality(view, curate.quality) + measure_content(view, curate.content)
    except Exception as err:  # noqa: BLE001
        traceback.print_exc()
        return f"crash_curate:{type(err).__name__}", []
    return "ok", sorted({f.reason.value for f in measured.findings})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, help="folder of image files (default: Pillow's Tests/images)")
    args = parser.parse_args()
    from pakfashion.config import CurateConfig, DownloadConfig, compose_config, settings_from
    from pakfashion.images.normalise import ImagePolicy

    conf = compose_config(REPO / "conf")
    policy = ImagePolicy.from_config(settings_from(conf, "download", DownloadConfig))
    curate = settings_from(conf, "curate", CurateConfig)
    files = image_files(args.images or pillow_test_images())
    ours, naive, fired = Counter(), Counter(), Counter()
    per_file: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    for path in files:
        data = path.read_bytes()
        outcome, reasons = our_outcome(data, policy, curate)
        ours[outcome] += 1
        fired.update(reasons)
        naive[naive_outcome(data)] += 1
        per_file[path.name] = {"download": outcome, "curation": reasons}
    seconds = time.perf_counter() - started
    definite = sum(n for k, n in ours.items() if not k.startswith("crash")) / len(files)
    baseline = sum(n for k, n in naive.items() if not k.startswith("crash")) / len(files)
    summary = {"files": len(files), "seconds": round(seconds, 1), "ours": dict(ours.most_common()),
               "naive": dict(naive.most_common()), "curation_reasons": dict(fired.most_common()),
               "definite_share": round(definite, 4), "naive_share": round(baseline, 4), "per_file": per_file}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{len(files)} files in {seconds:.1f} s")
    print("download outcomes (ours):", dict(ours.most_common()))
    print("naive loader outcomes:   ", dict(naive.most_common()))
    print("curation reasons on stored images:", dict(fired.most_common()))
    print(f"ratio={definite / baseline:.3f} ours={definite:.4f} baseline={baseline:.4f} "
          "unit=share of files with a definite outcome")


if __name__ == "__main__":
    main()
