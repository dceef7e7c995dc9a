"""Caption text: product attributes from a vocabulary, the template, and the text-encoder length cap."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pakfashion.config import VocabConfig

_SPACES = re.compile(r"\s+")


def _pattern(words: list[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w.lower()) for w in sorted(set(words), key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])")


@dataclass(frozen=True)
class Attributes:
    garment: str
    colours: list[str]
    fabrics: list[str]


class AttributeFinder:
    """Garment type, colours and fabrics named in a product's own texts (vocabulary from config)."""

    def __init__(self, vocab: VocabConfig) -> None:
        self._garments = [(name, _pattern([name, *spellings])) for name, spellings in vocab.garments.items()]
        self._colours = _pattern(vocab.colours) if vocab.colours else None
        self._fabrics = _pattern(vocab.fabrics) if vocab.fabrics else None

    def find(self, product: dict[str, Any]) -> Attributes:
        """Type and tags are asked first for the garment (most specific), then title and description."""
        strong = " | ".join([str(product.get("category") or ""), *self._tags(product)]).lower()
        text = " | ".join([str(product.get("title") or ""), strong, str(product.get("description") or "")]).lower()
        garment = next((name for name, pattern in self._garments if pattern.search(strong)), "") or next(
            (name for name, pattern in self._garments if pattern.search(text)), "")
        return Attributes(garment, self._all(self._colours, text), self._all(self._fabrics, text))

    def for_image(self, attributes: Attributes, image_colour: str) -> Attributes:
        """The product's attributes for one of its photos: the colour that photo shows, when the store
        says which (a colourway product names all its colours; each photo shows one)."""
        colours = self._all(self._colours, image_colour.lower())
        return Attributes(attributes.garment, colours, attributes.fabrics) if colours else attributes

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


def template_fields(caption: str, product: dict[str, Any], attributes: Attributes) -> dict[str, str]:
    return {
        "caption": caption, "title": str(product.get("title") or ""),
        "product_type": str(product.get("category") or ""), "garment": attributes.garment,
        "colours": " and ".join(attributes.colours[:2]), "fabrics": " ".join(attributes.fabrics[:1]),
        "brand": str(product.get("vendor") or product.get("brand") or ""), "site": str(product.get("site") or ""),
    }


def load_token_counter(name_or_path: str) -> Callable[[str], int] | None:
    """Token count with the model's own tokenizer (``<name>/tokenizer``), or None when it is unknown."""
    if not name_or_path:
        return None
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name_or_path, subfolder="tokenizer")
    return lambda text: len(tokenizer(text, truncation=False)["input_ids"])
