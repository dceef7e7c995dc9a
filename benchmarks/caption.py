"""Caption benchmark: the caption stage's batched captioner vs. a one-image-at-a-time loop.

Same tiny random BLIP-2 (built from config, no hub), same generated garment images, same generation
length, in one process; the first batch of each side is a warm-up and not timed.

    .venv/bin/python benchmarks/caption.py [--images 256] [--batch-size 32] [--workers 0]

Ends with ``ratio=... ours=... baseline=... unit=images/s``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from pakfashion.captioning.captioner import load_blip2
from pakfashion.captioning.dataset import CaptionCache, caption_missing
from pakfashion.config import CaptionConfig, compose_config, settings_from
from pakfashion.demo.images import COLOURS, DrawSpec, draw_garment
from pakfashion.models.tiny import build_tiny_blip2

RESULTS = Path(__file__).parent / "results" / "caption.json"
MAX_NEW_TOKENS = 8


def make_images(folder: Path, count: int) -> list[str]:
    """Garment drawings in named colours, saved as <name>.jpg; returns the names."""
    names = []
    colours, shapes = sorted(COLOURS), ["tunic", "dress", "wrap", "abaya"]
    for i in range(count):
        spec = DrawSpec(shape=shapes[i % len(shapes)], colour=colours[i % len(colours)], width=256 + 32 * (i % 5), height=320)
        (folder / f"{i:04d}.jpg").write_bytes(draw_garment(spec))
        names.append(f"{i:04d}")
    return names


def time_batched(model, folder: Path, names: list[str], batch_size: int, workers: int) -> float:  # noqa: ANN001
    settings = settings_from(compose_config(Path(__file__).resolve().parents[1] / "conf"), "caption", CaptionConfig,
                             batch_size=batch_size, num_workers=workers, max_new_tokens=MAX_NEW_TOKENS)
    caption_fn = lambda images: model.caption(images, max_new_tokens=MAX_NEW_TOKENS)  # noqa: E731
    caption_missing(names[:batch_size], folder, caption_fn, CaptionCache(folder / "warm.jsonl"), settings)
    started = time.perf_counter()
    done = caption_missing(names, folder, caption_fn, CaptionCache(folder / "cache.jsonl"), settings)
    assert done == len(names)
    return len(names) / (time.perf_counter() - started)


def time_one_by_one(model, folder: Path, names: list[str]) -> float:  # noqa: ANN001
    from PIL import Image

    model.caption([Image.open(folder / f"{names[0]}.jpg").convert("RGB")], max_new_tokens=MAX_NEW_TOKENS)
    started = time.perf_counter()
    for name in names:
        with Image.open(folder / f"{name}.jpg") as image:
            model.caption([image.convert("RGB")], max_new_tokens=MAX_NEW_TOKENS)
    return len(names) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    # 0 on a 2-core CPU: decode workers would compete with torch for the cores (use 2-8 with a GPU).
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        build_tiny_blip2(folder / "blip2", seed=0)
        model = load_blip2(str(folder / "blip2"), device="cpu")
        names = make_images(folder, args.images)
        baseline = time_one_by_one(model, folder, names)
        ours = time_batched(model, folder, names, args.batch_size, args.workers)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": platform.node(), "torch_threads": torch.get_num_threads(),
                                   "images": args.images, "batch_size": args.batch_size,
                                   "ours_images_per_s": ours, "baseline_images_per_s": baseline}, indent=2))
    print(f"ratio={ours / baseline:.2f} ours={ours:.1f} baseline={baseline:.1f} unit=images/s")


if __name__ == "__main__":
    main()
