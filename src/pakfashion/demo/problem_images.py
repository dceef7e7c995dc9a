"""Problem images: pictures a retailer's gallery carries that are not good garment photos (the curate stage's cases).

A `ProblemImage` draws one of `PROBLEM_REASONS` from the garment of the product whose gallery carries it (its
shape, colour, accent and print), so each case looks like the real thing rather than an easy target:

- ``size_chart``: dark text on white, a header row, sizes XS–XL by measurements in inches, thin grey rules, and
  often a line sketch of the garment with a measuring arrow.
- ``text_banner``: a wide promo banner (2.2–2.4:1) with large text ("SALE 50% OFF", "NEW ARRIVALS", ...) on a flat
  or gradient colour, sometimes with a small garment beside the words.
- ``swatch``: a close crop of the garment's own fabric and print filling the frame (a weave, the motifs in its
  accent colour, soft light fall-off): no background, no figure.
- ``collage``: a 2×2 or 1×3 grid of garment drawings (this one and its look-mates) separated by white gutters.
- ``blurry``: a studio photo of the garment (lit backdrop, soft shadow, framed off-centre) blurred strongly.
- ``too_dark``: that kind of photo underexposed to a mean luma of 0.08–0.12, with sensor noise.

Everything varies with `ProblemImage.seed` (sizes come from `ProblemImage.garment`); equal specs give
byte-identical files. The only font is Pillow's built-in scalable one, so the pixels do not depend on the machine.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, get_args

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from pakfashion.demo.images import (
    BACKGROUND,
    COLOURS,
    RGB,
    DrawSpec,
    Shape,
    background_mask,
    colour_rgb,
    luma,
    render_image,
    studio_background,
)

ProblemReason = Literal["size_chart", "text_banner", "swatch", "collage", "blurry", "too_dark"]
PROBLEM_REASONS: tuple[ProblemReason, ...] = get_args(ProblemReason)
"""The cases, named as the curate stage's `pakfashion.contracts.CurationReason` values."""

CHART_SIZES: tuple[str, ...] = ("XS", "S", "M", "L", "XL")
DARK_LUMA = (0.08, 0.12)
"""Mean luma (0..1, ITU-R 601) a `too_dark` photo is underexposed to, drawn per image."""
_PHOTO_SIZES: tuple[tuple[int, int], ...] = ((512, 512), (480, 640), (600, 800), (640, 640), (600, 450))
PROBLEM_SIZES: dict[ProblemReason, tuple[tuple[int, int], ...]] = {
    "size_chart": ((800, 1000), (1000, 800), (900, 900), (720, 960), (1080, 1080)),
    # Gallery banners run 2.2–2.4:1 (narrower than a 3:1 hero banner, which an aspect check alone would drop).
    "text_banner": ((1200, 500), (1000, 420), (1280, 560), (960, 400), (1200, 540), (1080, 480)),
    "swatch": ((600, 600), (800, 800), (640, 800), (720, 720)),
    # Wide ones are 1×3 grids, the others 2×2 (`collage_grid`).
    "collage": ((800, 800), (1000, 1000), (1200, 600), (1080, 540), (900, 900)),
    "blurry": _PHOTO_SIZES,
    "too_dark": _PHOTO_SIZES,
}
"""The (width, height) each case is drawn at (one is picked per image)."""
GUTTER_RGB: RGB = (255, 255, 255)
"""Collage gutters: pure white, brighter than every cell backdrop (`_CELL_BACKDROPS`)."""

_TOP_COLUMNS: tuple[tuple[str, float, float], ...] = (
    ("Chest", 34.0, 2.0), ("Shoulder", 13.5, 0.5), ("Length", 38.0, 0.5), ("Sleeve", 20.5, 0.5),
    ("Armhole", 8.0, 0.5), ("Hem", 40.0, 2.0), ("Neck", 6.5, 0.25),
)
_BOTTOM_COLUMNS: tuple[tuple[str, float, float], ...] = (
    ("Waist", 26.0, 2.0), ("Hip", 36.0, 2.0), ("Length", 37.0, 0.5), ("Inseam", 26.0, 0.5),
    ("Thigh", 21.0, 1.0), ("Bottom", 12.0, 0.5),
)
"""Measurement columns: (name, XS value in inches, step per size)."""
_BOTTOMS: frozenset[Shape] = frozenset({"trousers", "shalwar"})

