"""Garment images for the demo store: flat Pillow drawings in named colours.

Each image is a simple silhouette (tunic, suits over trousers or a shalwar, dress, wrap,
shawl, trousers, frock, bottle, ...) filled with one named colour on a light background, so
tests and evaluations can check that the dominant colour at the image centre is the one the
product names.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageChops, ImageDraw

RGB = tuple[int, int, int]

COLOURS: dict[str, RGB] = {
    "red": (200, 30, 40),
    "maroon": (120, 20, 35),
    "pink": (240, 140, 170),
    "blue": (40, 90, 200),
    "navy": (20, 35, 90),
    "teal": (0, 128, 128),
    "green": (40, 140, 60),
    "olive": (110, 110, 40),
    "yellow": (245, 215, 50),
    "mustard": (205, 160, 30),
    "orange": (240, 130, 30),
    "purple": (120, 50, 150),
    "black": (25, 25, 25),
    "white": (250, 250, 250),
    "beige": (225, 205, 170),
    "grey": (128, 128, 128),
}
"""Garment colours by name; the ground-truth palette of the demo world."""

ACCENTS: dict[str, RGB] = {
    "gold": (212, 175, 55),
    "silver": (192, 192, 200),
    "ivory": (255, 250, 235),
    "crimson": (170, 10, 50),
    "emerald": (20, 120, 80),
}
"""Embroidery and trim colours (never used as a garment's own colour)."""

BACKGROUND: RGB = (236, 236, 233)
"""Plain light-grey studio background (the default of `DrawSpec.background`)."""

Shape = Literal[
    "tunic", "short_tunic", "sleeveless", "dress", "abaya", "wrap", "shawl", "trousers",
    "shalwar", "suit", "suit3", "shalwar_suit", "frock", "bottle", "candle", "sheet", "shoe", "plate",
]
Pattern = Literal["none", "neckline", "hem", "buttis", "border"]
BORDERED: frozenset[str] = frozenset({"wrap", "shawl"})
"""Shapes whose embroidery is a border: any pattern but "none" draws one (the only shapes "border" suits)."""
Point = tuple[float, float]


@dataclass(frozen=True)
class DrawSpec:
    """What to draw for one image; equal specs give byte-identical files.

    Attributes:
        shape: Silhouette to draw.
        colour: Fill colour name, a key of `COLOURS` (or `ACCENTS`).
        accent: Embroidery/trim colour name, a key of `ACCENTS` or `COLOURS`.
        pattern: Embroidery pattern drawn in the accent colour.
        width: Image width in pixels.
        height: Image height in pixels.
        fmt: Encoding, "JPEG" (quality 90) or "PNG".
        scale: Silhouette size relative to the image (children's wear is smaller).
        background: Plain studio background colour (the image border is always this colour).
    """

    shape: Shape
    colour: str
    accent: str = "gold"
    pattern: Pattern = "none"
    width: int = 512
    height: int = 512
    fmt: Literal["JPEG", "PNG"] = "JPEG"
    scale: float = 0.86
    background: RGB = BACKGROUND


_SLEEVED_BODY: list[Point] = [
    (0.38, 0.05), (0.45, 0.12), (0.55, 0.12), (0.62, 0.05), (0.80, 0.10),
    (0.98, 0.42), (0.87, 0.47), (0.76, 0.27), (0.78, 0.96), (0.22, 0.96),
    (0.24, 0.27), (0.13, 0.47), (0.02, 0.42), (0.20, 0.10),
]
_SHORT_BODY: list[Point] = [
    (0.38, 0.10), (0.45, 0.17), (0.55, 0.17), (0.62, 0.10), (0.80, 0.15),
    (0.96, 0.42), (0.86, 0.46), (0.76, 0.32), (0.78, 0.86), (0.22, 0.86),
    (0.24, 0.32), (0.14, 0.46), (0.04, 0.42), (0.20, 0.15),
]
_WAISTCOAT: list[Point] = [
    (0.36, 0.05), (0.50, 0.34), (0.64, 0.05), (0.74, 0.08), (0.76, 0.30),
    (0.72, 0.92), (0.28, 0.92), (0.24, 0.30), (0.26, 0.08),
]
_DRESS: list[Point] = [
    (0.40, 0.03), (0.46, 0.08), (0.54, 0.08), (0.60, 0.03), (0.66, 0.35),
    (0.94, 0.97), (0.06, 0.97), (0.34, 0.35),
]
_ABAYA: list[Point] = [
    (0.40, 0.03), (0.46, 0.08), (0.54, 0.08), (0.60, 0.03), (0.74, 0.08),
    (0.96, 0.55), (0.86, 0.58), (0.72, 0.30), (0.80, 0.98), (0.20, 0.98),
    (0.28, 0.30), (0.14, 0.58), (0.04, 0.55), (0.26, 0.08),
]
_TROUSERS: list[Point] = [
    (0.28, 0.04), (0.72, 0.04), (0.78, 0.96), (0.56, 0.96), (0.50, 0.64),
    (0.44, 0.96), (0.22, 0.96),
]
_SHALWAR: list[Point] = [
    (0.24, 0.04), (0.76, 0.04), (0.90, 0.70), (0.72, 0.96), (0.56, 0.90),
    (0.50, 0.66), (0.44, 0.90), (0.28, 0.96), (0.10, 0.70),
]
_FROCK: list[Point] = [
    (0.38, 0.06), (0.45, 0.12), (0.55, 0.12), (0.62, 0.06), (0.74, 0.10),
    (0.84, 0.26), (0.72, 0.32), (0.66, 0.36), (0.92, 0.94), (0.08, 0.94),
    (0.34, 0.36), (0.28, 0.32), (0.16, 0.26), (0.26, 0.10),
]
_KAMEEZ: list[Point] = [
    (0.38, 0.04), (0.45, 0.11), (0.55, 0.11), (0.62, 0.04), (0.80, 0.09),
    (0.97, 0.38), (0.87, 0.43), (0.76, 0.25), (0.78, 0.64), (0.22, 0.64),
    (0.24, 0.25), (0.13, 0.43), (0.03, 0.38), (0.20, 0.09),
]
"""The knee-length shirt of a suit; its hem (y 0.64) overlaps the top of the bottoms."""
_STRAIGHT_BOTTOMS: list[Point] = [
    (0.31, 0.58), (0.69, 0.58), (0.69, 0.97), (0.54, 0.97), (0.50, 0.74),
    (0.46, 0.97), (0.31, 0.97),
]
_SHALWAR_BOTTOMS: list[Point] = [
    (0.28, 0.58), (0.72, 0.58), (0.92, 0.84), (0.74, 0.97), (0.56, 0.93),
    (0.50, 0.76), (0.44, 0.93), (0.26, 0.97), (0.08, 0.84),
]
"""A shalwar's flare below a kameez: wider than the shirt's hem, gathered at the ankles."""
_SUIT_DUPATTA: list[Point] = [
    (0.19, 0.09), (0.31, 0.03), (0.87, 0.44), (0.91, 0.90), (0.78, 0.90), (0.74, 0.54),
]
"""A dupatta over the left shoulder, across the chest (clear of the centre) and down the right side."""
_SUITS: dict[str, list[Point]] = {
    "suit": _STRAIGHT_BOTTOMS, "suit3": _STRAIGHT_BOTTOMS, "shalwar_suit": _SHALWAR_BOTTOMS,
}
"""Suits: the bottoms drawn under `_KAMEEZ`."""
_HEMS: dict[str, tuple[float, float]] = {shape: (0.57, 0.62) for shape in _SUITS}
"""Where the "hem" band sits (top, bottom) on shapes whose shirt ends above the default (0.82, 0.87)."""

_POLYGONS: dict[str, list[Point]] = {
    "tunic": _SLEEVED_BODY,
    "short_tunic": _SHORT_BODY,
    "sleeveless": _WAISTCOAT,
    "dress": _DRESS,
    "abaya": _ABAYA,
    "trousers": _TROUSERS,
    "shalwar": _SHALWAR,
    "frock": _FROCK,
}


def colour_rgb(name: str) -> RGB:
    """Return the RGB triple for a garment or accent colour name.

    Raises:
        KeyError: If the name is in neither `COLOURS` nor `ACCENTS`.
    """
    if name in COLOURS:
        return COLOURS[name]
    return ACCENTS[name]


def luma(rgb: tuple[float, float, float]) -> float:
    """ITU-R 601 luma of `rgb`, 0..255."""
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def nearest_colour(rgb: tuple[float, float, float]) -> str:
    """Return the `COLOURS` name closest (Euclidean RGB) to `rgb`."""
    return min(COLOURS, key=lambda n: sum((a - b) ** 2 for a, b in zip(COLOURS[n], rgb)))


def _darker(rgb: RGB, factor: float = 0.7) -> RGB:
    """Return a darker shade of `rgb`, or a mid grey for very dark colours."""
    if sum(rgb) < 120:
        return (90, 90, 90)
    return (int(rgb[0] * factor), int(rgb[1] * factor), int(rgb[2] * factor))


class _Box:
    """Maps unit-square coordinates onto a centred square region of the canvas."""

    def __init__(self, width: int, height: int, scale: float) -> None:
        self.side = scale * min(width, height)
        self.left = (width - self.side) / 2
        self.top = (height - self.side) / 2

    def pt(self, x: float, y: float) -> tuple[float, float]:
        """Return canvas coordinates for unit coordinates (x, y)."""
        return (self.left + x * self.side, self.top + y * self.side)

    def rect(self, x0: float, y0: float, x1: float, y1: float) -> list[float]:
        """Return a canvas rectangle [x0, y0, x1, y1] for a unit rectangle."""
        a, b = self.pt(x0, y0)
        c, d = self.pt(x1, y1)
        return [a, b, c, d]

    def px(self, fraction: float) -> int:
        """Return a length in pixels for a fraction of the box side (at least 1)."""
        return max(1, round(fraction * self.side))


def _outlined(draw: ImageDraw.ImageDraw, box: _Box, outline: list[Point], fill: RGB) -> None:
    """Fill the unit-coordinate polygon `outline` and trace its edge in a darker shade."""
    points = [box.pt(x, y) for x, y in outline]
    draw.polygon(points, fill=fill, outline=_darker(fill))
    draw.line(points + [points[0]], fill=_darker(fill), width=box.px(0.006))


def _draw_suit(draw: ImageDraw.ImageDraw, box: _Box, spec: DrawSpec) -> None:
    """Draw a suit: bottoms a shade darker, the shirt over them, and a "suit3" dupatta with fringes."""
    fill = colour_rgb(spec.colour)
    _outlined(draw, box, _SUITS[spec.shape], _darker(fill, 0.92) if sum(fill) >= 120 else fill)
    _outlined(draw, box, _KAMEEZ, fill)
    _draw_pattern(draw, box, spec)
    if spec.shape == "suit3":
        shade = _darker(fill, 0.78)
        _outlined(draw, box, _SUIT_DUPATTA, shade)
        for i in range(7):
            x = 0.79 + i * 0.11 / 6
            draw.line([box.pt(x, 0.90), box.pt(x, 0.96)], fill=shade, width=box.px(0.01))


def _draw_polygon_garment(draw: ImageDraw.ImageDraw, box: _Box, spec: DrawSpec) -> None:
    """Draw a polygon silhouette and its embroidery pattern."""
    _outlined(draw, box, _POLYGONS[spec.shape], colour_rgb(spec.colour))
    _draw_pattern(draw, box, spec)
    if spec.shape == "sleeveless":
        for i in range(4):
            centre = box.pt(0.50, 0.44 + 0.11 * i)
            r = box.px(0.012)
            draw.ellipse([centre[0] - r, centre[1] - r, centre[0] + r, centre[1] + r],
                         fill=colour_rgb(spec.accent))


def _draw_pattern(draw: ImageDraw.ImageDraw, box: _Box, spec: DrawSpec) -> None:
    """Draw embroidery in the accent colour, kept away from the image centre.

    The "border" pattern only applies to `BORDERED` shapes (see `_draw_wrap`, `_draw_shawl`).
    """
    accent = colour_rgb(spec.accent)
    if spec.pattern == "neckline":
        draw.line([box.pt(0.40, 0.09), box.pt(0.46, 0.16), box.pt(0.54, 0.16), box.pt(0.60, 0.09)],
                  fill=accent, width=box.px(0.018))
        for i in range(5):
            x, y = box.pt(0.50, 0.20 + 0.035 * i)
            r = box.px(0.008)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=accent)
    elif spec.pattern == "hem" and spec.shape in ("trousers", "shalwar"):
        draw.rectangle(box.rect(0.27, 0.84, 0.42, 0.88), fill=accent)
        draw.rectangle(box.rect(0.58, 0.84, 0.73, 0.88), fill=accent)
    elif spec.pattern == "hem":
        top, bottom = _HEMS.get(spec.shape, (0.82, 0.87))
        draw.rectangle(box.rect(0.26, top, 0.74, bottom), fill=accent)
    elif spec.pattern == "buttis":
        r = box.px(0.01)
        for gy in range(6):
            for gx in range(5):
                ux, uy = 0.30 + 0.10 * gx + 0.05 * (gy % 2), 0.22 + 0.12 * gy
                if abs(ux - 0.5) < 0.12 and abs(uy - 0.5) < 0.12:
                    continue  # keep the centre plain so the garment colour dominates it
                x, y = box.pt(ux, uy)
                draw.ellipse([x - r, y - r, x + r, y + r], fill=accent)


