"""Children's wear and non-clothing: every piece of evidence a product carries, read and weighed.

A product's evidence is a list of :class:`Signal` s, each a weight for or against one target: ``children``
or a non-clothing family (``footwear``, ``fragrance``, ...). Fields read: product_type, Shopify
collections, JSON-LD breadcrumbs, URL path segments, title, tags, handle, size options and description
(adult traps and styling advice removed first). A target whose weights reach ``csv.threshold`` decides
(non-clothing before children). Then, within each site, codes that the decided products share (SKU,
handle and image-name prefixes/infixes, URL segments) become :class:`Convention` s applied to that
site's silent products. Vocabulary and weights live in ``conf/csv/default.yaml``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pakfashion.config import CsvConfig, NonClothingFamily

CHILDREN = "children"
NON_CLOTHING = "non_clothing"
KEEP = "keep"
EXCLUSION_LABELS = (CHILDREN, NON_CLOTHING)
# Counter-evidence against every non-clothing family at once (a garment named in the title).
ANY_NON_CLOTHING = "any non-clothing"

# URL path segments that say nothing about the product line.
_STRUCTURAL_SEGMENTS = frozenset({
    "products", "product", "collections", "collection", "p", "pk", "en", "en-pk", "shop", "c", "s",
    "category", "categories", "catalog", "catalogue", "all", "item", "items", "store", "pages", "on",
    "demandware.store", "sites", "default",
})
_WORD = re.compile(r"[a-z0-9]+")
_CODE_PARTS = re.compile(r"[a-z]+|[0-9]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_EXTENSION = re.compile(r"\.(html?|php|aspx?|jpe?g|png|webp|gif|avif)$")


def normalise(text: str) -> str:
    """Lower case, apostrophes dropped, every other non-alphanumeric run a single space, padded."""
    lowered = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("'", "")
    return f" {' '.join(_WORD.findall(lowered))} "


class Terms:
    """Whole-word matching of a vocabulary list (plural ``s``/``es`` allowed) in normalised text."""

    def __init__(self, terms: Iterable[str]) -> None:
        words = sorted({normalise(t).strip() for t in terms} - {""}, key=len, reverse=True)
        alternatives = "|".join(re.escape(w) for w in words)
        self._pattern = re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?:s|es)?(?![a-z0-9])") if words else None

    def find(self, text: str) -> list[str]:
        """The distinct terms found in normalised ``text``, in order of appearance."""
        if self._pattern is None:
            return []
        return list(dict.fromkeys(m.group(0) for m in self._pattern.finditer(text)))

    def remove(self, text: str) -> str:
        """``text`` with every term replaced by a separator (so no phrase matches across it)."""
        return self._pattern.sub(" ~ ", text) if self._pattern is not None else text


def _regex(pattern: str) -> re.Pattern[str] | None:
    return re.compile(pattern, re.IGNORECASE) if pattern else None


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


@dataclass(frozen=True)
class Signal:
    """One piece of evidence: a weight for (or, negative, against) a target, and where it was seen."""

    target: str
    field: str
    weight: float
    matched: str
    context: str = ""

    def describe(self) -> str:
        where = f" in {self.context!r}" if self.context and self.context != self.matched else ""
        return f"{self.field}: {self.matched!r}{where}"

    def explain(self) -> str:
        """The signal with its weight and target, e.g. ``title: 'kids' in 'kids frock' (+1.0 children)``."""
        return f"{self.describe()} ({self.weight:+.1f} {self.target})"


@dataclass(frozen=True)
class Decision:
    """Why a product is kept or excluded: a reason, the deciding signal and all the evidence."""

    reason: str
    signal: str = ""
    evidence: tuple[str, ...] = ()
    family: str = ""


@dataclass(frozen=True)
class ProductText:
    """The text fields of a product, normalised once: (field, raw text, normalised text) triples."""

    categories: list[tuple[str, str, str]]
    names: list[tuple[str, str, str]]
    description: str
    options: list[str]
    # (field, exact value normalised): product_type, collection titles and handles, breadcrumbs, URL segments.
    category_values: list[tuple[str, str]]


def _url_parts(url: str) -> tuple[list[str], str]:
    """(category path segments, last segment without extension) of a product URL."""
    segments = [s for s in urlsplit(url).path.lower().split("/") if s]
    if not segments:
        return [], ""
    last = _EXTENSION.sub("", segments[-1])
    return [s for s in segments[:-1] if s not in _STRUCTURAL_SEGMENTS], last


def _handle(product: dict[str, Any]) -> str:
    return str(product.get("handle") or _url_parts(str(product.get("product_url") or ""))[1])


def product_text(product: dict[str, Any]) -> ProductText:
    """Every text field a product carries, grouped as the classifier reads them."""
    segments, _ = _url_parts(str(product.get("product_url") or ""))
    categories = [("product_type", str(product.get("category") or ""))]
    categories += [("collection", f"{c.get('title', '')} ({c.get('handle', '')})") for c in _collections(product)]
    categories += [("breadcrumb", name) for name in _breadcrumbs(product)]
    categories += [("url", segment) for segment in segments]
    names = [("title", str(product.get("title") or ""))]
    names += [("tags", str(tag)) for tag in product.get("tags") or []]
    names.append(("handle", _handle(product)))
    names += [("image name", _CAMEL.sub(" ", stem)) for stem in _image_stems(product)]
    options = [str(v) for values in (product.get("options") or {}).values() for v in values or []]
    return ProductText(
        categories=[(f, raw, normalise(raw)) for f, raw in categories if raw.strip()],
        names=[(f, raw, normalise(raw)) for f, raw in names if raw.strip()],
        description=str(product.get("description") or ""),
        options=options,
        category_values=_category_values(product, segments),
    )


def _category_values(product: dict[str, Any], segments: list[str]) -> list[tuple[str, str]]:
    values = [("product_type", str(product.get("category") or ""))]
    values += [("collection", str(c.get(key) or "")) for c in _collections(product) for key in ("title", "handle")]
    values += [("breadcrumb", name) for name in _breadcrumbs(product)]
    values += [("url", segment) for segment in segments]
    return [(f, normalise(v).strip()) for f, v in values if normalise(v).strip()]


def _breadcrumbs(product: dict[str, Any]) -> list[str]:
    """The trail's names without its root: "Home" there is the home page, not a home-goods line."""
    names = [str(name) for name in product.get("breadcrumbs") or []]
    return names[1:] if names and normalise(names[0]).strip() in ("home", "home page", "homepage") else names


