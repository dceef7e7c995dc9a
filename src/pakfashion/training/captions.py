"""Training captions: the dataset's ``text``, or captions composed from each row's stored parts (``train.captions``).

``source: parts`` gives each example ``variants`` captions, drawn once from (train seed, the row's file name) so
the text cache can hold each distinct one encoded exactly. A variant is the long form with probability
``long_share`` (colours, fabrics and garment, then pieces, stitching, brand and the model caption: "red lawn
kurta, 3-piece, unstitched, by Khaadi, a woman in a red kurta"), else the short form ("red lawn kurta"); in
either, each part is left out with its ``field_dropout`` probability. A variant is never empty while the row has
a part. Training then draws one variant per example and epoch (:class:`pakfashion.training.data.BucketBatches`).

``source: text``, and a row without the parts (a dataset written before them), train on the row's ``text``.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from typing import Any

from pakfashion.captioning.text import colour_words, fabric_words
from pakfashion.config import CaptionsConfig, CaptionSource

log = logging.getLogger(__name__)

SHORT = ("colours", "fabrics", "garment")
"""The short form's parts, in caption order, joined by spaces ("red lawn kurta")."""
TAIL = ("pieces", "stitching", "brand", "caption")
"""What the long form adds after the short form, comma-separated, the model caption last (so a length cap cuts it)."""
PARTS = SHORT + TAIL
FALLBACK = ("garment", "colours", "fabrics", "caption", "pieces", "stitching", "brand")
"""When dropout leaves a variant empty, the first of these the row has stands in."""
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class CaptionParts:
    """A row's parts as caption words (``colours`` "red and white", ``brand`` "by Khaadi")."""

    colours: str
    fabrics: str
    garment: str
    pieces: str
    stitching: str
    brand: str
    caption: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> CaptionParts | None:
        """The parts of a metadata row; None when the row lacks any of them (a dataset written before parts)."""
        if any(name not in row for name in PARTS):
            return None
        brand = _text(row["brand"])
        return cls(
            colours=colour_words(_words(row["colours"])), fabrics=fabric_words(_words(row["fabrics"])),
            garment=_text(row["garment"]), pieces=_text(row["pieces"]), stitching=_text(row["stitching"]),
            brand=f"by {brand}" if brand else "", caption=_text(row["caption"]),
        )  # fmt: skip

    def compose(self, kept: Collection[str]) -> str:
        """The caption of the ``kept`` parts: the short form's words, then the long form's, comma-separated.

        A tail part the caption already says ("3-piece" after "3-piece suit") is not repeated.
        """
        values = asdict(self)
        head = " ".join(values[name] for name in SHORT if name in kept and values[name])
        said = [head] if head else []
        for name in TAIL:
            if name in kept and values[name] and values[name] not in head:
                said.append(values[name])
        return _SPACES.sub(" ", ", ".join(said)).strip()

    def fallback(self) -> str:
        """The one part standing in for an empty variant ("" when the row has none)."""
        values = asdict(self)
        return next((values[name] for name in FALLBACK if values[name]), "")


def _words(value: Any) -> list[str]:
    """A list column's values as strings (a lone string is one value)."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if str(v).strip()]
    return [str(value)] if value else []


def _text(value: Any) -> str:
    return _SPACES.sub(" ", str(value or "")).strip()


def draw_kept(rng: random.Random, settings: CaptionsConfig) -> frozenset[str]:
    """The parts one variant keeps: its form (long with ``long_share``), then each part's dropout.

    Every part's draw is made whatever the form, so a variant's draws never depend on the ones before it.
    """
    form = PARTS if rng.random() < settings.long_share else SHORT
    kept = {name for name in PARTS if rng.random() >= getattr(settings.field_dropout, name)}
    return frozenset(kept & set(form))


def variants_of(parts: CaptionParts, settings: CaptionsConfig, *, seed: int, key: str) -> list[str]:
    """``settings.variants`` composed captions of one example, the same for the same (seed, key)."""
    rng = random.Random(f"pakfashion-captions:{seed}:{key}")
    return [parts.compose(draw_kept(rng, settings)) or parts.fallback() for _ in range(settings.variants)]


def example_captions(rows: list[dict[str, Any]], settings: CaptionsConfig, *, seed: int,
                     cap: Callable[[str], str] = str) -> list[list[str]]:
    """Each row's training captions (``source: text``: its text; ``parts``: ``variants`` composed ones), each
    passed through ``cap`` (the text encoder's length limit)."""
    if settings.source is CaptionSource.text:
        return [[cap(str(row["text"]))] for row in rows]
    result, lacking = [], 0
    for row in rows:
        parts = CaptionParts.of(row)
        if parts is None:
            lacking += 1
            result.append([cap(str(row["text"]))] * settings.variants)
        else:
            result.append([cap(text) for text in variants_of(parts, settings, seed=seed, key=str(row["file_name"]))])
    if lacking:
        log.warning("train.captions.source=parts: %d of %d rows lack the caption parts (%s; a dataset written "
                    "before them) and train on their text; re-run the caption stage to compose theirs",
                    lacking, len(rows), ", ".join(PARTS))  # fmt: skip
    return result


def settings_key(settings: CaptionsConfig, *, seed: int) -> dict[str, Any]:
    """What decides the composed captions (the text cache's key): all of the settings and the seed for
    ``parts``; the source alone for ``text``."""
    if settings.source is CaptionSource.text:
        return {"source": CaptionSource.text.value}
    return {**asdict(settings), "source": settings.source.value, "seed": seed}
