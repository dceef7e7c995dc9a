"""Image-text agreement: the CLIP score of each image with its product's text, as the evaluate stage scores.

A score is 100 x the cosine of CLIP's image and text embeddings (:func:`pakfashion.evaluation.clip.clip_scores`).
Scores are cached per image, text and CLIP model; ``min_score`` is applied afterwards by :func:`judge_agreement`.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from PIL import Image

from pakfashion.config import AgreementCheck
from pakfashion.contracts import PRODUCT_COLUMNS, CurationReason
from pakfashion.curation.signals import Finding, Measured

if TYPE_CHECKING:
    from pakfashion.evaluation.clip import ClipBundle

ScoreFn = Callable[[list[Image.Image], list[str]], list[float]]
"""CLIP scores of images paired with texts by position."""


def check_text_template(template: str) -> None:
    """Fail before any work when the text template names a field products.csv does not have."""
    fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    unknown = sorted(set(fields) - set(PRODUCT_COLUMNS))
    if not fields or unknown:
        raise ValueError(f"curate.agreement.text={template!r}: name at least one product column as {{title}}; "
                         f"unknown {unknown}, valid: {list(PRODUCT_COLUMNS)}")


def product_text(template: str, product: Mapping[str, str]) -> str:
    """The template filled from the product's columns (its own braces and quotes are plain text)."""
    return " ".join(template.format_map({key: str(product.get(key, "")) for key in PRODUCT_COLUMNS}).split())


class ClipScorer:
    """CLIP (``settings.clip_model``) as a batch :data:`ScoreFn`, loaded at :meth:`load` or its first call: a rerun
    that only re-decides never loads it."""

    def __init__(self, settings: AgreementCheck, *, device: str) -> None:
        self.settings, self.device = settings, device
        self._clip: ClipBundle | None = None

    def load(self) -> ClipBundle:
        from pakfashion.evaluation.clip import load_clip

        if self._clip is None:
            self._clip = load_clip(self.settings.clip_model, device=self.device)
        return self._clip

    def __call__(self, images: list[Image.Image], texts: list[str]) -> list[float]:
        from pakfashion.evaluation.clip import clip_scores

        return clip_scores(images, texts, clip=self.load(), batch_size=self.settings.batch_size)


def judge_agreement(score: float, settings: AgreementCheck) -> Measured:
    """``clip_score`` and, below ``min_score``, the ``text_mismatch`` finding."""
    findings = ()
    if score < settings.min_score:
        findings = (Finding(CurationReason.text_mismatch, f"CLIP score {score:.1f} < {settings.min_score}"),)
    return Measured({"clip_score": round(score, 3)}, findings)