_HEADLINES: tuple[str, ...] = (
    "SALE 50% OFF", "NEW ARRIVALS", "FLAT 30% OFF", "EID COLLECTION", "SUMMER SALE", "UP TO 40% OFF",
    "LAWN '26", "WINTER EDIT", "END OF SEASON SALE", "FESTIVE EDIT",
)
_SUBLINES: tuple[str, ...] = (
    "SHOP NOW", "ON ALL UNSTITCHED", "LIMITED TIME ONLY", "FREE DELIVERY NATIONWIDE", "IN STORES & ONLINE",
    "NEW STYLES EVERY WEEK", "USE CODE EID26",
)
_BANNER_COLOURS: tuple[str, ...] = ("maroon", "black", "navy", "beige", "pink", "teal", "mustard", "white")
_CELL_BACKDROPS: tuple[RGB, ...] = (BACKGROUND, (242, 238, 230), (228, 231, 236), (238, 232, 232))
_COLLAGE_SHAPES: tuple[Shape, ...] = ("tunic", "short_tunic", "dress", "abaya", "wrap", "shawl", "trousers",
                                      "shalwar", "suit", "shalwar_suit", "sleeveless")


@dataclass(frozen=True)
class ProblemImage:
    """One problem image: which case, the garment it is drawn from, and the seed of its variations.

    Attributes:
        reason: The case (a `PROBLEM_REASONS` name).
        garment: The product's garment (shape, colour, accent, pattern); its width, height and format are this
            image's.
        seed: Seeds the case's variations (layout, colours, words, blur, exposure).
    """

    reason: ProblemReason
    garment: DrawSpec
    seed: int

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.garment.width, self.garment.height

    def rng(self, stream: str = "") -> random.Random:
        """A fresh generator of this image's variations in `stream` (the same draws every call)."""
        return random.Random(f"{self.reason}:{stream}:{self.seed}")


def _font(size: float) -> ImageFont.FreeTypeFont:
    """Pillow's built-in scalable font at `size` px."""
    font = ImageFont.load_default(size=max(8, round(size)))
    assert isinstance(font, ImageFont.FreeTypeFont), "Pillow >= 10.1 with FreeType is needed for scalable text"
    return font


def _fit_font(draw: ImageDraw.ImageDraw, text: str, size: float, max_width: float,
              stroke: int = 0) -> ImageFont.FreeTypeFont:
    """The font at `size` px, shrunk until `text` fits in `max_width`."""
    font = _font(size)
    while draw.textlength(text, font=font) + 2 * stroke > max_width and font.size > 8:
        font = _font(font.size * 0.92)
    return font


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    """`a` moved a fraction `t` towards `b`."""
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def _silhouette(spec: DrawSpec) -> tuple[Image.Image, Image.Image]:
    """The garment drawing of `spec` and its mask (255 on the garment)."""
    drawing = render_image(spec)
    return drawing, background_mask(drawing, spec.background)


# --- size chart ------------------------------------------------------------------------------------------


def _chart_rows(shape: Shape, rng: random.Random) -> tuple[list[str], list[list[str]]]:
    """Header and body rows of a size chart in inches: one row per size of `CHART_SIZES`."""
    pool = _BOTTOM_COLUMNS if shape in _BOTTOMS else _TOP_COLUMNS
    columns = sorted(rng.sample(range(len(pool)), rng.randint(3, 5)))
    header = [rng.choice(("Size", "SIZE", "Size (in)"))] + [pool[i][0] for i in columns]
    offsets = [rng.choice((-1.0, -0.5, 0.0, 0.5, 1.0)) for _ in columns]
    rows = [[size, *(f"{pool[i][1] + offset + pool[i][2] * index:g}" for i, offset in zip(columns, offsets))]
            for index, size in enumerate(CHART_SIZES)]
    return header, rows


