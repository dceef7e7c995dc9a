"""Image-quality checks: stored size and aspect, exposure, low information, blur (numpy only, a few ms an image)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pakfashion.config import QualityChecks
from pakfashion.contracts import CurationReason
from pakfashion.curation.signals import Finding, ImageView, Measured, neighbourhood, percentiles, tile_means, \
    tile_stds, tiles

_SHARPNESS_TILE_PX = 8
_NO_EDGE_RMS = 0.02  # mean gradient (luma per px, RMS) below which a tile shows no structure at all
_PLAIN_TILE_STD = 0.015  # an 8 px tile whose luma std is below this holds no structure (flat)
_EDGE_TILE_PX = 16  # edge width: tiles whose 3 x 3 neighbourhood (48 px) spans a blurred edge
_EDGE_MIN_RANGE = 0.1  # luma step a neighbourhood must span to hold an edge
_EDGE_STEP_GROWTH = 1.2  # a step, not a ramp: the 5 x 5 neighbourhood spans at most this times the 3 x 3's
_EDGE_TOP_SHARE = 0.1  # edge width is the median over this share of the edge tiles (steepest first)
_EDGE_MIN_TILES = 8


def measure_quality(view: ImageView, settings: QualityChecks) -> Measured:
    """Size, aspect, exposure, information and sharpness scores of ``view``, and the reasons they give."""
    return _geometry(view, settings) + _exposure(view, settings) + _information(view, settings) + \
        _sharpness(view, settings)


def _geometry(view: ImageView, settings: QualityChecks) -> Measured:
    width, height = view.size
    short, aspect = min(width, height), max(width, height) / max(1, min(width, height))
    findings = []
    if short < settings.min_short_side_px:
        findings.append(Finding(CurationReason.too_small,
                                f"shorter side {short} px < {settings.min_short_side_px} px"))
    if aspect > settings.max_aspect:
        findings.append(Finding(CurationReason.extreme_aspect, f"aspect {aspect:.2f}:1 > {settings.max_aspect}:1"))
    return Measured({"short_side_px": float(short), "aspect": aspect}, tuple(findings))


def _exposure(view: ImageView, settings: QualityChecks) -> Measured:
    """Too dark: dim on average AND no highlights left. Too bright: light on average, much of it clipped,
    AND no darks left (a garment on a white studio background keeps its darks, so it passes)."""
    luma = view.gray
    mean = float(luma.mean())
    p_low, p_high = percentiles(luma, (0.01, 0.99))
    clipped = float((luma >= settings.clip_level).mean())
    scores = {"mean_luma": mean, "luma_p1": p_low, "luma_p99": p_high, "clipped_share": clipped}
    findings = []
    if mean < settings.dark_max_mean and p_high < settings.dark_max_p99:
        findings.append(Finding(CurationReason.too_dark, f"mean luma {mean:.2f} < {settings.dark_max_mean} and "
                                f"99th percentile {p_high:.2f} < {settings.dark_max_p99}"))
    if mean > settings.bright_min_mean and clipped > settings.bright_min_clipped_share \
            and p_low > settings.bright_min_p1:
        findings.append(Finding(CurationReason.too_bright,
                                f"mean luma {mean:.2f} > {settings.bright_min_mean}, clipped {clipped:.0%} > "
                                f"{settings.bright_min_clipped_share:.0%}, 1st percentile {p_low:.2f} > "
                                f"{settings.bright_min_p1}"))
    return Measured(scores, tuple(findings))


def _information(view: ImageView, settings: QualityChecks) -> Measured:
    """Flat: every colour channel nearly constant, or one luma level (of 64) holds nearly every pixel, AND
    (nearly) no 8 px tile holds structure: a white garment on a white backdrop is low in contrast but keeps
    its outline and shading, an empty placeholder (even with a line of small print) does not."""
    std = max(_channel_std(view.rgb[..., channel]) for channel in range(3))
    counts = np.bincount((view.gray.ravel() * 63.999).astype(np.int64), minlength=64)
    share = counts[counts > 0] / counts.sum()
    entropy = float(-(share * np.log2(share)).sum())
    stds = tile_stds(view.gray, _SHARPNESS_TILE_PX)
    structure = float((stds >= _PLAIN_TILE_STD).mean()) if stds.size else 0.0
    scores = {"colour_std": std, "luma_entropy_bits": entropy, "structured_tile_share": structure}
    if structure > settings.flat_max_structure_share:
        return Measured(scores)
    if std < settings.flat_max_std:
        return Measured(scores, (Finding(CurationReason.flat, f"colour std {std:.3f} < {settings.flat_max_std}"),))
    if entropy < settings.flat_max_entropy_bits:
        return Measured(scores, (Finding(CurationReason.flat, f"luma entropy {entropy:.2f} bits < "
                                         f"{settings.flat_max_entropy_bits} bits"),))
    return Measured(scores)


def _channel_std(channel: np.ndarray) -> float:
    """Std (0-1) of one uint8 channel from its histogram."""
    counts = np.bincount(channel.ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256) / 255.0
    mean = float(counts @ levels) / counts.sum()
    return float(np.sqrt(max(0.0, float(counts @ (levels * levels)) / counts.sum() - mean * mean)))


def _sharpness(view: ImageView, settings: QualityChecks) -> Measured:
    """Edge sharpness where the image has structure: sqrt(Laplacian energy / gradient energy) of the tiles
    with the most gradient energy. A step edge blurred over s px scores about 1/s whatever its contrast, so
    plain studio backgrounds and low-contrast fabrics neither help nor hurt."""
    gray = _normalised(view.gray, settings.sharpness_side_px)
    if min(gray.shape) < 3 * _SHARPNESS_TILE_PX:
        return Measured()
    return _edge_ratio(gray, settings) + _edge_width(gray, settings)


def _edge_ratio(gray: np.ndarray, settings: QualityChecks) -> Measured:
    """Mild blur: sqrt(Laplacian / gradient energy) over the tiles with the most gradient energy."""
    gx, gy = np.zeros_like(gray), np.zeros_like(gray)
    gx[:, :-1], gy[:-1, :] = np.diff(gray, axis=1), np.diff(gray, axis=0)
    lap = np.zeros_like(gray)
    lap[1:-1, 1:-1] = (gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:]
                       - 4.0 * gray[1:-1, 1:-1])
    grad_energy = tile_means(gx * gx + gy * gy, _SHARPNESS_TILE_PX).ravel()
    lap_energy = tile_means(lap * lap, _SHARPNESS_TILE_PX).ravel()
    structured = grad_energy > _NO_EDGE_RMS ** 2
    if structured.sum() < settings.sharpness_min_tiles:
        return Measured({"structure_share": float(structured.mean())})
    top = max(settings.sharpness_min_tiles, int(round(settings.sharpness_top_share * grad_energy.size)))
    top = min(top, int(structured.sum()))
    order = np.argpartition(grad_energy, grad_energy.size - top)[grad_energy.size - top:]
    sharpness = float(np.median(np.sqrt(lap_energy[order] / grad_energy[order])))
    scores = {"sharpness": sharpness, "structure_share": float(structured.mean())}
    if sharpness < settings.blur_min_sharpness:
        return Measured(scores, (Finding(CurationReason.blurry,
                                         f"sharpness {sharpness:.3f} < {settings.blur_min_sharpness}"),))
    return Measured(scores)


def _edge_width(gray: np.ndarray, settings: QualityChecks) -> Measured:
    """Heavy blur: the 10-90% rise distance of the steepest edges, as a share of the shorter side. Per 16 px
    tile, luma range over its 48 px neighbourhood / steepest gradient in it (a Gaussian-blurred step of any
    contrast scores 2.5 sigma, about its 10-90% width); only neighbourhoods holding a step (the range stops
    growing with a wider window), not a smooth ramp (a vignette, a gradient backdrop). The ratio above
    saturates once a blur is wider than its tiles; this does not, up to 48 px."""
    smooth = gray.copy()  # 3 x 3 box: sensor noise must not pass for a steep edge
    smooth[1:-1, 1:-1] = sum(gray[1 + dy:gray.shape[0] - 1 + dy, 1 + dx:gray.shape[1] - 1 + dx]
                             for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9.0
    slope = np.zeros_like(smooth)
    slope[:, 1:-1] = np.abs(smooth[:, 2:] - smooth[:, :-2]) / 2.0
    slope[1:-1, :] = np.maximum(slope[1:-1, :], np.abs(smooth[2:, :] - smooth[:-2, :]) / 2.0)
    cut = tiles(gray, _EDGE_TILE_PX)
    high, low = cut.max(axis=(2, 3)), cut.min(axis=(2, 3))
    steepest = tiles(slope, _EDGE_TILE_PX).max(axis=(2, 3))
    span = neighbourhood(high, 1, np.max) - neighbourhood(low, 1, np.min)
    wider = neighbourhood(high, 2, np.max) - neighbourhood(low, 2, np.min)
    edge = (span >= _EDGE_MIN_RANGE) & (steepest > 0) & (wider <= _EDGE_STEP_GROWTH * span)
    if edge.sum() < _EDGE_MIN_TILES:
        return Measured()
    top = max(_EDGE_MIN_TILES, int(_EDGE_TOP_SHARE * edge.sum()))
    order = np.argsort(steepest[edge])[-top:]
    width_px = float(np.median(span[edge][order] / steepest[edge][order]))
    width = width_px / min(gray.shape)
    scores = {"edge_width": width, "edge_width_px": width_px}
    if width >= settings.blur_max_edge_width and width_px >= settings.blur_min_edge_px:
        return Measured(scores, (Finding(CurationReason.blurry, f"edge width {width:.3f} of the shorter side "
                                         f"({width_px:.0f} px) >= {settings.blur_max_edge_width}"),))
    return Measured(scores)


def _normalised(gray: np.ndarray, side: int) -> np.ndarray:
    """``gray`` box-resized so its longest side is ``side`` (never enlarged): sharpness at one scale."""
    height, width = gray.shape
    if max(height, width) <= side:
        return gray
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(gray, mode="F").resize(size, Image.Resampling.BOX), dtype=np.float32)