def _collections(product: dict[str, Any]) -> list[dict[str, str]]:
    return [c if isinstance(c, dict) else {"title": str(c)} for c in product.get("collections") or []]


@dataclass
class _Family:
    """One non-clothing family's compiled vocabulary."""

    name: str
    types: set[str]
    words: Terms
    phrases: Terms
    cues: Terms
    patterns: list[re.Pattern[str]]

    @classmethod
    def build(cls, name: str, family: NonClothingFamily) -> _Family:
        return cls(name, {normalise(t).strip() for t in family.types}, Terms(family.words), Terms(family.description_phrases),
                   Terms(family.description_cues), [re.compile(p, re.IGNORECASE) for p in family.patterns])


class ProductClassifier:
    """Reads a product's evidence and decides ``keep``, ``children`` or ``non_clothing`` from it."""

    def __init__(self, settings: CsvConfig, garments: Iterable[str] = ()) -> None:
        self.settings = settings
        self.weights = settings.weights
        children = settings.children
        self._children_words = Terms(children.words)
        self._children_category_words = Terms([*children.words, *children.category_words])
        self._children_phrases = Terms(children.description_phrases)
        self._children_cues = Terms(children.description_cues)
        self._adult_words = Terms(children.adult_words)
        self._ignore = Terms(settings.ignore_phrases)
        self._garments = Terms([*garments, *settings.clothing_words])
        self._families = [_Family.build(name, family) for name, family in settings.non_clothing.items()]
        self._styling = _clause_pattern(settings.styling_phrases, whole_clause=False)
        self._cross_sell = _clause_pattern(settings.cross_sell_phrases, whole_clause=True)
        self._age_size = _regex(settings.age_size_pattern)
        self._age_text = _regex(settings.age_text_pattern)
        self._adult_size = _regex(settings.adult_size_pattern)

    def classify(self, product: dict[str, Any]) -> Decision:
        """The product's reason (``keep`` when nothing excludes it) from its own evidence alone."""
        return self.decide(self.evidence(product), has_images=bool(product.get("image_urls")))

    def evidence(self, product: dict[str, Any]) -> list[Signal]:
        """Every signal the product carries, for and against each target, strongest fields first."""
        text = product_text(product)
        signals = self._children_signals(text) + self._non_clothing_signals(text)
        return _deduplicated(signals)

    def decide(self, signals: list[Signal], *, has_images: bool = True) -> Decision:
        """The target whose weights reach the threshold (non-clothing first), else keep or no_image."""
        scores = _scores(signals)
        evidence = _readable_evidence(signals, scores)
        families = [(score, target) for target, score in scores.items() if target != CHILDREN]
        best_score, best_family = max(families, default=(0.0, ""))
        if best_score >= self.settings.threshold:
            return Decision(NON_CLOTHING, _deciding(signals, best_family), evidence, best_family)
        if scores.get(CHILDREN, 0.0) >= self.settings.threshold:
            return Decision(CHILDREN, _deciding(signals, CHILDREN), evidence, CHILDREN)
        if not has_images:
            return Decision("no_image", "image_urls: empty", evidence)
        return Decision(KEEP, "", evidence)

    def _clean(self, normalised: str) -> str:
        return self._ignore.remove(normalised)

    def _children_signals(self, text: ProductText) -> list[Signal]:
        w = self.weights
        signals: list[Signal] = []
        age_sizes = [s for s in text.options if self._age_size is not None and self._age_size.match(s)]
        signals += [Signal(CHILDREN, "options", w.age_size, f"age size {s}") for s in age_sizes[:1]]
        adult_sizes = [s for s in text.options if self._adult_size is not None and self._adult_size.match(s)]
        signals += [Signal(CHILDREN, "options", w.adult_size, f"adult size {s}") for s in adult_sizes[:1]]
        for field_name, raw, normal in text.categories:
            clean = self._clean(normal)
            signals += [Signal(CHILDREN, field_name, w.word, m, raw) for m in self._children_category_words.find(clean)]
            signals += [Signal(CHILDREN, field_name, w.adult_word, m, raw) for m in self._adult_words.find(clean)]
        for field_name, raw, normal in text.names:
            clean = self._clean(normal)
            signals += [Signal(CHILDREN, field_name, w.word, m, raw) for m in self._children_words.find(clean)]
            signals += [Signal(CHILDREN, field_name, w.adult_word, m, raw) for m in self._adult_words.find(clean)]
        description = self._clean(normalise(_without(self._cross_sell, text.description)))
        phrases = self._children_phrases.find(description)
        signals += [Signal(CHILDREN, "description", w.description_phrase, m) for m in phrases]
        # A word inside a phrase already counted ("girls" in "for girls") is not counted again.
        rest = self._children_phrases.remove(description)
        signals += [Signal(CHILDREN, "description", w.description_word, m) for m in self._children_words.find(rest)]
        signals += [Signal(CHILDREN, "description", w.cue, m) for m in self._children_cues.find(description)]
        signals += [Signal(CHILDREN, "description", w.adult_cue, m) for m in self._adult_words.find(description)]
        for field_name, raw in [*((f, r) for f, r, _ in text.names if f == "title"), ("description", text.description)]:
            age = _first_match(self._age_text, self._ignore_raw(raw))
            if age:
                signals.append(Signal(CHILDREN, field_name, w.age_text, f"age {age}", _clip(raw)))
        return signals

    def _ignore_raw(self, raw: str) -> str:
        return self._ignore.remove(raw.lower())

    def _non_clothing_signals(self, text: ProductText) -> list[Signal]:
        w = self.weights
        description = self._description_without_styling(text.description)
        title = " ".join(n for f, _, n in text.names if f == "title")
        signals: list[Signal] = []
        for family in self._families:
            signals += [Signal(family.name, field_name, w.word, value)
                        for field_name, value in text.category_values if value in family.types]
            for field_name, raw, normal in [*text.categories, *text.names]:
                clean = self._clean(normal)
                signals += [Signal(family.name, field_name, w.word, m, raw) for m in family.words.find(clean)]
            signals += [Signal(family.name, "description", w.description_word, m) for m in family.words.find(description)]
            signals += [Signal(family.name, "description", w.description_phrase, m) for m in family.phrases.find(description)]
            signals += [Signal(family.name, "description", w.cue, m) for m in family.cues.find(description)]
            for pattern in family.patterns:
                for field_name, raw in (("title", title), ("description", text.description)):
                    found = _first_match(pattern, raw)
                    if found:
                        signals.append(Signal(family.name, field_name, w.description_phrase, found, _clip(raw)))
        garment_fields = [(f, raw, n) for f, raw, n in [*text.names, *text.categories] if f in ("title", "product_type")]
        for field_name, raw, normal in garment_fields:
            signals += [Signal(ANY_NON_CLOTHING, field_name, w.garment_name, m, raw) for m in self._garments.find(normal)]
        cues = self._garments.find(normalise(text.description))[:2]
        signals += [Signal(ANY_NON_CLOTHING, "description", w.garment_cue, m) for m in cues]
        return signals

    def _description_without_styling(self, description: str) -> str:
        return self._clean(normalise(_without(self._styling, description)))