def _draw_wrap(draw: ImageDraw.ImageDraw, box: _Box, spec: DrawSpec) -> None:
    """Draw a dupatta: a long draped rectangle with fringes along the bottom."""
    fill = colour_rgb(spec.colour)
    draw.rectangle(box.rect(0.12, 0.10, 0.88, 0.86), fill=fill, outline=_darker(fill))
    if spec.pattern != "none":
        draw.rectangle(box.rect(0.12, 0.10, 0.88, 0.86), outline=colour_rgb(spec.accent),
                       width=box.px(0.03))
    for i in range(25):
        x = 0.13 + i * 0.74 / 24
        draw.line([box.pt(x, 0.86), box.pt(x, 0.95)], fill=_darker(fill), width=box.px(0.006))


_SHAWL: list[Point] = [(0.03, 0.18), (0.97, 0.18), (0.50, 0.90)]
"""A wide shawl folded into a triangle, the fold along the top."""


def _draw_shawl(draw: ImageDraw.ImageDraw, box: _Box, spec: DrawSpec) -> None:
    """Draw a shawl: a folded triangle with a darker fold band and fringes along both slanted sides."""
    fill = colour_rgb(spec.colour)
    _outlined(draw, box, _SHAWL, fill)
    draw.polygon([box.pt(0.03, 0.18), box.pt(0.97, 0.18), box.pt(0.90, 0.26), box.pt(0.10, 0.26)],
                 fill=_darker(fill, 0.85))
    if spec.pattern != "none":
        draw.line([box.pt(x, y) for x, y in [*_SHAWL, _SHAWL[0]]], fill=colour_rgb(spec.accent),
                  width=box.px(0.03))
    for i in range(1, 12):
        t = i / 12
        for (x0, y0), sign in ((_SHAWL[0], -1), (_SHAWL[1], 1)):
            x, y = x0 + t * (0.50 - x0), y0 + t * (0.90 - y0)
            draw.line([box.pt(x, y), box.pt(x + sign * 0.06, y + 0.03)], fill=_darker(fill),
                      width=box.px(0.012))


