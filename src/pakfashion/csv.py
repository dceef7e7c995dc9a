"""Stage `csv`: every site's products.jsonl → one clean product table and an explained exclusion list.

Reads ``<paths.raw>/*/products.jsonl`` and ``crawl.json``; writes ``paths.products_csv`` (kept products),
``paths.excluded_csv`` (every excluded product with ``reason`` and the ``signal`` that decided it) and
``<paths.metrics>/csv.json`` (counts per site and reason).
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from pakfashion.config import CsvConfig, PathsConfig, as_typed, stage_main
from pakfashion.files import read_json, read_jsonl, write_json, write_text_atomic

log = logging.getLogger(__name__)

PRODUCT_COLUMNS = [
    "site", "product_id", "product_url", "title", "description", "category", "tags",
    "price", "currency", "image_urls", "crawled_at",
]
KEEP = "keep"


@dataclass(frozen=True)
class Decision:
    """Why a product is kept or excluded: a reason and the signal that decided it."""

    reason: str
    signal: str = ""


def _term_pattern(terms: list[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    alternatives = "|".join(re.escape(t.lower()) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])")


def _regex(pattern: str) -> re.Pattern[str] | None:
    return re.compile(pattern, re.IGNORECASE) if pattern else None


def _search(pattern: re.Pattern[str] | None, text: str) -> str | None:
    found = pattern.search(text) if pattern is not None and text else None
    return found.group(0) if found else None


class ProductClassifier:
    """Keep or exclude a product from its own signals: type, tags, title, size options, description.

    Evidence, strongest first: a non-clothing word or type anywhere; an age size among the options;
    adult-only sizes (which outweigh a children's word, e.g. a "Kids" collection tag on an XL kurta);
    a children's word in type, tags or title; an age written in the title or description.
    """

    def __init__(self, settings: CsvConfig) -> None:
        self._children = _term_pattern(settings.children_terms)
        self._children_type = _term_pattern(settings.children_terms + settings.children_type_terms)
        self._non_clothing = _term_pattern(settings.non_clothing_terms)
        self._non_clothing_types = {t.lower() for t in settings.non_clothing_types}
        self._ignore = _term_pattern(settings.ignore_phrases)
        self._age_size = _regex(settings.age_size_pattern)
        self._age_text = _regex(settings.age_text_pattern)
        self._adult_size = _regex(settings.adult_size_pattern)

    def classify(self, product: dict[str, Any]) -> Decision:
        """The product's reason (``keep`` when no rule excludes it) and the signal that decided it."""
        decision = self._non_clothing_signal(product) or self._children_signal(product)
        if decision is not None:
            return decision
        if not product.get("image_urls"):
            return Decision("no_image", "image_urls: empty")
        return Decision(KEEP)

    def _texts(self, product: dict[str, Any]) -> list[tuple[str, str]]:
        """(field, lower-cased text without ignored phrases) for type, tags and title."""
        texts = [("product_type", str(product.get("category") or ""))]
        texts += [("tags", str(tag)) for tag in product.get("tags") or []]
        texts.append(("title", str(product.get("title") or "")))
        return [(name, self._clean(text)) for name, text in texts if text.strip()]

    def _clean(self, text: str) -> str:
        lowered = text.lower().replace("\u2019", "'")
        return self._ignore.sub(" ", lowered) if self._ignore is not None else lowered

    def _non_clothing_signal(self, product: dict[str, Any]) -> Decision | None:
        product_type = str(product.get("category") or "").strip().lower()
        if product_type in self._non_clothing_types:
            return Decision("non_clothing", f"product_type: {product_type!r}")
        for name, text in self._texts(product):
            word = _search(self._non_clothing, text)
            if word:
                return Decision("non_clothing", f"{name}: {word!r} in {text!r}")
        return None

    def _children_signal(self, product: dict[str, Any]) -> Decision | None:
        sizes = [str(v) for values in (product.get("options") or {}).values() for v in values]
        age_size = next((s for s in sizes if self._age_size is not None and self._age_size.match(s)), None)
        if age_size:
            return Decision("children", f"options: age size {age_size!r}")
        if any(self._adult_size is not None and self._adult_size.match(s) for s in sizes):
            return None
        for name, text in self._texts(product):
            word = _search(self._children_type if name == "product_type" else self._children, text)
            if word:
                return Decision("children", f"{name}: {word!r} in {text!r}")
        for name in ("title", "description"):
            age = _search(self._age_text, self._clean(str(product.get(name) or "")))
            if age:
                return Decision("children", f"{name}: age {age!r}")
        return None


def evaluate_rules(classifier: ProductClassifier, labelled: list[dict[str, Any]]) -> dict[str, Any]:
    """Precision and recall of ``children`` and ``non_clothing`` on hand-labelled products."""
    predicted = [classifier.classify(p).reason for p in labelled]
    scores: dict[str, Any] = {"products": len(labelled)}
    for label in ("children", "non_clothing"):
        tp = sum(p == label and r["label"] == label for p, r in zip(predicted, labelled))
        fp = sum(p == label and r["label"] != label for p, r in zip(predicted, labelled))
        fn = sum(p != label and r["label"] == label for p, r in zip(predicted, labelled))
        scores[label] = {"precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
                         "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0, "support": tp + fn}
    return scores


def load_site_products(raw_dir: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """All crawled products and each site's crawl report, sites in name order."""
    products: list[dict[str, Any]] = []
    reports: dict[str, dict[str, Any]] = {}
    for site_dir in sorted(p for p in raw_dir.iterdir() if p.is_dir()):
        products_file = site_dir / "products.jsonl"
        if not products_file.exists():
            log.warning("%s has no products.jsonl; run its crawl stage", site_dir)
            continue
        products.extend(read_jsonl(products_file))
        if (site_dir / "crawl.json").exists():
            reports[site_dir.name] = read_json(site_dir / "crawl.json")
    if not products and not reports:
        raise FileNotFoundError(f"no crawled sites under {raw_dir}: run `dvc repro crawl` first")
    return products, reports


def _duplicate_key(product: dict[str, Any]) -> tuple[str, ...]:
    urls = product.get("image_urls") or []
    if urls:
        # The same photos listed twice (another handle, another collection) are one product.
        return tuple(f"{urlsplit(u).netloc}{urlsplit(u).path}".lower() for u in urls)
    return (product["site"], product["title"].strip().lower(), str(product.get("description", "")).lower())


def classify_products(products: list[dict[str, Any]], classifier: ProductClassifier) -> list[tuple[dict[str, Any], Decision]]:
    """A decision per product; a later product with the same photos is a ``duplicate_product``."""
    seen: dict[tuple[str, ...], str] = {}
    decisions = []
    for product in products:
        decision = classifier.classify(product)
        if decision.reason == KEEP:
            key = _duplicate_key(product)
            if key in seen:
                decision = Decision("duplicate_product", f"same images as {seen[key]}")
            else:
                seen[key] = f"{product['site']}/{product['product_id']}"
        decisions.append((product, decision))
    return decisions


def to_frame(rows: list[dict[str, Any]], extra: list[str]) -> pd.DataFrame:
    """Rows in contract column order; list columns as JSON text."""
    frame = pd.DataFrame(rows, columns=PRODUCT_COLUMNS + extra)
    for column in ("tags", "image_urls"):
        frame[column] = frame[column].map(lambda v: json.dumps(v if isinstance(v, list) else [], ensure_ascii=False))
    return frame


def summarise(decisions: list[tuple[dict[str, Any], Decision]], reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Counts per reason and per site/reason for metrics/csv.json."""
    by_reason = Counter(d.reason for _, d in decisions)
    per_site: dict[str, Counter[str]] = {site: Counter() for site in reports}
    for product, decision in decisions:
        per_site.setdefault(product["site"], Counter())[decision.reason] += 1
    return {
        "products": len(decisions),
        "kept": by_reason.get(KEEP, 0),
        "excluded": {reason: n for reason, n in sorted(by_reason.items()) if reason != KEEP},
        "per_site": {site: dict(sorted(c.items())) for site, c in sorted(per_site.items())},
        "sites_opted_out": sorted(site for site, r in reports.items() if r.get("opted_out")),
    }


def build_tables(raw_dir: Path, settings: CsvConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Kept products, excluded products (with reason and signal), and the metrics."""
    products, reports = load_site_products(raw_dir)
    decisions = classify_products(products, ProductClassifier(settings))
    kept = [p for p, d in decisions if d.reason == KEEP]
    excluded = [{**p, "reason": d.reason, "signal": d.signal} for p, d in decisions if d.reason != KEEP]
    return to_frame(kept, []), to_frame(excluded, ["reason", "signal"]), summarise(decisions, reports)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    write_text_atomic(path, frame.to_csv(index=False))


@stage_main
def main(cfg: Any) -> None:
    paths = as_typed(cfg.paths, PathsConfig)
    settings = as_typed(cfg.csv, CsvConfig)
    kept, excluded, metrics = build_tables(paths.raw, settings)
    if settings.labelled_set:
        labelled = list(read_jsonl(Path(settings.labelled_set)))
        metrics["rules_on_labelled_set"] = evaluate_rules(ProductClassifier(settings), labelled)
        log.info("rules on %s: %s", settings.labelled_set, metrics["rules_on_labelled_set"])
    write_csv(kept, paths.products_csv)
    write_csv(excluded, paths.excluded_csv)
    write_json(paths.metrics / "csv.json", metrics)
    log.info("kept %d products, excluded %s", metrics["kept"], metrics["excluded"])


if __name__ == "__main__":
    main()