def _clause_pattern(phrases: list[str], *, whole_clause: bool) -> re.Pattern[str] | None:
    """A pattern for the clause (up to . ! ? ; or a line end) from a phrase on, or all of its clause."""
    words = "|".join(re.escape(normalise(p).strip()) for p in phrases if normalise(p).strip())
    if not words:
        return None
    before = r"[^.!?;\n]*" if whole_clause else ""
    return re.compile(rf"{before}\b(?:{words})\b[^.!?;\n]*")


def _without(pattern: re.Pattern[str] | None, text: str) -> str:
    """Lower-cased ``text`` (apostrophes dropped) with the clauses ``pattern`` finds removed."""
    lowered = text.lower().replace("\u2019", "'").replace("'", "")
    return pattern.sub(" . ", lowered) if pattern is not None else lowered


def _first_match(pattern: re.Pattern[str] | None, text: str) -> str | None:
    found = pattern.search(text) if pattern is not None and text else None
    return found.group(0).strip() if found else None


def _deduplicated(signals: list[Signal]) -> list[Signal]:
    """One signal per (target, sign, matched word): the same word in title and handle counts once."""
    seen: set[tuple[str, bool, str]] = set()
    unique = []
    for signal in signals:
        key = (signal.target, signal.weight > 0, signal.matched)
        if key not in seen:
            seen.add(key)
            unique.append(signal)
    return unique


