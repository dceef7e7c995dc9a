"""Caption benchmark: the caption stage's batched captioning vs. a one-image-at-a-time loop, per captioner.

Each captioner is loaded from its conf/caption option by the stage's own ``load_caption_fn`` (nothing from a
hub): ``blip2``, a tiny random BLIP-2 (``caption=tiny`` pointed at a freshly built random model), and
``smolvlm``, the committed tiny SmolVLM (``caption=tiny_smolvlm``), each image prompted with its product's
title and attributes. Same generated garment images in an :class:`~pakfashion.images.store.ImageStore`, same
generation length, in one process; the first batch of each side is a warm-up and not timed.

    .venv/bin/python benchmarks/caption.py [--images 256] [--batch-size 32] [--workers 0]

Prints a row per captioner and ends with ``ratio=... ours=... baseline=... unit=images/s`` for ``smolvlm``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from pakfashion.captioning.captioner import product_prompts
from pakfashion.captioning.dataset import CaptionCache, CaptionFn, ImageFiles, caption_missing, load_caption_fn
from pakfashion.config import CaptionConfig, VocabConfig, compose_config, settings_from
from pakfashion.demo.images import COLOURS, DrawSpec, draw_garment
from pakfashion.images.store import ImageStore
from pakfashion.models.tiny import build_tiny_blip2

CONF = Path(__file__).resolve().parents[1] / "conf"
RESULTS = Path(__file__).parent / "results" / "caption.json"
MAX_NEW_TOKENS = 8
SHAPES = {"tunic": "Kurta", "dress": "Lehenga", "wrap": "Dupatta", "abaya": "Abaya"}


def make_store(folder: Path, count: int) -> dict[str, dict[str, str]]:
    """Garment drawings in named colours and sizes, stored by sha256; each image's product listing."""
    store, products = ImageStore(folder), {}
    colours, shapes = sorted(COLOURS), sorted(SHAPES)
    for i in range(count):
        shape, colour = shapes[i % len(shapes)], colours[i % len(colours)]
        data = draw_garment(DrawSpec(shape=shape, colour=colour, width=256 + 32 * (i % 5), height=320))  # type: ignore[arg-type]
        sha = hashlib.sha256(data).hexdigest()
        store.put(sha, data)
        products[sha] = {"title": f"{colour.title()} Embroidered Lawn {SHAPES[shape]} {i}", "description": ""}
    return products


def time_batched(caption_fn: CaptionFn, store: ImageStore, prompts: dict[str, str], settings: CaptionConfig,
                 scratch: Path) -> float:
    """Images/s of the stage's ``caption_missing`` (DataLoader batches, drafted JPEG decode, the cache)."""
    warm = dict(list(prompts.items())[: settings.batch_size])
    caption_missing(warm, store, caption_fn, CaptionCache(scratch / "warm.jsonl"), settings)
    started = time.perf_counter()
    done = caption_missing(prompts, store, caption_fn, CaptionCache(scratch / "cache.jsonl"), settings)
    assert done == len(prompts), f"captioned {done} of {len(prompts)}"
    return len(prompts) / (time.perf_counter() - started)


def time_one_by_one(caption_fn: CaptionFn, store: ImageStore, prompts: dict[str, str]) -> float:
    """Images/s of a plain loop: decode each image in full, caption it alone."""
    def one(sha: str) -> None:
        caption_fn([ImageFiles(store, [sha])[0]], [prompts[sha]])

    one(next(iter(prompts)))
    started = time.perf_counter()
    for sha in prompts:
        one(sha)
    return len(prompts) / (time.perf_counter() - started)


def captioners(scratch: Path, args: argparse.Namespace) -> dict[str, CaptionConfig]:
    """Each benchmarked captioner's settings, from its conf/caption option (the random BLIP-2 built here)."""
    build_tiny_blip2(scratch / "blip2", seed=0)
    options = {"blip2": ("caption=tiny", {"model": str(scratch / "blip2")}), "smolvlm": ("caption=tiny_smolvlm", {})}
    return {name: settings_from(compose_config(CONF, [option]), "caption", CaptionConfig, batch_size=args.batch_size,
                                num_workers=args.workers, max_new_tokens=MAX_NEW_TOKENS, **changes)
            for name, (option, changes) in options.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    # 0 on a 2-core CPU: decode workers would compete with torch for the cores (use 2-8 with a GPU).
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    vocab = settings_from(compose_config(CONF), "vocab", VocabConfig)
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        products = make_store(scratch / "images", args.images)
        store = ImageStore(scratch / "images")
        for name, settings in captioners(scratch, args).items():
            caption_fn = load_caption_fn(settings, device="cpu")
            assert caption_fn is not None
            prompts = dict(zip(products, product_prompts(settings.prompt, list(products.values()), vocab)))
            baseline = time_one_by_one(caption_fn, store, prompts)
            ours = time_batched(caption_fn, store, prompts, settings, scratch / name)
            rows[name] = {"batched_images_per_s": ours, "one_by_one_images_per_s": baseline, "ratio": ours / baseline}
            print(f"{name:8s} batched {ours:7.1f} images/s  one by one {baseline:6.1f} images/s  "
                  f"ratio {ours / baseline:.2f}  ({settings.model})", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": platform.node(), "torch_threads": torch.get_num_threads(),
                                   "images": args.images, "batch_size": args.batch_size,
                                   "max_new_tokens": MAX_NEW_TOKENS, "captioners": rows}, indent=2) + "\n")
    blip2, smolvlm = rows["blip2"], rows["smolvlm"]
    print(f"blip2: ratio={blip2['ratio']:.2f} ours={blip2['batched_images_per_s']:.1f} "
          f"baseline={blip2['one_by_one_images_per_s']:.1f} unit=images/s")
    print(f"ratio={smolvlm['ratio']:.2f} ours={smolvlm['batched_images_per_s']:.1f} "
          f"baseline={smolvlm['one_by_one_images_per_s']:.1f} unit=images/s")


if __name__ == "__main__":
    main()
