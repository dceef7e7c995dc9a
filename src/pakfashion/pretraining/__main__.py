"""Build the pretrained tiny models: ``python -m pakfashion.pretraining --out assets/tiny``.

Writes ``<out>/clip``, ``<out>/blip2``, ``<out>/smolvlm`` and ``<out>/sd`` (the SD pipeline needs the CLIP: its
text encoder is CLIP's text tower) and ``<out>/build.json``: the seed, what each build measured on held-out world
images and how long it took. Same seed, same models: every build seeds its own RNGs, on CPU, 2 threads.
``--models`` rebuilds some only (the others must already be in ``--out``).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from pakfashion.pretraining import BUILD_FILE

MODELS = ("clip", "blip2", "smolvlm", "sd")
SMOLVLM_CAPTION = "tiny_smolvlm"
"""The caption option whose prompt the tiny SmolVLM learns to answer (conf/caption/tiny_smolvlm.yaml)."""
CONF_DIR = Path(__file__).resolve().parents[3] / "conf"


def build(name: str, out: Path, *, seed: int, conf_dir: Path) -> dict[str, Any]:
    """Build one model into ``out/name``; its build metrics."""
    from pakfashion.config import CaptionConfig, VocabConfig, compose_config, settings_from

    vocab = settings_from(compose_config(conf_dir), "vocab", VocabConfig)
    if name == "clip":
        from pakfashion.pretraining.clip import pretrain_clip

        return pretrain_clip(out / "clip", seed=seed, garments=list(vocab.garments))
    if name == "blip2":
        from pakfashion.pretraining.blip2 import pretrain_blip2

        return pretrain_blip2(out / "blip2", seed=seed)
    if name == "smolvlm":
        from pakfashion.pretraining.smolvlm import pretrain_smolvlm

        caption = settings_from(compose_config(conf_dir, [f"caption={SMOLVLM_CAPTION}"]), "caption", CaptionConfig)
        return pretrain_smolvlm(out / "smolvlm", seed=seed, prompt=caption.prompt, vocab=vocab)
    from pakfashion.pretraining.sd import pretrain_sd

    return pretrain_sd(out / "sd", clip_dir=out / "clip", conf_dir=conf_dir, seed=seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pakfashion.pretraining", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for clip/, blip2/, smolvlm/, sd/ and build.json")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="which to (re)build")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--conf", type=Path, default=CONF_DIR, help="the conf/ whose vocab and train=full are used")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if "sd" in args.models and "clip" not in args.models and not (args.out / "clip").is_dir():
        parser.error(f"--models sd needs the CLIP in {args.out / 'clip'}: build it too (--models clip sd)")
    record_file = args.out / BUILD_FILE
    record = json.loads(record_file.read_text()) if record_file.is_file() else {}
    record["seed"] = args.seed
    for name in [m for m in MODELS if m in args.models]:
        record[name] = build(name, args.out, seed=args.seed, conf_dir=args.conf)
        args.out.mkdir(parents=True, exist_ok=True)
        record_file.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        logging.getLogger(__name__).info("%s built: %s", name, record[name])


if __name__ == "__main__":
    main()