def _scores(signals: list[Signal]) -> dict[str, float]:
    """Summed weight per target; garment counter-evidence counts against every non-clothing family."""
    scores: dict[str, float] = defaultdict(float)
    for signal in signals:
        if signal.target != ANY_NON_CLOTHING:
            scores[signal.target] += signal.weight
    against_all = sum(s.weight for s in signals if s.target == ANY_NON_CLOTHING)
    families = {s.target for s in signals if s.target not in (CHILDREN, ANY_NON_CLOTHING)}
    for family in families:
        scores[family] += against_all
    return dict(scores)


def _readable_evidence(signals: list[Signal], scores: dict[str, float]) -> tuple[str, ...]:
    """Every signal of a target that has some evidence for it (a lone counter-signal says nothing)."""
    supported = {t for t in scores if any(s.target == t and s.weight > 0 for s in signals)}
    relevant = [s for s in signals if s.target in supported
                or (s.target == ANY_NON_CLOTHING and supported - {CHILDREN})]
    return tuple(s.explain() for s in relevant)


def _deciding(signals: list[Signal], target: str) -> str:
    """The strongest signal for ``target`` (the first of equals, fields in reading order)."""
    best = max((s for s in signals if s.target == target and s.weight > 0), key=lambda s: s.weight)
    family = f" ({target})" if target != CHILDREN else ""
    return f"{best.describe()}{family}"