def _draw_bottle(draw: ImageDraw.ImageDraw, box: _Box, spec: DrawSpec) -> None:
    """Draw a perfume bottle with a cap and a small label."""
    fill = colour_rgb(spec.colour)
    accent = colour_rgb(spec.accent)
    draw.rounded_rectangle(box.rect(0.25, 0.32, 0.75, 0.95), radius=box.px(0.06),
                           fill=fill, outline=_darker(fill), width=box.px(0.006))
    draw.rectangle(box.rect(0.43, 0.20, 0.57, 0.32), fill=_darker(fill))
    draw.rectangle(box.rect(0.37, 0.05, 0.63, 0.20), fill=accent)
    draw.rectangle(box.rect(0.33, 0.70, 0.67, 0.85), fill=spec.background if spec.colour != "white" else accent)


def _draw_candle(draw: ImageDraw.ImageDraw, box: _Box, spec: DrawSpec) -> None:
    """Draw a scented candle in a jar."""
    fill = colour_rgb(spec.colour)
    draw.rectangle(box.rect(0.22, 0.30, 0.78, 0.95), fill=fill, outline=_darker(fill))
    draw.ellipse(box.rect(0.22, 0.24, 0.78, 0.36), fill=_darker(fill, 0.85))
    draw.line([box.pt(0.50, 0.30), box.pt(0.50, 0.18)], fill=(40, 40, 40), width=box.px(0.012))
    draw.ellipse(box.rect(0.46, 0.06, 0.54, 0.18), fill=colour_rgb(spec.accent))


