"""The pretraining world: garment drawings in named colours with captions, to pretrain the tiny models on.

Images come from the demo renderer (:mod:`pakfashion.demo.images`) over garment shapes x colours x
embroidery patterns x placements (size and position) x light studio backgrounds, each with a caption
naming its colour and garment ("red embroidered lawn kurta"). A ``held_out`` split is drawn from its own
random stream. The tiny Stable Diffusion UNet is pretrained without :data:`HELD_OUT_COLOURS`, which the
demo store's catalogue has: fine-tuning on the crawled demo data has a measurable job to do (draw those
colours).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image

from pakfashion.contracts import METADATA_FILE
from pakfashion.demo.images import (
    BACKGROUND,
    BORDERED,
    COLOURS,
    RGB,
    DrawSpec,
    Pattern,
    Shape,
    render_image,
)

Split = Literal["train", "held_out"]
HELD_OUT_COLOURS: tuple[str, ...] = ("purple", "pink")
"""Colours the demo store sells that the tiny UNet never sees in pretraining."""

SHAPE_GARMENTS: dict[Shape, tuple[str, str]] = {
    "tunic": ("kurta", "kurta"),
    "short_tunic": ("kurta", "kurti"),
    "sleeveless": ("waistcoat", "waistcoat"),
    "dress": ("lehenga", "lehenga"),
    "abaya": ("abaya", "abaya"),
    "wrap": ("dupatta", "dupatta"),
    "trousers": ("trousers", "trousers"),
    "shalwar": ("trousers", "shalwar"),
    "suit": ("2-piece suit", "2 piece suit"),
    "suit3": ("3-piece suit", "3 piece suit"),
    "shalwar_suit": ("shalwar kameez", "shalwar kameez"),
    "shawl": ("shawl", "shawl"),
}
"""Each drawn shape: its canonical garment (a ``vocab.garments`` key) and the word captions use for it."""

PATTERN_WORDS: dict[Pattern, str] = {
    "none": "plain", "neckline": "embroidered", "hem": "embroidered", "buttis": "printed", "border": "embroidered",
}
FABRICS: tuple[str, ...] = ("lawn", "cambric", "khaddar", "chiffon", "silk", "linen", "cotton")
ACCENTS: tuple[str, ...] = ("gold", "silver", "ivory", "crimson", "emerald")
BACKGROUNDS: tuple[RGB, ...] = (BACKGROUND, (255, 255, 255), (247, 242, 228), (226, 232, 238))
"""Light studio tones: the demo store's grey, white, cream and pale blue-grey."""
MIN_CONTRAST = 20.0
"""A background is at least this far (Euclidean RGB) from the garment colour, so the garment stands out."""
MARGIN = 0.03
"""Plain background kept between the silhouette and the image edge, as a fraction of the side."""
RENDER_SCALE = 4
"""Drawings are rendered this many times larger than ``px`` and downsampled (anti-aliased edges)."""


@dataclass(frozen=True)
class WorldImage:
    """One drawing and what it shows."""

    image: Image.Image
    caption: str
    colour: str
    garment: str
    shape: str
    pattern: str


def _caption(rng: random.Random, colour: str, word: str, pattern: Pattern) -> str:
    fabric, style = rng.choice(FABRICS), PATTERN_WORDS[pattern]
    templates = (
        f"{colour} {word}",
        f"a {colour} {word}",
        f"{colour} {fabric} {word}",
        f"{colour} {style} {fabric} {word}",
        f"{colour} {fabric} {word}, {style} {colour} {word}",
    )
    return rng.choice(templates)


def _background(rng: random.Random, colour: str) -> RGB:
    """A random studio tone that contrasts with ``colour`` (no white garment on white)."""
    garment = COLOURS[colour]
    return rng.choice([tone for tone in BACKGROUNDS if math.dist(tone, garment) >= MIN_CONTRAST])


def _placed(spec: DrawSpec, rng: random.Random, px: int) -> Image.Image:
    """The drawing at ``px``, shifted by up to a tenth of the side (a placement, not always centred).

    The shift keeps the silhouette inside the image: the border stays plain background.
    """
    big = render_image(spec)
    shift = min(spec.width // 10, int(spec.width * ((1 - spec.scale) / 2 - MARGIN)))
    dx, dy = rng.randint(-shift, shift), rng.randint(-shift, shift)
    canvas = Image.new("RGB", big.size, big.getpixel((0, 0)))
    canvas.paste(big, (dx, dy))
    return canvas.resize((px, px), Image.Resampling.LANCZOS)


def world_images(seed: int, count: int, *, split: Split = "train", px: int = 64,
                 colours: Sequence[str] = tuple(COLOURS)) -> list[WorldImage]:
    """``count`` drawings of the ``split`` (each split its own random stream), in ``colours`` only."""
    rng = random.Random(f"pakfashion-world:{seed}:{split}")
    shapes = sorted(SHAPE_GARMENTS)
    images = []
    for _ in range(count):
        shape, colour = rng.choice(shapes), rng.choice(list(colours))
        pattern: Pattern = rng.choice(["none", "none", "neckline", "hem", "buttis", "border"])
        if pattern == "border" and shape not in BORDERED:
            pattern = "none"
        spec = DrawSpec(shape=shape, colour=colour, accent=rng.choice(ACCENTS), pattern=pattern,
                        width=px * RENDER_SCALE, height=px * RENDER_SCALE, scale=rng.uniform(0.62, 0.92),
                        background=_background(rng, colour))
        garment, word = SHAPE_GARMENTS[shape]
        images.append(WorldImage(_placed(spec, rng, px), _caption(rng, colour, word, pattern), colour, garment,
                                 shape, pattern))
    return images


def write_imagefolder(images: Sequence[WorldImage], split_dir: Path) -> Path:
    """``split_dir`` as an imagefolder split: PNGs and ``metadata.jsonl`` (file_name, text, colour, garment)."""
    split_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, item in enumerate(images):
        name = f"{index:05d}.png"
        item.image.save(split_dir / name)
        rows.append({"file_name": name, "text": item.caption, "colour": item.colour, "garment": item.garment})
    (split_dir / METADATA_FILE).write_text("".join(json.dumps(row) + "\n" for row in rows))
    return split_dir