# --- Site conventions ------------------------------------------------------------------------------


def product_codes(product: dict[str, Any]) -> set[str]:
    """The site-code features of a product: code prefixes/infixes and short codes from its SKUs,
    handle and image names, and its URL category segments."""
    tokens: list[str] = []
    skus = product.get("skus") or [v.get("sku") for v in product.get("variants") or [] if isinstance(v, dict)]
    for text in [*(str(s) for s in skus if s), _handle(product), *_image_stems(product)]:
        tokens += [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]
    codes = {f"URL segment {s!r}" for s in _url_parts(str(product.get("product_url") or ""))[0]}
    for token in tokens:
        parts = _CODE_PARTS.findall(token)
        letters = [p for p in parts if p.isalpha()]
        if len(parts) == 1 and token.isalpha():
            if 2 <= len(token) <= 3:
                codes.add(f"code {token!r}")
            continue
        # One letter is too common to mark a line; longer runs are words, not codes.
        if parts[0].isalpha() and 2 <= len(parts[0]) <= 4:
            codes.add(f"code prefix {parts[0]!r}")
        codes.update(f"code infix {p!r}" for p in letters[1 if parts[0].isalpha() else 0:] if 2 <= len(p) <= 4)
    return codes


def _image_stems(product: dict[str, Any]) -> list[str]:
    """Image file names without extension, case kept ("24_G_GirlsFrocks_EGTF24S-200056_1")."""
    return [_EXTENSION.sub("", urlsplit(str(u)).path.rsplit("/", 1)[-1], count=1) for u in product.get("image_urls") or []]


@dataclass(frozen=True)
class Convention:
    """A code that, on one site, marks a line whose class its decided products show."""

    site: str
    code: str
    reason: str
    family: str
    support: int
    decided: int
    carriers: int
    applied: int = 0

    def describe(self) -> str:
        return (f"{self.code} is {self.family} in {self.support} of {self.decided} decided products of "
                f"{self.site} ({self.carriers} carry it)")

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "code": self.code, "reason": self.reason, "family": self.family,
                "support": self.support, "decided": self.decided, "carriers": self.carriers,
                "applied": self.applied, "rule": self.describe()}


@dataclass
class _CodeTally:
    carriers: int = 0
    adult: int = 0
    families: Counter[str] = field(default_factory=Counter)


def _has_adult_evidence(signals: list[Signal]) -> bool:
    return any(s.target == CHILDREN and s.weight < 0 and s.field != "description" for s in signals)


def learn_conventions(site: str, products: list[dict[str, Any]], decisions: list[Decision],
                      signals: list[list[Signal]], settings: CsvConfig) -> list[Convention]:
    """Codes whose decided carriers on this site are (almost) all of one class, with enough support."""
    tallies: dict[str, _CodeTally] = defaultdict(_CodeTally)
    for product, decision, evidence in zip(products, decisions, signals):
        for code in product_codes(product):
            tally = tallies[code]
            tally.carriers += 1
            if decision.reason in EXCLUSION_LABELS:
                tally.families[decision.family] += 1
            elif _has_adult_evidence(evidence):
                tally.adult += 1
    rules = settings.conventions
    learned = []
    for code, tally in sorted(tallies.items()):
        if not tally.families:
            continue
        family, support = tally.families.most_common(1)[0]
        decided = sum(tally.families.values()) + tally.adult
        if (support >= rules.min_support and support / decided >= rules.min_purity
                and support / tally.carriers >= rules.min_share and tally.carriers > support):
            reason = CHILDREN if family == CHILDREN else NON_CLOTHING
            learned.append(Convention(site, code, reason, family, support, decided, tally.carriers))
    return learned