def _draw_sheet(draw: ImageDraw.ImageDraw, box: _Box, spec: DrawSpec) -> None:
    """Draw a folded bedsheet stack."""
    fill = colour_rgb(spec.colour)
    for i in range(4):
        top = 0.20 + i * 0.17
        draw.rectangle(box.rect(0.08, top, 0.92, top + 0.15), fill=fill, outline=_darker(fill),
                       width=box.px(0.008))
        draw.line([box.pt(0.08, top + 0.12), box.pt(0.92, top + 0.12)],
                  fill=colour_rgb(spec.accent), width=box.px(0.01))


_KHUSSA_UPPER: list[Point] = [
    (0.08, 0.50), (0.22, 0.44), (0.40, 0.46), (0.62, 0.50), (0.82, 0.54), (0.96, 0.46),
    (0.92, 0.66), (0.08, 0.66),
]


def _draw_shoe(draw: ImageDraw.ImageDraw, box: _Box, spec: DrawSpec) -> None:
    """Draw a khussa seen from the side: the upper with a curled toe, a sole and embroidery dots."""
    fill = colour_rgb(spec.colour)
    draw.polygon([box.pt(x, y) for x, y in _KHUSSA_UPPER], fill=fill, outline=_darker(fill))
    draw.rectangle(box.rect(0.07, 0.66, 0.93, 0.72), fill=_darker(fill, 0.5))
    r = box.px(0.012)
    for i in range(6):
        x, y = box.pt(0.30 + 0.09 * i, 0.58)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour_rgb(spec.accent))


