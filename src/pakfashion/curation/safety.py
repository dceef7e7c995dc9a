"""NSFW and faces with NudeNet, and the face blur the caption stage applies to the dataset's copy of an image.

NudeNet 3.4 (pip ``nudenet``) ships its 320n ONNX detector inside the wheel and runs it offline on onnxruntime.
Its licence is AGPL-3.0 (the LICENSE the wheel carries; its PyPI metadata says MIT): the pipeline runs it, the
dataset does not contain it. Detections are cached (they depend on the image and the analysis size only); the
thresholds and the faces setting are applied afterwards by :func:`judge_safety`, so changing them re-decides
without running the detector again.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from pakfashion.config import FaceAction, SafetyChecks
from pakfashion.contracts import CurationReason
from pakfashion.curation.signals import Finding, ImageView, Measured

DETECTOR = "NudeNet 320n"
DETECTOR_LICENCE = "AGPL-3.0"
FACE_LABELS = ("FACE_FEMALE", "FACE_MALE")
# A face box is grown by this share of its size on every side before it is blurred: detector boxes are tight
# around the features and leave hair, ears and jaw line recognisable.
FACE_MARGIN = 0.25
# Gaussian radius as a share of the grown box's longer side (at least MIN_BLUR_RADIUS_PX): at a quarter of the
# face nothing of its features is left, only its average colours.
BLUR_RADIUS_SHARE = 0.25
MIN_BLUR_RADIUS_PX = 6.0
# The blurred copy is encoded at quality 95 with full-resolution colour (4:4:4): pixels outside the boxes move
# by JPEG rounding only (about 1 level of 255 on photo-like detail).
BLURRED_JPEG_QUALITY = 95

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the stored image


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: Box

    def to_json(self) -> list[Any]:
        return [self.label, self.score, list(self.box)]

    @classmethod
    def from_json(cls, item: list[Any]) -> Detection:
        label, score, box = item
        return cls(str(label), float(score), (int(box[0]), int(box[1]), int(box[2]), int(box[3])))


@dataclass(frozen=True)
class SafetyVerdict:
    """What the safety check found in one image: scores and reasons, and the face boxes to blur."""

    measured: Measured
    face_boxes: list[Box]


def detector_version() -> str:
    """The detector's name and package version (part of the detections' cache key)."""
    return f"{DETECTOR} nudenet {version('nudenet')}"


class SafetyDetector:
    """NudeNet, loaded at the first :meth:`detect` (a rerun that only re-decides never loads it) and shared by
    the worker threads (an onnxruntime session runs concurrently)."""

    def __init__(self) -> None:
        self._detector: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        """The NudeNet detector (loaded now if it was not)."""
        with self._lock:
            if self._detector is None:
                from nudenet import NudeDetector

                self._detector = NudeDetector()
            return self._detector

    def detect(self, view: ImageView) -> list[Detection]:
        """Every box NudeNet reports (score 0.2 and up) on ``view``, scaled to the stored image's size."""
        bgr = np.ascontiguousarray(view.rgb[:, :, ::-1])  # NudeNet reads OpenCV's BGR order
        scale_x, scale_y = view.size[0] / view.rgb.shape[1], view.size[1] / view.rgb.shape[0]
        found = []
        for item in self.load().detect(bgr):
            x, y, w, h = item["box"]
            box = (round(x * scale_x), round(y * scale_y), round((x + w) * scale_x), round((y + h) * scale_y))
            found.append(Detection(str(item["class"]), round(float(item["score"]), 4), box))
        return found


def known_labels() -> list[str]:
    """NudeNet's label names (its module keeps them in ``__labels``)."""
    from nudenet import nudenet

    return list(getattr(nudenet, "__labels"))


def check_labels(settings: SafetyChecks) -> None:
    """Fail before any work when ``nsfw_labels`` names a label NudeNet does not have."""
    labels = known_labels()
    unknown = sorted(set(settings.nsfw_labels) - set(labels))
    if unknown:
        raise ValueError(f"curate.safety.nsfw_labels: {unknown} are not NudeNet labels; valid: {labels}")


def judge_safety(detections: list[Detection], settings: SafetyChecks) -> SafetyVerdict:
    """Scores (``nsfw_score``, ``faces``, ``face_score``), the ``nsfw`` / ``faces`` findings the settings ask for,
    and the face boxes to blur (only when ``faces`` is ``blur``)."""
    nsfw = [d for d in detections if d.label in settings.nsfw_labels]
    faces = [d for d in detections if d.label in FACE_LABELS and d.score >= settings.face_min_score]
    worst = max(nsfw, key=lambda d: d.score, default=None)
    scores = {"nsfw_score": worst.score if worst else 0.0, "faces": float(len(faces)),
              "face_score": max((d.score for d in faces), default=0.0)}
    findings = []
    if settings.nsfw and worst is not None and worst.score >= settings.nsfw_min_score:
        findings.append(Finding(CurationReason.nsfw, f"{worst.label} {worst.score:.2f} >= {settings.nsfw_min_score}"))
    if settings.faces is FaceAction.exclude and faces:
        findings.append(Finding(CurationReason.faces, f"{len(faces)} face(s), best {scores['face_score']:.2f} >= "
                                                      f"{settings.face_min_score}"))
    boxes = [d.box for d in faces] if settings.faces is FaceAction.blur else []
    return SafetyVerdict(Measured(scores, tuple(findings)), boxes)


def grown(box: Box, size: tuple[int, int]) -> Box:
    """``box`` grown by :data:`FACE_MARGIN` of its size on every side, clipped to the image."""
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * FACE_MARGIN, (y1 - y0) * FACE_MARGIN
    return (max(0, int(x0 - dx)), max(0, int(y0 - dy)), min(size[0], int(np.ceil(x1 + dx))),
            min(size[1], int(np.ceil(y1 + dy))))


def blur_boxes(image: Image.Image, boxes: list[Box]) -> Image.Image:
    """A copy of ``image`` with each box (grown by the margin) replaced by a strong Gaussian blur of itself."""
    out = image.convert("RGB")
    for box in boxes:
        area = grown(box, out.size)
        if area[2] <= area[0] or area[3] <= area[1]:
            continue
        radius = max(MIN_BLUR_RADIUS_PX, BLUR_RADIUS_SHARE * max(area[2] - area[0], area[3] - area[1]))
        # Blur a padded crop so the box's edge pixels average over real neighbours, then paste the box back.
        pad = int(2 * radius)
        outer = (max(0, area[0] - pad), max(0, area[1] - pad), min(out.width, area[2] + pad),
                 min(out.height, area[3] + pad))
        blurred = out.crop(outer).filter(ImageFilter.GaussianBlur(radius))
        inner = (area[0] - outer[0], area[1] - outer[1], area[2] - outer[0], area[3] - outer[1])
        out.paste(blurred.crop(inner), area[:2])
    return out


def blur_jpeg(data: bytes, boxes: list[Box]) -> bytes:
    """A stored JPEG with its face boxes blurred, encoded again (other pixels change only by re-encoding)."""
    with Image.open(io.BytesIO(data)) as image:
        out = blur_boxes(image, boxes)
    buffer = io.BytesIO()
    out.save(buffer, format="JPEG", quality=BLURRED_JPEG_QUALITY, subsampling=0)
    return buffer.getvalue()
