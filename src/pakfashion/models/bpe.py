"""Generate small byte-level BPE vocabularies (CLIP and GPT-2/OPT styles) that keep fashion words whole.

Tiny models need tokenizer files without the hub. The merges are derived word by word so that each
vocabulary word ends as one token: a word's merges are added only for the pieces the merges so far
leave, and later (lower-priority) merges never change how an earlier word is split.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path

FASHION_WORDS: tuple[str, ...] = (
    # colours
    "red", "maroon", "pink", "blue", "navy", "teal", "green", "olive", "yellow", "mustard", "orange",
    "purple", "black", "white", "beige", "grey",
    # garments
    "kurta", "kurti", "shalwar", "kameez", "suit", "dupatta", "shawl", "lehenga", "abaya", "trousers",
    "waistcoat", "frock",
    # fabrics
    "lawn", "cambric", "khaddar", "chiffon", "silk", "linen", "karandi", "cotton",
    # other words
    "embroidered", "printed", "unstitched", "piece", "women", "men", "a", "an", "the", "of", "with",
    "and", "in", "on",
)  # fmt: skip

CLIP_BOS = "<|startoftext|>"
CLIP_EOS = "<|endoftext|>"
OPT_SPECIALS: tuple[str, ...] = ("<s>", "<pad>", "</s>", "<unk>")


class BpeStyle(str, enum.Enum):
    """Where a word boundary is marked: CLIP suffixes ``</w>``, GPT-2/OPT prefixes ``Ġ`` (a space)."""

    clip = "clip"
    gpt2 = "gpt2"


@dataclass(frozen=True)
class BpeVocab:
    vocab: dict[str, int]
    merges: list[tuple[str, str]]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable unicode characters."""
    printable = list(range(ord("!"), ord("~") + 1))
    printable += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def _symbols(word: str, style: BpeStyle) -> list[str]:
    """Initial byte-level symbols of one word form as the BPE model sees them."""
    table = bytes_to_unicode()
    symbols = [table[b] for b in word.encode("utf-8")]
    if style is BpeStyle.clip:
        symbols[-1] += "</w>"
    return symbols


def _apply_merges(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Merge the lowest-ranked adjacent pair until none applies (what the BPE model does)."""
    while len(symbols) > 1:
        pairs = [(ranks.get(pair, len(ranks)), i) for i, pair in enumerate(zip(symbols, symbols[1:]))]
        rank, i = min(pairs)
        if rank == len(ranks):
            break
        symbols = symbols[:i] + [symbols[i] + symbols[i + 1]] + symbols[i + 2 :]
    return symbols


def _word_forms(words: tuple[str, ...], style: BpeStyle) -> list[str]:
    """CLIP splits on spaces; GPT-2 keeps the leading space, so a word mid-sentence is ``Ġword``."""
    if style is BpeStyle.clip:
        return list(words)
    return [form for word in words for form in (" " + word, word)]


def build_bpe(words: tuple[str, ...] = FASHION_WORDS, *, style: BpeStyle) -> BpeVocab:
    """Build a byte-level vocabulary in which every word in ``words`` is a single token.

    Args:
        words: lower-case words to keep whole.
        style: CLIP (``word</w>``, specials last) or GPT-2/OPT (``Ġword``, OPT specials first).

    Returns:
        The vocabulary (token -> id) and the ranked merges.
    """
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}
    for form in _word_forms(words, style):
        pieces = _apply_merges(_symbols(form, style), ranks)
        while len(pieces) > 1:  # join what is left, left to right, with new lowest-priority merges
            ranks[(pieces[0], pieces[1])] = len(merges)
            merges.append((pieces[0], pieces[1]))
            pieces = _apply_merges(pieces, ranks)
    base = list(bytes_to_unicode().values())
    merged = [a + b for a, b in merges]
    if style is BpeStyle.clip:
        tokens = [*base, *(c + "</w>" for c in base), *merged, CLIP_BOS, CLIP_EOS]
    else:
        tokens = [*OPT_SPECIALS, *base, *merged]
    unique = list(dict.fromkeys(tokens))  # two merge paths may spell the same token
    return BpeVocab(vocab={token: i for i, token in enumerate(unique)}, merges=merges)


def write_bpe(folder: Path, bpe: BpeVocab) -> None:
    """Write ``vocab.json`` and ``merges.txt`` so a tokenizer class can ``from_pretrained(folder)``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(bpe.vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2", *(f"{a} {b}" for a, b in bpe.merges)]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
