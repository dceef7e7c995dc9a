"""Caption text: product attributes from a vocabulary, the template, and the text-encoder length cap."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pakfashion.config import VocabConfig

_SPACES = re.compile(r"\s+")


def _pattern(words: list[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w.lower()) for w in sorted(set(words), key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])")


Names = list[tuple[str, re.Pattern[str]]]


def _names(table: dict[str, list[str]]) -> Names:
    """Each canonical name with the pattern of its spellings, in the vocabulary's order (first match wins)."""
    return [(name, _pattern([name, *spellings])) for name, spellings in table.items()]


def _first(names: Names, *texts: str) -> str:
    """The first name found in the first text that names any."""
    return next((name for text in texts for name, pattern in names if pattern.search(text)), "")


@dataclass(frozen=True)
class Attributes:
    garment: str
    colours: list[str]
    fabrics: list[str]
    pieces: str = ""  # "2-piece", "3-piece" or ""
    stitching: str = ""  # "stitched", "unstitched" or ""


class AttributeFinder:
    """Garment type, colours, fabrics, pieces and stitching named in a product's own texts (vocabulary from config)."""

    def __init__(self, vocab: VocabConfig) -> None:
        self._garments = _names(vocab.garments)
        self._pieces = _names(vocab.pieces)
        self._stitching = _names(vocab.stitching)
        self._colours = _pattern(vocab.colours) if vocab.colours else None
        self._fabrics = _pattern(vocab.fabrics) if vocab.fabrics else None

    def find(self, product: dict[str, Any]) -> Attributes:
        """Type and tags are asked first for the garment (most specific), then title and description.

        Pieces and stitching are read from the listing's own label (title, type, tags), pieces then from the
        description too; a description's "hand-stitched embroidery" says nothing of a ready-to-wear cut.
        """
        strong = " | ".join([str(product.get("category") or ""), *self._tags(product)]).lower()
        label = " | ".join([str(product.get("title") or ""), strong]).lower()
        description = str(product.get("description") or "").lower()
        text = f"{label} | {description}"
        return Attributes(
            garment=_first(self._garments, strong, text), colours=self._all(self._colours, text),
            fabrics=self._all(self._fabrics, text), pieces=_first(self._pieces, label, description),
            stitching=_first(self._stitching, label),
        )  # fmt: skip

    def for_image(self, attributes: Attributes, image_colour: str) -> Attributes:
        """The product's attributes for one of its photos: the colour that photo shows, when the store
        says which (a colourway product names all its colours; each photo shows one)."""
        colours = self._all(self._colours, image_colour.lower())
        return replace(attributes, colours=colours) if colours else attributes

    @staticmethod
    def _tags(product: dict[str, Any]) -> list[str]:
        tags = product.get("tags") or []
        return [str(t) for t in tags] if isinstance(tags, list) else [str(tags)]

    @staticmethod
    def _all(pattern: re.Pattern[str] | None, text: str) -> list[str]:
        return list(dict.fromkeys(pattern.findall(text))) if pattern is not None else []


@dataclass(frozen=True)
class CaptionScore:
    """How often captions name the colour and garment their products' own words give (known: the product
    names one; right: the caption's first colour is among the product's, its garment is the product's)."""

    colour_known: int = 0
    colour_right: int = 0
    garment_known: int = 0
    garment_right: int = 0

    def add(self, caption: Attributes, truth: Attributes) -> CaptionScore:
        """This score with one more caption (``caption``'s attributes) of a product with ``truth``."""
        colour_known, garment_known = bool(truth.colours), bool(truth.garment)
        return CaptionScore(
            colour_known=self.colour_known + colour_known,
            colour_right=self.colour_right + (bool(caption.colours) and caption.colours[0] in truth.colours),
            garment_known=self.garment_known + garment_known,
            garment_right=self.garment_right + (garment_known and caption.garment == truth.garment),
        )

    def metrics(self) -> dict[str, float | int | None]:
        """``caption_{colour,garment}_{accuracy,right,known}`` (accuracy None when nothing is known)."""
        def share(right: int, known: int) -> float | None:
            return round(right / known, 4) if known else None

        return {
            "caption_colour_accuracy": share(self.colour_right, self.colour_known),
            "caption_colour_right": self.colour_right, "caption_colour_known": self.colour_known,
            "caption_garment_accuracy": share(self.garment_right, self.garment_known),
            "caption_garment_right": self.garment_right, "caption_garment_known": self.garment_known,
        }


def fill_template(template: str, fields: dict[str, str]) -> str:
    """Fill ``template``; parts left empty and their commas disappear, spaces collapse."""
    parts = [_SPACES.sub(" ", part).strip() for part in template.format(**fields).split(",")]
    return ", ".join(part for part in parts if part)


def cap_length(text: str, count_tokens: Callable[[str], int] | None, *, max_tokens: int, max_words: int = 50) -> str:
    """Drop trailing words until the text fits the text encoder (start/end tokens included)."""
    words = text.split()[:max_words]
    if count_tokens is not None:
        while len(words) > 1 and count_tokens(" ".join(words)) > max_tokens:
            words.pop()
    return " ".join(words).rstrip(",")


def colour_words(colours: list[str]) -> str:
    """How a caption names a product's colours: the first two ("red and white")."""
    return " and ".join(colours[:2])


def fabric_words(fabrics: list[str]) -> str:
    """How a caption names a product's fabrics: the first one."""
    return " ".join(fabrics[:1])


def template_fields(caption: str, product: dict[str, Any], attributes: Attributes) -> dict[str, str]:
    """The caption template's fields; ``brand`` is products.csv's (the product's vendor, else the site's brand)."""
    return {
        "caption": caption, "title": str(product.get("title") or ""),
        "product_type": str(product.get("category") or ""), "garment": attributes.garment,
        "colours": colour_words(attributes.colours), "fabrics": fabric_words(attributes.fabrics),
        "pieces": attributes.pieces, "stitching": attributes.stitching,
        "brand": str(product.get("brand") or ""), "site": str(product.get("site") or ""),
    }


def load_token_counter(name_or_path: str) -> Callable[[str], int] | None:
    """Token count with the model's own tokenizer (``<name>/tokenizer``), or None when it is unknown."""
    if not name_or_path:
        return None
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name_or_path, subfolder="tokenizer")
    return lambda text: len(tokenizer(text, truncation=False)["input_ids"])