def _chart_sketch(spec: DrawSpec, side: int, ink: RGB, paper: RGB) -> Image.Image:
    """A line sketch of the garment (its outline in `ink` on `paper`) with a measuring arrow across it."""
    _, mask = _silhouette(replace(spec, width=side, height=side, scale=0.8, pattern="none"))
    outline = mask.filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v > 60 else 0)
    sketch = Image.new("RGB", (side, side), paper)
    sketch.paste(Image.new("RGB", (side, side), ink), mask=outline.filter(ImageFilter.MaxFilter(3)))
    draw = ImageDraw.Draw(sketch)
    y, x0, x1 = side * 0.46, side * 0.24, side * 0.76
    draw.line([(x0, y), (x1, y)], fill=ink, width=max(1, side // 160))
    head = side * 0.025
    for x, sign in ((x0, 1), (x1, -1)):
        draw.polygon([(x, y), (x + sign * head * 1.6, y - head), (x + sign * head * 1.6, y + head)], fill=ink)
    return sketch


def _size_chart(problem: ProblemImage) -> Image.Image:
    """Dark text on white: a title, a header row, XS–XL by measurements in inches, thin grey rules."""
    rng = problem.rng()
    w, h = problem.size
    paper = rng.choice(((255, 255, 255), (252, 251, 248), (250, 250, 250)))
    ink = rng.choice(((30, 30, 30), (45, 45, 50), (60, 55, 50)))
    rule = rng.choice(((190, 190, 190), (200, 200, 205), (175, 175, 175)))
    image = Image.new("RGB", (w, h), paper)
    draw = ImageDraw.Draw(image)
    margin = round(min(w, h) * rng.uniform(0.05, 0.08))
    title = rng.choice(("SIZE CHART", "SIZE GUIDE", "Size Chart", "Size Guide"))
    title_font = _font(min(w, h) * rng.uniform(0.055, 0.075))
    top = margin
    centred = rng.random() < 0.5
    x = (w - draw.textlength(title, font=title_font)) / 2 if centred else margin
    draw.text((x, top), title, font=title_font, fill=ink, stroke_width=rng.choice((0, 1)), stroke_fill=ink)
    top += title_font.size * 1.3
    note = rng.choice(("All measurements in inches", "Measurements in inches (garment)", "Inches"))
    note_font = _font(title_font.size * 0.45)
    x = (w - draw.textlength(note, font=note_font)) / 2 if centred else margin
    draw.text((x, top), note, font=note_font, fill=_mix(ink, paper, 0.35))
    top += note_font.size * 2.0
    sketch_side = 0
    below = h >= 1.15 * w  # a portrait chart puts the sketch under the table, a square or wide one beside it
    if rng.random() < 0.6:
        sketch_side = round(w * 0.4) if below else round(min(w * 0.34, h - top - margin))
    table_right = w - margin - (sketch_side + margin // 2 if sketch_side and not below else 0)
    table_room = h - top - margin * 2.2 - (sketch_side + margin if sketch_side and below else 0)
    header, rows = _chart_rows(problem.garment.shape, rng)
    n_rows = len(rows) + 1
    col_w = (table_right - margin) / len(header)
    row_h = min(table_room / n_rows, col_w * 0.75)
    header_style = rng.choice(("grey", "tint", "dark", "plain"))
    header_fill = {"grey": (236, 236, 236), "tint": _mix(colour_rgb(problem.garment.colour), (255, 255, 255), 0.8),
                   "dark": ink, "plain": paper}[header_style]
    header_ink = (255, 255, 255) if header_style == "dark" else ink
    zebra = rng.random() < 0.5
    cell_font = _font(row_h * rng.uniform(0.36, 0.46))
    line = max(1, round(min(w, h) / 700))
    for r, cells in enumerate([header, *rows]):
        y0 = top + r * row_h
        fill = header_fill if r == 0 else ((246, 246, 246) if zebra and r % 2 == 0 else paper)
        draw.rectangle([margin, y0, table_right, y0 + row_h], fill=fill)
        for c, text in enumerate(cells):
            font = _fit_font(draw, text, cell_font.size, col_w * 0.9)
            tx = margin + c * col_w + (col_w - draw.textlength(text, font=font)) / 2
            draw.text((tx, y0 + (row_h - font.size) / 2), text, font=font,
                      fill=header_ink if r == 0 else ink, stroke_width=1 if r == 0 or c == 0 else 0,
                      stroke_fill=header_ink if r == 0 else ink)
    bottom = top + n_rows * row_h
    for r in range(n_rows + 1):
        draw.line([(margin, top + r * row_h), (table_right, top + r * row_h)], fill=rule, width=line)
    for c in range(len(header) + 1):
        draw.line([(margin + c * col_w, top), (margin + c * col_w, bottom)], fill=rule, width=line)
    footnote = rng.choice(("Measurements may vary by +/- 0.5 inch.", "Please allow 0.5\" for stitching.",
                           "Fit: regular. Model wears size S."))
    foot_font = _font(note_font.size * 0.9)
    if bottom + foot_font.size * 1.6 < h:
        draw.text((margin, bottom + foot_font.size * 0.6), footnote, font=foot_font, fill=_mix(ink, paper, 0.4))
    if sketch_side:
        sketch = _chart_sketch(problem.garment, sketch_side, _mix(ink, paper, 0.2), paper)
        if below:
            corner = ((w - sketch_side) // 2, min(round(bottom + foot_font.size * 2.4), h - sketch_side - margin // 2))
        else:
            corner = (w - margin - sketch_side, round(top))
        image.paste(sketch, corner)
    return image


# --- promo banner ----------------------------------------------------------------------------------------


def _banner_backdrop(size: tuple[int, int], rng: random.Random, garment_colour: str) -> tuple[Image.Image, RGB]:
    """A flat or left-to-right gradient backdrop, and its mean colour."""
    first = colour_rgb(rng.choice((*_BANNER_COLOURS, garment_colour)))
    if rng.random() < 0.5:
        return Image.new("RGB", size, first), first
    second = _mix(first, rng.choice(((0, 0, 0), (255, 255, 255), colour_rgb(rng.choice(_BANNER_COLOURS)))), 0.45)
    ramp = Image.linear_gradient("L").rotate(90, expand=True).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    ramp = ramp.resize(size, Image.Resampling.BILINEAR)
    backdrop = Image.composite(Image.new("RGB", size, second), Image.new("RGB", size, first), ramp)
    return backdrop, _mix(first, second, 0.5)


def _text_banner(problem: ProblemImage) -> Image.Image:
    """Large promo text on a flat or gradient colour, a smaller line under it, sometimes a garment beside it."""
    rng = problem.rng()
    w, h = problem.size
    image, mean = _banner_backdrop((w, h), rng, problem.garment.colour)
    ink = (255, 255, 255) if luma(mean) < 150 else (25, 25, 25)
    draw = ImageDraw.Draw(image)
    text_left, text_right = w * 0.06, w * 0.94
    if rng.random() < 0.5:
        side = round(h * 0.9)
        spec = replace(problem.garment, width=side, height=side, scale=0.9, background=BACKGROUND)
        drawing, mask = _silhouette(spec)
        on_right = rng.random() < 0.5
        x = round(w - side - w * 0.04) if on_right else round(w * 0.04)
        image.paste(drawing, (x, round(h * 0.05)), mask)
        text_left, text_right = (w * 0.05, x - w * 0.03) if on_right else (x + side + w * 0.03, w * 0.95)
    headline = rng.choice(_HEADLINES)
    stroke = rng.choice((1, 2, 3))
    big = _fit_font(draw, headline, h * rng.uniform(0.24, 0.32), text_right - text_left, stroke)
    subline = rng.choice(_SUBLINES)
    small = _fit_font(draw, subline, big.size * rng.uniform(0.3, 0.4), text_right - text_left)
    block = big.size * 1.15 + small.size * 1.6
    y = (h - block) / 2
    centre = (text_left + text_right) / 2
    draw.text((centre, y), headline, font=big, fill=ink, anchor="mt", stroke_width=stroke, stroke_fill=ink)
    y += big.size * 1.25
    if rng.random() < 0.5:  # a "button" round the smaller line
        width = draw.textlength(subline, font=small)
        pad = small.size * 0.6
        draw.rounded_rectangle([centre - width / 2 - pad, y - pad * 0.6, centre + width / 2 + pad,
                                y + small.size + pad * 0.6], radius=round(pad), outline=ink,
                               width=max(2, h // 150))
    draw.text((centre, y), subline, font=small, fill=ink, anchor="mt")
    return image


# --- fabric swatch ---------------------------------------------------------------------------------------


def _weave(size: tuple[int, int], base: RGB, rng: random.Random) -> Image.Image:
    """The base cloth: a plain or twill weave of threads a shade lighter and darker than `base`."""
    w, h = size
    cloth = Image.new("RGB", size, base)
    draw = ImageDraw.Draw(cloth)
    light, dark = _mix(base, (255, 255, 255), 0.08), _mix(base, (0, 0, 0), 0.1)
    pitch = rng.choice((3, 4, 5))
    if rng.random() < 0.5:  # twill: diagonal ribs
        for k in range(-h, w, pitch):
            draw.line([(k, 0), (k + h, h)], fill=dark if (k // pitch) % 2 else light, width=1)
    else:  # plain weave: a grid of warp and weft
        for x in range(0, w, pitch):
            draw.line([(x, 0), (x, h)], fill=dark, width=1)
        for y in range(0, h, pitch):
            draw.line([(0, y), (w, y)], fill=light, width=1)
    return cloth


def _flower(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, petal: RGB, centre: RGB, turn: float) -> None:
    """A five-petal butti of radius `r` at (x, y)."""
    for k in range(5):
        angle = turn + k * 2 * np.pi / 5
        px, py = x + 0.55 * r * np.cos(angle), y + 0.55 * r * np.sin(angle)
        draw.ellipse([px - 0.45 * r, py - 0.45 * r, px + 0.45 * r, py + 0.45 * r], fill=petal)
    draw.ellipse([x - 0.25 * r, y - 0.25 * r, x + 0.25 * r, y + 0.25 * r], fill=centre)


def _print_buttis(draw: ImageDraw.ImageDraw, size: tuple[int, int], accent: RGB, base: RGB,
                  rng: random.Random) -> None:
    """Scattered buttis on a staggered grid (the garment's "buttis" print, seen close)."""
    w, h = size
    step = min(w, h) * rng.uniform(0.16, 0.24)
    r = step * rng.uniform(0.22, 0.3)
    centre = _mix(accent, base, 0.5)
    for gy in range(-1, int(h / step) + 2):
        for gx in range(-1, int(w / step) + 2):
            x = gx * step + (step / 2) * (gy % 2) + rng.uniform(-0.05, 0.05) * step
            _flower(draw, x, gy * step + rng.uniform(-0.05, 0.05) * step, r, accent, centre, rng.uniform(0, 6.3))


def _print_vines(draw: ImageDraw.ImageDraw, size: tuple[int, int], accent: RGB, base: RGB,
                 rng: random.Random) -> None:
    """Rows of embroidered vines: a wavy stem with leaves and small flowers (a "neckline" embroidery, close)."""
    w, h = size
    gap = min(w, h) * rng.uniform(0.2, 0.28)
    amplitude, period = gap * 0.22, gap * rng.uniform(1.2, 1.8)
    thread = max(2, round(min(w, h) / 160))
    for row in range(int(h / gap) + 1):
        y0 = (row + 0.5) * gap
        phase = rng.uniform(0, 6.3)
        points = [(x, y0 + amplitude * np.sin(phase + 2 * np.pi * x / period)) for x in range(0, w + 8, 6)]
        draw.line(points, fill=accent, width=thread)
        for i in range(0, len(points), 7):
            x, y = points[i]
            side = 1 if (i // 7) % 2 else -1
            draw.ellipse([x - thread * 2.5, y + side * thread * 1.5 - thread * 1.2, x + thread * 2.5,
                          y + side * thread * 1.5 + thread * 1.2], fill=accent)
        for i in range(3, len(points), 21):
            _flower(draw, *points[i], gap * 0.16, accent, _mix(accent, base, 0.4), phase)


def _print_bands(draw: ImageDraw.ImageDraw, size: tuple[int, int], accent: RGB, base: RGB,
                 rng: random.Random) -> None:
    """Embroidered bands across the cloth, diamonds inside each (a "hem" or "border" embroidery, close)."""
    w, h = size
    band = min(w, h) * rng.uniform(0.12, 0.18)
    gap = band * rng.uniform(1.6, 2.4)
    inner = _mix(accent, base, 0.45)
    y = rng.uniform(0.1, 0.4) * gap
    while y < h:
        draw.rectangle([0, y, w, y + band], fill=accent)
        d = band * 0.36
        for x in np.arange(d, w + d, 2.4 * d):
            cx, cy = float(x), y + band / 2
            draw.polygon([(cx - d, cy), (cx, cy - d), (cx + d, cy), (cx, cy + d)], fill=inner)
        y += band + gap


_PRINTS: dict[str, Callable[[ImageDraw.ImageDraw, tuple[int, int], RGB, RGB, random.Random], None]] = {
    "buttis": _print_buttis, "neckline": _print_vines, "hem": _print_bands, "border": _print_bands,
}
SWATCH_PATTERNS: frozenset[str] = frozenset(_PRINTS)
"""Garment patterns a swatch can show (a plain garment's close-up would be a flat colour)."""


def _swatch(problem: ProblemImage) -> Image.Image:
    """The garment's cloth and print filling the frame, turned a little, with a soft fall-off of light."""
    rng = problem.rng()
    w, h = problem.size
    spec = problem.garment
    if spec.pattern not in _PRINTS:
        raise ValueError(f"a swatch needs a printed garment (one of {sorted(_PRINTS)}), not {spec.pattern!r}")
    big = (round(w * 1.5), round(h * 1.5))
    base, accent = colour_rgb(spec.colour), colour_rgb(spec.accent)
    cloth = _weave(big, base, rng)
    _PRINTS[spec.pattern](ImageDraw.Draw(cloth), big, accent, base, rng)
    turned = cloth.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BICUBIC)
    left, top = (big[0] - w) // 2, (big[1] - h) // 2
    image = turned.crop((left, top, left + w, top + h))
    shade = studio_background((w, h), (rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)), dark=60)
    light = np.asarray(shade.convert("L"), dtype=np.float32) / 250.0
    pixels = np.asarray(image, dtype=np.float32) * (0.9 + 0.14 * light[..., None])
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


# --- collage ---------------------------------------------------------------------------------------------


def collage_grid(problem: ProblemImage) -> tuple[int, int, int, bool]:
    """(rows, columns, gutter px, outer margin) of a collage: 1×3 on a wide image, else 2×2."""
    rng = problem.rng("grid")
    w, h = problem.size
    rows, cols = (1, 3) if w >= 1.5 * h else (2, 2)
    return rows, cols, max(6, round(min(w, h) * rng.uniform(0.012, 0.03))), rng.random() < 0.5


def _collage(problem: ProblemImage) -> Image.Image:
    """Garment drawings in a grid with white gutters: this garment first, then look-mates or other colours."""
    rows, cols, gutter, outer = collage_grid(problem)
    rng = problem.rng("cells")
    w, h = problem.size
    image = Image.new("RGB", (w, h), GUTTER_RGB)
    edge = gutter if outer else 0
    cell_w = (w - 2 * edge - (cols - 1) * gutter) // cols
    cell_h = (h - 2 * edge - (rows - 1) * gutter) // rows
    colourway = rng.random() < 0.5
    colours = rng.sample([c for c in sorted(COLOURS) if c != problem.garment.colour], rows * cols)
    for index in range(rows * cols):
        r, c = divmod(index, cols)
        if index == 0:
            spec = problem.garment
        elif colourway:
            spec = replace(problem.garment, colour=colours[index])
        else:
            spec = replace(problem.garment, shape=rng.choice(_COLLAGE_SHAPES), colour=colours[index],
                           pattern="none")
        spec = replace(spec, width=cell_w, height=cell_h, scale=rng.uniform(0.78, 0.92),
                       background=rng.choice(_CELL_BACKDROPS))
        image.paste(render_image(spec), (edge + c * (cell_w + gutter), edge + r * (cell_h + gutter)))
    return image


# --- photos: blurred and dark ----------------------------------------------------------------------------


def garment_photo(problem: ProblemImage) -> Image.Image:
    """The sharp studio photo a `blurry` or `too_dark` image starts from: the garment framed off-centre on a lit
    backdrop with a soft shadow (framed unlike the product's flat catalogue drawings, so never a near-duplicate)."""
    rng = problem.rng("photo")
    w, h = problem.size
    image = studio_background((w, h), (rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9)), dark=rng.randint(90, 150))
    fraction = rng.uniform(0.62, 0.8)
    gw, gh = round(w * fraction), round(h * fraction)
    drawing, mask = _silhouette(replace(problem.garment, width=gw, height=gh, scale=0.95))
    x = round(rng.uniform(0.02, 0.98) * (w - gw))
    y = round(rng.uniform(0.3, 0.9) * (h - gh))
    shadow = Image.new("L", (w, h), 0)
    shadow.paste(mask, (x + round(gw * 0.03), y + round(gh * 0.02)))
    shadow = shadow.filter(ImageFilter.GaussianBlur(min(w, h) * 0.02)).point(lambda v: v * 2 // 5)
    image.paste(Image.new("RGB", (w, h), (70, 70, 70)), mask=shadow)
    image.paste(drawing, (x, y), mask)
    return image


def _blurry(problem: ProblemImage) -> Image.Image:
    """`garment_photo` under a strong gaussian blur (radius 1.2–2 % of the short side)."""
    radius = min(problem.size) * problem.rng().uniform(0.012, 0.02)
    return garment_photo(problem).filter(ImageFilter.GaussianBlur(radius))


def _too_dark(problem: ProblemImage) -> Image.Image:
    """`garment_photo` underexposed to a mean luma drawn from `DARK_LUMA`, with a little sensor noise."""
    rng = problem.rng()
    target = rng.uniform(*DARK_LUMA) * 255
    photo = np.asarray(garment_photo(problem), dtype=np.float32)
    luma = photo @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    dark = photo * (target / float(luma.mean()))
    noise = np.random.default_rng(problem.seed).normal(0.0, rng.uniform(1.5, 3.0), size=photo.shape[:2])
    return Image.fromarray(np.clip(dark + noise[..., None], 0, 255).round().astype(np.uint8))


_RENDERERS: dict[str, Callable[[ProblemImage], Image.Image]] = {
    "size_chart": _size_chart, "text_banner": _text_banner, "swatch": _swatch, "collage": _collage,
    "blurry": _blurry, "too_dark": _too_dark,
}


def render_problem(problem: ProblemImage) -> Image.Image:
    """Draw `problem` and return it as an RGB Pillow image of `problem.size`."""
    return _RENDERERS[problem.reason](problem)


def draw_problem(problem: ProblemImage) -> bytes:
    """Draw `problem` and return the encoded file: JPEG (quality 90) or PNG, as `problem.garment.fmt` says."""
    buffer = io.BytesIO()
    image = render_problem(problem)
    if problem.garment.fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=90)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()
