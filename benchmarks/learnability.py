"""Learnability benchmark: does our train stage teach the pretrained tiny SD colours it has never seen?

The base is the committed tiny Stable Diffusion, ``assets/tiny/sd`` (``python -m pakfashion.pretraining``:
32 px images, 8x8x4 latents, pretrained on world drawings of every colour except
:data:`pakfashion.pretraining.world.HELD_OUT_COLOURS`, purple and pink). An imagefolder of world drawings
(:func:`pakfashion.pretraining.world.world_images`, a seed of their own) is written: mostly the held-out
colours, plus a share of pretrained colours (``--pretrained-share``), as a real catalogue mixes what the
base knows with what it lacks. Each row is written as the caption stage writes one: the full caption as
``text`` ("purple lawn kurta, embroidered purple kurta", the world's fullest caption style) and its parts
(``colours``, ``fabrics``, ``garment``, the model-caption-like ``caption`` "embroidered purple kurta"; no
pieces, stitching or brand), so ``train.captions.source=parts`` composes captions from them. Our train stage
(:func:`pakfashion.training.loop.train`, unchanged) fine-tunes the base on it with the composed
``train=lora`` settings (``--method full`` for the whole UNet), changed only where CPU minutes need it
(steps, batch, lr, rank, no mixed precision, no checkpoints or validation grids).

``--mode base`` (the default): both models then draw the evaluate stage's attribute prompts
(``evaluate.attributes.template``, "a {colour} {garment}") for the held-out colours over every garment word of
the world's captions, from the same seeds, and each image's colour is read from its pixels by
:func:`pakfashion.evaluation.attributes.image_colour` (the evaluate stage's colour check, its shipped
``evaluate.attributes`` settings). The palette is the whole world's: every colour the drawings use
(:data:`pakfashion.demo.images.COLOURS`, 16), so an image counts only when its garment is nearer the
asked colour than any other world colour (and within ``max_delta_e``): chance is 1/16, and a near miss
such as magenta for pink does not count. The accuracy against only the two prompt colours is recorded too
(``accuracy_prompt_palette``), as are the accuracies on a few pretrained colours' prompts (``control``:
what the LoRA must not break), and ``vae_ceiling``: the same check on the base VAE's own round trips of
held-out drawings, the most any UNet can reach through this VAE.
The defaults (LoRA rank 8 at lr 1e-3, 300 steps of batch 32 on 256 drawings) take about 2.5 minutes on
one CPU thread; 600 steps score no better.

``--mode captions``: the same data fine-tuned twice from the same seed, (a) ``train.captions.source=text``
(every step on the full caption) and (b) ``source=parts`` (the composed ``train.captions`` settings: long and
short forms, per-part dropout), each scored on short prompts ("a {colour} {garment}") and on long ones in the
full caption style ("purple silk kurta, printed purple kurta"), same prompts and seeds for both. Writes
``results/caption_parts.json``; about 6 minutes on one thread.

    .venv/bin/python benchmarks/learnability.py [--mode base|captions] [--method lora] [--steps 300] [--images 256] [--seeds 3]

``base`` ends with ``ratio=<ours / max(baseline, 1/16)> ours=<fine-tuned accuracy> baseline=<base accuracy>
unit=...``: the denominator is floored at chance, so a base that never draws purple or pink does not
make the ratio infinite. ``captions`` ends with ``ratio=<short-prompt accuracy with parts / max(long-prompt
accuracy with text, 1/16)> ours=... baseline=... unit=colour accuracy``: above 1, short prompts of the
parts-trained model get their colour at least as often as full captions of the text-trained one.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "learnability.json"
CAPTION_RESULTS = HERE / "results" / "caption_parts.json"
BASE = REPO / "assets" / "tiny" / "sd"
CONTROL_COLOURS = ("red", "blue", "green", "yellow")
"""Pretrained colours whose prompts are scored too (what fine-tuning must keep)."""
DATA_SEED = 1000
"""World seed of the fine-tuning drawings (the pretraining build uses seeds 0 and 1)."""
METHOD_LR = {"lora": 1e-3, "full": 1e-4}

log = logging.getLogger("learnability")


def full_caption(colour: str, fabric: str, word: str, style: str) -> str:
    """The world's fullest caption style: "purple lawn kurta, embroidered purple kurta"."""
    return f"{colour} {fabric} {word}, {style} {colour} {word}"


