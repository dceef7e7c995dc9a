"""What every curation check takes and gives: one decoded view of an image, and what was measured on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps

from pakfashion.contracts import CurationReason


@dataclass(frozen=True)
class Finding:
    """A reason to drop the image and the measurement that gave it ("sharpness 12.3 < 40.0")."""

    reason: CurationReason
    signal: str


@dataclass(frozen=True)
class Measured:
    """A check's scores (name -> number, all recorded) and the reasons it found."""

    scores: dict[str, float] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()

    def __add__(self, other: Measured) -> Measured:
        return Measured({**self.scores, **other.scores}, self.findings + other.findings)


@dataclass(frozen=True)
class ImageView:
    """One stored image decoded once: its stored size, and RGB / grey pixels at the analysis size."""

    size: tuple[int, int]  # (width, height) of the stored image
    rgb: np.ndarray  # [H, W, 3] uint8, longest side at most analysis_px
    gray: np.ndarray  # [H, W] float32 in [0, 1] (ITU-R 601 luma)

    @classmethod
    def of(cls, image: Image.Image, *, analysis_px: int) -> ImageView:
        """The view of ``image`` (any mode; EXIF orientation applied) scaled to ``analysis_px`` at most."""
        upright = ImageOps.exif_transpose(image) or image
        rgb = upright.convert("RGB")
        size = rgb.size
        if max(size) > analysis_px:
            rgb = rgb.copy()
            rgb.thumbnail((analysis_px, analysis_px), Image.Resampling.BILINEAR)
        pixels = np.asarray(rgb, dtype=np.uint8)
        gray = np.asarray(rgb.convert("L"), dtype=np.float32) / 255.0
        return cls(size=size, rgb=pixels, gray=gray)


def tiles(plane: np.ndarray, size: int) -> np.ndarray:
    """``plane`` [H, W] cut into whole ``size`` x ``size`` tiles: [H // size, W // size, size, size]."""
    rows, cols = plane.shape[0] // size, plane.shape[1] // size
    return plane[:rows * size, :cols * size].reshape(rows, size, cols, size).swapaxes(1, 2)


def tile_means(plane: np.ndarray, size: int) -> np.ndarray:
    """Mean of every whole ``size`` x ``size`` tile of ``plane``: [H // size, W // size] (no strided copy)."""
    rows, cols = plane.shape[0] // size, plane.shape[1] // size
    return plane[:rows * size, :cols * size].reshape(rows, size, cols, size).mean(axis=(1, 3), dtype=np.float32)


def tile_stds(plane: np.ndarray, size: int) -> np.ndarray:
    """Standard deviation of every whole ``size`` x ``size`` tile of ``plane`` (from E[x^2] - E[x]^2)."""
    mean = tile_means(plane, size)
    return np.sqrt(np.maximum(tile_means(plane * plane, size) - mean * mean, 0.0))


def percentiles(gray: np.ndarray, shares: tuple[float, ...]) -> list[float]:
    """Luma percentiles (shares in 0-1) of a [0, 1] grey plane from its 256-level histogram (no sort)."""
    counts = np.bincount(np.round(gray.ravel() * 255.0).astype(np.uint8), minlength=256)
    cumulative = np.cumsum(counts) / max(1, gray.size)
    return [float(np.searchsorted(cumulative, share)) / 255.0 for share in shares]


def neighbourhood(grid: np.ndarray, radius: int, reduce: Callable[..., np.ndarray]) -> np.ndarray:
    """``reduce`` (np.max, np.min) of every cell's (2 radius + 1)^2 neighbourhood of a small [rows, cols] grid."""
    rows, cols = grid.shape
    padded = np.pad(grid, radius, mode="edge")
    shifted = [padded[radius + dy:radius + dy + rows, radius + dx:radius + dx + cols]
               for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
    return reduce(np.stack(shifted), axis=0)
