"""Curate-stage pixel checks: ms/image of measure_quality and measure_content, and what fired per image.

    .venv/bin/python benchmarks/curation_checks.py [FOLDER ...] [--analysis-px 512] [--repeat 3]

FOLDER defaults to the held-out natural photos (Pillow's Tests/images photos and scikit-image's sample
data, extracted under /tmp/heldout/); without them, garment renders of the demo store are used. Each image
is decoded once (ImageView.of, not timed in "ours"); each check is timed over --repeat runs (best kept).
The baseline is what a naive blur check costs: decode at full resolution, convert to grey and take the
variance of a 3x3 Laplacian over the whole image (numpy), no downscale.

Ends with ``ratio=... ours=... baseline=... unit=ms/image`` (ratio = baseline / ours; > 1: ours is cheaper).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import warnings
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from PIL import Image

from pakfashion.config import ContentChecks, QualityChecks, as_typed
from pakfashion.curation.content import measure_content
from pakfashion.curation.quality import measure_quality
from pakfashion.curation.signals import ImageView

HERE = Path(__file__).resolve().parent
HELD_OUT = [Path("/tmp/heldout/photos"), Path("/tmp/heldout/other")]
SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
log = logging.getLogger("curation_checks")


def images(folders: list[Path]) -> list[tuple[str, Image.Image]]:
    """Every image under ``folders`` (loaded), or demo garment renders when none is there."""
    found = [path for folder in folders if folder.is_dir() for path in sorted(folder.iterdir())
             if path.suffix.lower() in SUFFIXES]
    out = []
    for path in found:
        try:
            with Image.open(path) as image:
                image.load()
                out.append((f"{path.parent.name}/{path.name}", image.copy()))
        except OSError as err:
            log.warning("skipped %s: %s", path, err)
    if out:
        return out
    from pakfashion.demo.image_faults import studio_image
    from pakfashion.demo.images import DrawSpec

    shapes = ["suit", "dress", "shawl", "tunic", "abaya", "frock", "shalwar_suit", "wrap"]
    return [(f"demo/{shape}", studio_image(DrawSpec(shape=shape, colour="maroon", pattern="buttis",  # type: ignore[arg-type]
                                                    width=600, height=800), (0.3, 0.3))) for shape in shapes]


def best_ms(func, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - started)
    return best * 1000.0


def naive_laplacian(image: Image.Image) -> float:
    gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    lap = gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4.0 * gray[1:-1, 1:-1]
    return float(lap.var())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, default=HELD_OUT)
    parser.add_argument("--analysis-px", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    warnings.filterwarnings("ignore", category=UserWarning)
    conf = OmegaConf.load(HERE.parent / "conf" / "curate" / "default.yaml")
    quality, content = as_typed(conf.quality, QualityChecks), as_typed(conf.content, ContentChecks)
    rows = images(args.folders)
    decode, q_ms, c_ms, base_ms = [], [], [], []
    for name, image in rows:
        decode.append(best_ms(lambda: ImageView.of(image, analysis_px=args.analysis_px), args.repeat))
        view = ImageView.of(image, analysis_px=args.analysis_px)
        q_ms.append(best_ms(lambda: measure_quality(view, quality), args.repeat))
        c_ms.append(best_ms(lambda: measure_content(view, content), args.repeat))
        base_ms.append(best_ms(lambda: naive_laplacian(image), args.repeat))
        found = measure_quality(view, quality) + measure_content(view, content)
        fired = "; ".join(f"{f.reason.value}: {f.signal}" for f in found.findings) or "-"
        log.info("%-42s %5dx%-5d quality %6.2f ms  content %6.2f ms  %s", name, *image.size, q_ms[-1], c_ms[-1],
                 fired)
    ours = float(np.mean(q_ms) + np.mean(c_ms))
    baseline = float(np.mean(base_ms))
    log.info("%d images (threads: OMP_NUM_THREADS=%s): view %.2f ms, quality %.2f ms, content %.2f ms (median "
             "%.2f / %.2f), naive full-resolution Laplacian variance %.2f ms a image", len(rows),
             os.environ.get("OMP_NUM_THREADS", "unset"), np.mean(decode), np.mean(q_ms), np.mean(c_ms),
             np.median(q_ms), np.median(c_ms), baseline)
    print(f"ratio={baseline / ours:.3f} ours={ours:.3f} baseline={baseline:.3f} unit=ms/image")


if __name__ == "__main__":
    main()