def classify_catalogue(products: list[dict[str, Any]], classifier: ProductClassifier
                       ) -> tuple[list[Decision], list[Convention]]:
    """Every product's decision, site conventions applied to the products their own evidence keeps."""
    signals = [classifier.evidence(p) for p in products]
    decisions = [classifier.decide(s, has_images=bool(p.get("image_urls"))) for p, s in zip(products, signals)]
    by_site: dict[str, list[int]] = defaultdict(list)
    for index, product in enumerate(products):
        by_site[str(product.get("site", ""))].append(index)
    conventions: list[Convention] = []
    for site, indices in sorted(by_site.items()):
        learned = learn_conventions(site, [products[i] for i in indices], [decisions[i] for i in indices],
                                    [signals[i] for i in indices], classifier.settings)
        applied: Counter[str] = Counter()
        rules = {c.code: c for c in learned}
        for i in indices:
            if decisions[i].reason in EXCLUSION_LABELS:
                continue
            extra = [Signal(rules[code].family, "convention", classifier.weights.convention, code, rules[code].describe())
                     for code in sorted(product_codes(products[i])) if code in rules]
            if not extra:
                continue
            decision = classifier.decide(signals[i] + extra, has_images=bool(products[i].get("image_urls")))
            if decision.reason in EXCLUSION_LABELS:
                decisions[i] = decision
                applied.update(s.matched for s in extra if s.target == decision.family)
        conventions += [Convention(**{**c.__dict__, "applied": applied[c.code]}) for c in learned]
    return decisions, conventions


# --- Measuring the rules on labelled products ------------------------------------------------------


def score_decisions(labels: list[str], predicted: list[str]) -> dict[str, Any]:
    """Precision and recall per exclusion class, and the share of keep products excluded."""
    scores: dict[str, Any] = {"products": len(labels)}
    for label in EXCLUSION_LABELS:
        tp = sum(p == label and t == label for p, t in zip(predicted, labels))
        fp = sum(p == label and t != label for p, t in zip(predicted, labels))
        fn = sum(p != label and t == label for p, t in zip(predicted, labels))
        scores[label] = {"precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
                         "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0, "support": tp + fn}
    keep = [p for p, t in zip(predicted, labels) if t == KEEP]
    wrongly = sum(p in EXCLUSION_LABELS for p in keep)
    scores["keep_excluded"] = {"share": round(wrongly / len(keep), 4) if keep else 0.0,
                               "count": wrongly, "support": len(keep)}
    return scores


def evaluate_labelled(classifier: ProductClassifier, labelled: list[dict[str, Any]]) -> dict[str, Any]:
    """The rules' scores on a labelled set (per ``split`` too when the records have one)."""
    decisions, _ = classify_catalogue(labelled, classifier)
    predicted = [d.reason if d.reason in EXCLUSION_LABELS else KEEP for d in decisions]
    labels = [str(r["label"]) for r in labelled]
    scores = score_decisions(labels, predicted)
    splits = sorted({str(r["split"]) for r in labelled if r.get("split")})
    for split in splits:
        chosen = [i for i, r in enumerate(labelled) if r.get("split") == split]
        scores[f"split_{split}"] = score_decisions([labels[i] for i in chosen], [predicted[i] for i in chosen])
    return scores


def misclassified(classifier: ProductClassifier, labelled: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Decision]]:
    """The labelled products whose decision differs from their label, with the decision."""
    decisions, _ = classify_catalogue(labelled, classifier)
    return [(r, d) for r, d in zip(labelled, decisions)
            if (d.reason if d.reason in EXCLUSION_LABELS else KEEP) != r["label"]]
