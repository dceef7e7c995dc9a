"""What every curation check takes and gives: one decoded view of an image, and what was measured on it."""

from __future__ import annotations

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