def _draw_plate(draw: ImageDraw.ImageDraw, box: _Box, spec: DrawSpec) -> None:
    """Draw a ceramic hot plate from above: a disc with a painted rim."""
    fill = colour_rgb(spec.colour)
    draw.ellipse(box.rect(0.08, 0.08, 0.92, 0.92), fill=fill, outline=_darker(fill), width=box.px(0.01))
    draw.ellipse(box.rect(0.18, 0.18, 0.82, 0.82), outline=colour_rgb(spec.accent), width=box.px(0.03))


def render_image(spec: DrawSpec) -> Image.Image:
    """Draw the image described by `spec` and return it as an RGB Pillow image."""
    image = Image.new("RGB", (spec.width, spec.height), spec.background)
    draw = ImageDraw.Draw(image)
    box = _Box(spec.width, spec.height, spec.scale)
    if spec.shape in _POLYGONS:
        _draw_polygon_garment(draw, box, spec)
    elif spec.shape in _SUITS:
        _draw_suit(draw, box, spec)
    elif spec.shape == "wrap":
        _draw_wrap(draw, box, spec)
    elif spec.shape == "shawl":
        _draw_shawl(draw, box, spec)
    elif spec.shape == "bottle":
        _draw_bottle(draw, box, spec)
    elif spec.shape == "candle":
        _draw_candle(draw, box, spec)
    elif spec.shape == "sheet":
        _draw_sheet(draw, box, spec)
    elif spec.shape == "shoe":
        _draw_shoe(draw, box, spec)
    elif spec.shape == "plate":
        _draw_plate(draw, box, spec)
    else:
        raise ValueError(f"unknown shape {spec.shape!r}")
    return image


def background_mask(image: Image.Image, background: RGB = BACKGROUND) -> Image.Image:
    """Return an L mask: 255 where `image` differs from the plain `background`, else 0."""
    differs = ImageChops.difference(image, Image.new("RGB", image.size, background)).convert("L")
    return differs.point(lambda v: 255 if v else 0)


def studio_background(size: tuple[int, int], light: tuple[float, float], dark: int = 110) -> Image.Image:
    """Return a grey studio backdrop of `size` lit from `light` (unit coordinates; a radial gradient)."""
    w, h = size
    gradient = Image.radial_gradient("L").resize((2 * w, 2 * h), Image.Resampling.BILINEAR)
    left, top = round(w - light[0] * w), round(h - light[1] * h)
    grey = gradient.crop((left, top, left + w, top + h)).point(lambda v: 250 - v * dark // 255)
    return Image.merge("RGB", (grey, grey, grey.point(lambda v: max(0, v - 4))))


def studio_image(spec: DrawSpec, light: tuple[float, float], dark: int = 110) -> Image.Image:
    """Return the garment of `spec` on a grey background lit from `light` (a radial gradient)."""
    garment = render_image(spec)
    image = studio_background(garment.size, light, dark)
    image.paste(garment, mask=background_mask(garment, spec.background))
    return image


def draw_garment(spec: DrawSpec) -> bytes:
    """Draw the image described by `spec` and return the encoded file bytes.

    Args:
        spec: What to draw; equal specs give byte-identical output.

    Returns:
        JPEG (quality 90) or PNG bytes, as `spec.fmt` says.
    """
    buffer = io.BytesIO()
    image = render_image(spec)
    if spec.fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=90)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def content_type(fmt: str) -> str:
    """Return the MIME type for an image format name ("JPEG" or "PNG")."""
    return "image/jpeg" if fmt == "JPEG" else "image/png"
