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


class ProductClassifier:
    """Keep or exclude a product from its own signals (type, tags, title, option values)."""

    def __init__(self, settings: CsvConfig) -> None:
        self.fields = settings.fields
        self._children = _term_pattern(settings.children_terms)
        self._non_clothing = _term_pattern(settings.non_clothing_terms)
        self._ignore = _term_pattern(settings.ignore_phrases)
        self._age_size = re.compile(settings.age_size_pattern, re.IGNORECASE) if settings.age_size_pattern else None

    def classify(self, product: dict[str, Any]) -> Decision:
        """The first matching rule in field order; ``keep`` when nothing matches."""
        for name in self.fields:
            for text in self._field_texts(product, name):
                decision = self._match_text(name, text)
                if decision is not None:
                    return decision
        if not product.get("image_urls"):
            return Decision("no_image", "image_urls: empty")
        return Decision(KEEP)

    def _match_text(self, field_name: str, text: str) -> Decision | None:
        if field_name == "options" and self._age_size is not None and self._age_size.match(text):
            return Decision("children", f"options: age size {text!r}")
        lowered = text.lower()
        if self._ignore is not None:
            lowered = self._ignore.sub(" ", lowered)
        for reason, pattern in (("non_clothing", self._non_clothing), ("children", self._children)):
            found = pattern.search(lowered) if pattern is not None else None
            if found:
                return Decision(reason, f"{field_name}: {found.group(0)!r} in {text!r}")
        return None

    @staticmethod
    def _field_texts(product: dict[str, Any], name: str) -> list[str]:
        if name == "product_type":
            return [str(product.get("category") or "")]
        if name == "tags":
            return [str(tag) for tag in product.get("tags") or []]
        if name == "options":
            return [str(v) for values in (product.get("options") or {}).values() for v in values]
        return [str(product.get(name) or "")]


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
    kept, excluded, metrics = build_tables(paths.raw, as_typed(cfg.csv, CsvConfig))
    write_csv(kept, paths.products_csv)
    write_csv(excluded, paths.excluded_csv)
    write_json(paths.metrics / "csv.json", metrics)
    log.info("kept %d products, excluded %s", metrics["kept"], metrics["excluded"])


if __name__ == "__main__":
    main()