def world_row(index: int, item: Any) -> dict[str, Any]:
    """A drawing's metadata row as the caption stage writes one: the full caption as ``text``, and its parts."""
    from pakfashion.pretraining.world import FABRICS, PATTERN_WORDS, SHAPE_GARMENTS

    word, style = SHAPE_GARMENTS[item.shape][1], PATTERN_WORDS[item.pattern]
    fabric = next((w for w in item.caption.split() if w in FABRICS), FABRICS[index % len(FABRICS)])
    return {"file_name": f"{index:05d}.png", "text": full_caption(item.colour, fabric, word, style),
            "caption": f"{style} {item.colour} {word}", "garment": word, "colours": [item.colour],
            "fabrics": [fabric], "pieces": "", "stitching": "", "brand": ""}  # fmt: skip


def write_dataset(root: Path, *, images: int, pretrained_share: float, px: int) -> dict[str, int]:
    """``root/train`` as an imagefolder with caption parts: held-out-colour drawings with a share of pretrained
    colours. Returns the number of images per colour."""
    from pakfashion.contracts import METADATA_FILE
    from pakfashion.demo.images import COLOURS
    from pakfashion.pretraining.world import HELD_OUT_COLOURS, world_images

    known = [colour for colour in COLOURS if colour not in HELD_OUT_COLOURS]
    others = round(images * pretrained_share)
    drawings = world_images(DATA_SEED, images - others, px=px, colours=HELD_OUT_COLOURS)
    drawings += world_images(DATA_SEED + 1, others, px=px, colours=known)
    random.Random(DATA_SEED).shuffle(drawings)  # interleaved, the same order every run
    split = root / "train"
    split.mkdir(parents=True, exist_ok=True)
    rows = [world_row(index, item) for index, item in enumerate(drawings)]
    for row, item in zip(rows, drawings, strict=True):
        item.image.save(split / row["file_name"])
    (split / METADATA_FILE).write_text("".join(json.dumps(row) + "\n" for row in rows))
    counts: dict[str, int] = {}
    for item in drawings:
        counts[item.colour] = counts.get(item.colour, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def fine_tune(cfg: Any, work: Path, base: Path, args: argparse.Namespace, *, source: str | None = None
              ) -> dict[str, Any]:
    """Our train stage on ``work/dataset`` from ``base``, with the composed ``train=<method>`` settings
    (``source``: another ``train.captions.source``)."""
    from dataclasses import replace

    from accelerate.utils import set_seed

    from pakfashion.config import CaptionSource, ModelConfig, PathsConfig, TrainConfig, settings_from
    from pakfashion.training.loop import train

    paths = settings_from(cfg, "paths", PathsConfig, dataset=work / "dataset", models=work / "models",
                          metrics=work / "metrics", plots=work / "plots", state=work / "state")  # fmt: skip
    captions = settings_from(cfg, "train", TrainConfig).captions
    if source is not None:
        captions = replace(captions, source=CaptionSource(source))
    changes: dict[str, Any] = {
        "run_name": f"learnability-{captions.source.value}", "captions": captions, "max_steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
        "lr_warmup_steps": 0, "mixed_precision": "no", "aspect_buckets": False, "checkpoint_every": 0,
        "validation_every": 0, "log_every": max(1, args.steps // 10),
    }  # fmt: skip
    if args.rank:
        changes |= {"rank": args.rank, "lora_alpha": args.rank}
    if args.method == "full":
        changes["ema_decay"] = None  # a few hundred steps: EMA at 0.9999 would keep the base weights
    settings = settings_from(cfg, "train", TrainConfig, **changes)
    model = settings_from(cfg, "model", ModelConfig, name="tiny-world", pretrained=str(base), weights=str(base))
    log.info("fine-tuning %s with %s: %s", base, args.method, changes)
    set_seed(args.seed)  # as the train stage's main() does: the LoRA's initial weights come from torch's RNG
    metrics = train(paths, model, settings, seed=args.seed)
    return {"model": model, "run_dir": paths.models / settings.run_name, "metrics": metrics,
            "settings": {key: str(value) for key, value in changes.items()} | {"rank": settings.rank}}


def caption_prompts(colours: list[str], garments: list[str], seeds: list[int], *, template: str
                    ) -> dict[str, list[Any]]:
    """The short (``template``: "a {colour} {garment}") and long (full caption style) prompts of every colour x
    garment x seed, colour by colour; the long ones' fabric and style cycle over garments and seeds."""
    from pakfashion.models.sampling import Job
    from pakfashion.pretraining.world import FABRICS, PATTERN_WORDS

    styles = sorted(set(PATTERN_WORDS.values()))
    long = [Job(full_caption(c, FABRICS[(i + s) % len(FABRICS)], g, styles[(i + s) % len(styles)]), s)
            for c in colours for i, g in enumerate(garments) for s in seeds]  # fmt: skip
    return {"short": colour_jobs(colours, garments, seeds, template), "long": long}


def evaluate_captions(base: Path, run_dirs: dict[str, Path], args: argparse.Namespace, evaluate: Any,
                      garments: list[str], seeds: list[int]) -> dict[str, dict[str, Any]]:
    """Held-out colour scores of each fine-tuned model on the short and the long prompts (same seeds)."""
    from pakfashion.demo.images import COLOURS
    from pakfashion.models.sampling import Sampling, generate_images
    from pakfashion.models.sd import load_pipeline, load_run
    from pakfashion.pretraining.world import HELD_OUT_COLOURS

    attributes = evaluate.attributes
    sampling = Sampling(args.inference_steps or evaluate.num_inference_steps,
                        evaluate.guidance_scale if args.guidance is None else args.guidance, evaluate.batch_size)
    colours = list(HELD_OUT_COLOURS)
    palettes = {"world": dict(COLOURS), "prompt": {c: COLOURS[c] for c in colours}}
    prompts = caption_prompts(colours, garments, seeds, template=attributes.template)
    results: dict[str, dict[str, Any]] = {}
    for source, run_dir in run_dirs.items():
        pipe = load_run(run_dir, base=load_pipeline(str(base), device="cpu"), device="cpu")  # a fresh base each
        results[source] = {}
        for form, jobs in prompts.items():
            images = list(generate_images(pipe, jobs, sampling, resolution_px=args.px, desc=f"{source} {form}"))
            results[source][form] = score(images, colours, palettes=palettes, attributes=attributes,
                                          per_colour=len(garments) * len(seeds))
            results[source][form]["example_prompt"] = jobs[0].prompt
    return results


def colour_jobs(colours: list[str], garments: list[str], seeds: list[int], template: str) -> list[Any]:
    """Every ``template`` prompt of ``colours`` x ``garments`` with every seed."""
    from pakfashion.models.sampling import Job

    return [Job(template.format(colour=c, garment=g), seed) for c in colours for g in garments for seed in seeds]


def score(images: list[Any], colours: list[str], *, palettes: dict[str, dict[str, Any]], attributes: Any,
          per_colour: int) -> dict[str, Any]:
    """Colour accuracy of ``images`` (``per_colour`` consecutive images per asked colour) per palette,
    overall and per colour, and what colours were found (world palette)."""
    from pakfashion.evaluation.attributes import image_colour

    asked = [colour for colour in colours for _ in range(per_colour)]
    found = {name: [image_colour(image, palette, attributes) for image in images] for name, palette in palettes.items()}
    result: dict[str, Any] = {}
    for name, values in found.items():
        key = "accuracy" if name == "world" else f"accuracy_{name}_palette"
        result[key] = sum(f == a for f, a in zip(values, asked, strict=True)) / len(asked)
        result[f"{key}_by_colour"] = {
            colour: sum(f == colour for f, a in zip(values, asked, strict=True) if a == colour) / per_colour
            for colour in colours
        }
    seen: dict[str, dict[str, int]] = {colour: {} for colour in colours}
    for value, colour in zip(found["world"], asked, strict=True):
        seen[colour][str(value)] = seen[colour].get(str(value), 0) + 1
    result["found"] = {colour: dict(sorted(c.items(), key=lambda kv: -kv[1])) for colour, c in seen.items()}
    return result


def vae_ceiling(pipe: Any, colours: list[str], *, per_colour: int, px: int, palettes: dict[str, dict[str, Any]],
                attributes: Any) -> dict[str, Any]:
    """The score of the base VAE's own round trips (encode, decode the latent mean) of held-out world
    drawings in ``colours``: what a perfect UNet could reach through this VAE."""
    import numpy as np
    import torch

    from pakfashion.pretraining.world import world_images

    drawings = [item.image for colour in colours
                for item in world_images(DATA_SEED, per_colour, split="held_out", px=px, colours=(colour,))]  # fmt: skip
    pixels = torch.from_numpy(np.stack([np.asarray(image, dtype=np.float32) for image in drawings]))
    with torch.no_grad():
        latents = pipe.vae.encode(pixels.permute(0, 3, 1, 2) / 127.5 - 1).latent_dist.mean
        decoded = pipe.vae.decode(latents).sample
    images = pipe.image_processor.postprocess(decoded, output_type="pil")
    return score(images, colours, palettes=palettes, attributes=attributes, per_colour=per_colour)


def evaluate_pair(base: Path, run_dir: Path, args: argparse.Namespace, evaluate: Any,
                  garments: list[str], seeds: list[int]) -> dict[str, dict[str, Any]]:
    """Held-out and control colour scores of the base and the fine-tuned model (same prompts and seeds)."""
    from pakfashion.demo.images import COLOURS
    from pakfashion.models.sampling import Sampling, generate_images
    from pakfashion.models.sd import load_pipeline, load_run
    from pakfashion.pretraining.world import HELD_OUT_COLOURS

    attributes = evaluate.attributes
    sampling = Sampling(args.inference_steps or evaluate.num_inference_steps,
                        evaluate.guidance_scale if args.guidance is None else args.guidance, evaluate.batch_size)
    sets = {"held_out": list(HELD_OUT_COLOURS), "control": list(CONTROL_COLOURS)}
    per_colour = len(garments) * len(seeds)
    pipe = load_pipeline(str(base), device="cpu")
    held_out = list(HELD_OUT_COLOURS)
    results: dict[str, dict[str, Any]] = {"vae_ceiling": {"held_out": vae_ceiling(
        pipe, held_out, per_colour=per_colour, px=args.px, attributes=attributes,
        palettes={"world": dict(COLOURS), "prompt": {c: COLOURS[c] for c in held_out}})}}  # fmt: skip
    for model in ("base", "finetuned"):
        if model == "finetuned":
            pipe = load_run(run_dir, base=pipe, device="cpu")  # a LoRA goes onto the base pipeline
        results[model] = {}
        for name, colours in sets.items():
            jobs = colour_jobs(colours, garments, seeds, attributes.template)
            images = list(generate_images(pipe, jobs, sampling, resolution_px=args.px, desc=f"{model} {name}"))
            palettes = {"world": dict(COLOURS), "prompt": {c: COLOURS[c] for c in colours}}
            results[model][name] = score(images, colours, palettes=palettes, attributes=attributes,
                                         per_colour=per_colour)
            if args.save_samples and name == "held_out":
                from pakfashion.models.sampling import write_png

                for job, image in zip(jobs, images, strict=True):
                    write_png(args.save_samples / model / f"{job.prompt.replace(' ', '_')}-{job.seed}.png", image)
    return results


def run_base_mode(cfg: Any, args: argparse.Namespace, evaluate: Any, garments: list[str], seeds: list[int]) -> None:
    """The base model against the fine-tuned one on the held-out colours' short prompts."""
    from pakfashion.demo.images import COLOURS

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        counts = write_dataset(work / "dataset", images=args.images, pretrained_share=args.pretrained_share,
                               px=args.px)
        tuned = fine_tune(cfg, work, args.base, args)
        scores = evaluate_pair(args.base, tuned["run_dir"], args, evaluate, garments, seeds)
    seconds = time.perf_counter() - started
    base, ours = scores["base"]["held_out"]["accuracy"], scores["finetuned"]["held_out"]["accuracy"]
    chance = 1 / len(COLOURS)
    metrics = tuned["metrics"]
    for model in ("base", "finetuned"):
        held, control = scores[model]["held_out"], scores[model]["control"]
        print(f"{model:>9}: held-out {held['accuracy']:.3f} {held['accuracy_by_colour']} "
              f"(vs prompt colours only {held['accuracy_prompt_palette']:.3f}); "
              f"control {control['accuracy']:.3f}; found {held['found']}")  # fmt: skip
    ceiling = scores["vae_ceiling"]["held_out"]
    print(f"VAE round trips of held-out drawings (a perfect UNet's ceiling): {ceiling['accuracy']:.3f} "
          f"{ceiling['accuracy_by_colour']}; found {ceiling['found']}")  # fmt: skip
    print(f"train ({args.method}): {metrics['steps']} steps at {metrics['steps_per_s']:.2f} steps/s, final loss "
          f"{metrics['final_loss']:.4f}; whole benchmark {seconds:.0f} s")  # fmt: skip
    write_record(args, seconds, {"train_settings": tuned["settings"], "dataset": counts, "garments": garments,
                                 "seeds": seeds, "chance": chance, **scores, "train": metrics})  # fmt: skip
    ratio = ours / max(base, chance)
    print(f"ratio={ratio:.2f} ours={ours:.3f} baseline={base:.3f} "
          f"unit=held-out colour accuracy (purple, pink; {args.method}; ratio floor 1/{len(COLOURS)})")  # fmt: skip


def run_captions_mode(cfg: Any, args: argparse.Namespace, evaluate: Any, garments: list[str], seeds: list[int]
                      ) -> None:
    """``source: text`` against ``source: parts`` on the same data and seed, each on short and long prompts."""
    from pakfashion.demo.images import COLOURS

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        counts = write_dataset(work / "dataset", images=args.images, pretrained_share=args.pretrained_share,
                               px=args.px)
        tuned = {source: fine_tune(cfg, work, args.base, args, source=source) for source in ("text", "parts")}
        scores = evaluate_captions(args.base, {source: run["run_dir"] for source, run in tuned.items()}, args,
                                   evaluate, garments, seeds)
    seconds = time.perf_counter() - started
    chance = 1 / len(COLOURS)
    print(f"{'captions':<10}{'short prompts':>15}{'long prompts':>15}   (held-out colour accuracy, chance {chance:.3f})")
    for source, forms in scores.items():
        print(f"{source:<10}{forms['short']['accuracy']:>15.3f}{forms['long']['accuracy']:>15.3f}   "
              f"short {forms['short']['accuracy_by_colour']}, long {forms['long']['accuracy_by_colour']}")
    for form in ("short", "long"):
        print(f"{form} prompt, e.g.: {scores['parts'][form]['example_prompt']!r}")
    losses = ", ".join(f"{source} {run['metrics']['final_loss']:.4f}" for source, run in tuned.items())
    print(f"train ({args.method}): {args.steps} steps each, final loss {losses}; whole benchmark {seconds:.0f} s")
    write_record(args, seconds, {"train_settings": {s: run["settings"] for s, run in tuned.items()},
                                 "dataset": counts, "garments": garments, "seeds": seeds, "chance": chance,
                                 **scores, "train": {s: run["metrics"] for s, run in tuned.items()}})  # fmt: skip
    ours, baseline = scores["parts"]["short"]["accuracy"], scores["text"]["long"]["accuracy"]
    print(f"ratio={ours / max(baseline, chance):.2f} ours={ours:.3f} baseline={baseline:.3f} "
          f"unit=colour accuracy (held-out purple, pink; short prompts with source=parts vs long prompts with "
          f"source=text; {args.method}; ratio floor 1/{len(COLOURS)})")  # fmt: skip


def write_record(args: argparse.Namespace, seconds: float, record: dict[str, Any]) -> None:
    """The run's machine, settings and ``record`` as JSON at ``args.results``."""
    from pakfashion.demo.images import COLOURS

    args.results.parent.mkdir(parents=True, exist_ok=True)
    head = {"machine": platform.node(), "cpus": os.cpu_count(), "threads": os.environ.get("OMP_NUM_THREADS"),
            "seconds": round(seconds, 1), "settings": {k: str(v) for k, v in vars(args).items()},
            "palette": list(COLOURS)}  # fmt: skip
    args.results.write_text(json.dumps(head | record, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("base", "captions"), default="base",
                        help="base: base vs fine-tuned; captions: source=text vs source=parts (default base)")
    parser.add_argument("--method", choices=("lora", "full"), default="lora", help="train=<method> (default lora)")
    parser.add_argument("--base", type=Path, default=BASE, help="the pretrained pipeline (default assets/tiny/sd)")
    parser.add_argument("--images", type=int, default=256, help="fine-tuning drawings")
    parser.add_argument("--pretrained-share", type=float, default=0.25, help="share of them in pretrained colours")
    parser.add_argument("--steps", type=int, default=300, help="fine-tune optimizer steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, help="default: 1e-3 for lora, 1e-4 for full")
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank (= alpha); 0 keeps train.rank")
    parser.add_argument("--seeds", type=int, help="images per prompt (default: evaluate.attributes.seeds)")
    parser.add_argument("--inference-steps", type=int, help="default: evaluate.num_inference_steps")
    parser.add_argument("--guidance", type=float, help="default: evaluate.guidance_scale")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--conf", type=Path, default=REPO / "conf")
    parser.add_argument("--save-samples", type=Path, help="base mode: write the held-out prompts' images here")
    parser.add_argument("--results", type=Path,
                        help=f"default: {RESULTS.relative_to(REPO)} (base), {CAPTION_RESULTS.relative_to(REPO)} (captions)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not (args.base / "model_index.json").is_file():
        sys.exit(f"{args.base} has no pipeline: build it with `python -m pakfashion.pretraining --out assets/tiny`")
    args.lr = args.lr or METHOD_LR[args.method]
    args.results = args.results or (CAPTION_RESULTS if args.mode == "captions" else RESULTS)

    from pakfashion.config import EvaluateConfig, ModelConfig, compose_config, settings_from
    from pakfashion.pretraining.world import SHAPE_GARMENTS

    cfg = compose_config(args.conf, [f"train={args.method}"])
    evaluate = settings_from(cfg, "evaluate", EvaluateConfig)
    args.px = settings_from(cfg, "model", ModelConfig).resolution
    garments = sorted({word for _, word in SHAPE_GARMENTS.values()})
    seeds = list(range(args.seeds)) if args.seeds else list(evaluate.attributes.seeds)
    (run_captions_mode if args.mode == "captions" else run_base_mode)(cfg, args, evaluate, garments, seeds)


if __name__ == "__main__":
    if not (HERE.parent / "src" / "pakfashion").exists():
        sys.exit("run from a pakfashion checkout with the package installed (make install)")
    main()
