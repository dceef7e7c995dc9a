"""The csv stage's work: load every site's records, decide each product, the tables and metrics.

The stage entry is :mod:`pakfashion.csv`."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from pakfashion.common.files import read_json, read_jsonl, write_text_atomic
from pakfashion.config import CsvConfig, VocabConfig, as_typed
from pakfashion.contracts import (
    CRAWL_REPORT_FILE,
    EVIDENCE_SEPARATOR,
    EXCLUDED_COLUMNS,
    EXCLUSION_COLUMNS,
    PRODUCT_COLUMNS,
    PRODUCTS_FILE,
)
from pakfashion.products.exclusion import (
    KEEP,
    Convention,
    Decision,
    ProductClassifier,
    classify_catalogue,
    evaluate_labelled,
)

log = logging.getLogger(__name__)

def load_site_products(raw_dir: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """All crawled products and each site's crawl report, sites in name order."""
    products: list[dict[str, Any]] = []
    reports: dict[str, dict[str, Any]] = {}
    for site_dir in sorted(p for p in raw_dir.iterdir() if p.is_dir()):
        products_file = site_dir / PRODUCTS_FILE
        if not products_file.exists():
            log.warning("%s has no %s; run its crawl stage", site_dir, PRODUCTS_FILE)
            continue
        products.extend(read_jsonl(products_file))
        if (site_dir / CRAWL_REPORT_FILE).exists():
            reports[site_dir.name] = read_json(site_dir / CRAWL_REPORT_FILE)
    if not products and not reports:
        raise FileNotFoundError(f"no crawled sites under {raw_dir}: run `dvc repro crawl` first")
    return products, reports


def _duplicate_key(product: dict[str, Any]) -> tuple[str, ...]:
    urls = product.get("image_urls") or []
    if urls:
        # The same photos listed twice (another handle, another collection) are one product.
        return tuple(f"{urlsplit(u).netloc}{urlsplit(u).path}".lower() for u in urls)
    return (product["site"], product["title"].strip().lower(), str(product.get("description", "")).lower())


def classify_products(products: list[dict[str, Any]], classifier: ProductClassifier
                      ) -> tuple[list[tuple[dict[str, Any], Decision]], list[Convention]]:
    """A decision per product (site conventions applied); a later product with the same photos is a
    ``duplicate_product``."""
    decisions, conventions = classify_catalogue(products, classifier)
    seen: dict[tuple[str, ...], str] = {}
    result = []
    for product, decision in zip(products, decisions):
        if decision.reason == KEEP:
            key = _duplicate_key(product)
            if key in seen:
                decision = Decision("duplicate_product", f"same images as {seen[key]}", decision.evidence)
            else:
                seen[key] = f"{product['site']}/{product['product_id']}"
        result.append((product, decision))
    return result, conventions


def to_frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    """Rows in contract column order; list columns as JSON text."""
    frame = pd.DataFrame(rows, columns=list(columns))
    for column in ("tags", "image_urls", "image_colours"):
        frame[column] = frame[column].map(lambda v: json.dumps(v if isinstance(v, list) else [], ensure_ascii=False))
    return frame


def _deciding_field(decision: Decision) -> str:
    return decision.signal.split(":", 1)[0]


def summarise(decisions: list[tuple[dict[str, Any], Decision]], reports: dict[str, dict[str, Any]],
              conventions: list[Convention]) -> dict[str, Any]:
    """Counts per reason, per site/reason and per deciding field, and the learned site conventions."""
    by_reason = Counter(d.reason for _, d in decisions)
    per_site: dict[str, Counter[str]] = {site: Counter() for site in reports}
    deciding: dict[str, Counter[str]] = {}
    for product, decision in decisions:
        per_site.setdefault(product["site"], Counter())[decision.reason] += 1
        if decision.reason != KEEP:
            deciding.setdefault(decision.reason, Counter())[_deciding_field(decision)] += 1
    return {
        "products": len(decisions),
        "kept": by_reason.get(KEEP, 0),
        "excluded": {reason: n for reason, n in sorted(by_reason.items()) if reason != KEEP},
        "deciding_field": {reason: dict(c.most_common()) for reason, c in sorted(deciding.items())},
        "per_site": {site: dict(sorted(c.items())) for site, c in sorted(per_site.items())},
        "sites_opted_out": sorted(site for site, r in reports.items() if r.get("opted_out")),
        "conventions": [c.to_dict() for c in sorted(conventions, key=lambda c: (c.site, -c.applied, c.code))],
    }


def exclusion_fields(decision: Decision) -> dict[str, str]:
    """What excluded.csv adds to a product (``EXCLUSION_COLUMNS``): reason, deciding signal, all evidence."""
    values = (decision.reason, decision.signal, EVIDENCE_SEPARATOR.join(decision.evidence))
    return dict(zip(EXCLUSION_COLUMNS, values, strict=True))


def with_brand(product: dict[str, Any], brands: dict[str, str]) -> dict[str, Any]:
    """The product with its ``brand``: the vendor its store lists, else its site's configured brand."""
    return {**product, "brand": str(product.get("vendor") or "").strip() or brands.get(product["site"], "")}


def build_tables(raw_dir: Path, classifier: ProductClassifier, *, brands: dict[str, str]
                 ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Kept products, excluded products (with reason, deciding signal and all evidence), and the metrics.

    Args:
        brands: each site's configured brand (``site.brand``), for products whose store names no vendor.
    """
    products, reports = load_site_products(raw_dir)
    products = [with_brand(product, brands) for product in products]
    decisions, conventions = classify_products(products, classifier)
    kept = [p for p, d in decisions if d.reason == KEEP]
    excluded = [{**p, **exclusion_fields(d)} for p, d in decisions if d.reason != KEEP]
    for convention in conventions:
        log.info("site convention: %s (applied to %d)", convention.describe(), convention.applied)
    metrics = summarise(decisions, reports, conventions)
    return to_frame(kept, PRODUCT_COLUMNS), to_frame(excluded, EXCLUDED_COLUMNS), metrics


def score_labelled_sets(classifier: ProductClassifier, labelled_sets: dict[str, str]) -> dict[str, Any]:
    """The rules' precision/recall on each labelled set (JSON Lines with a ``label``)."""
    scores = {}
    for name, path in sorted(labelled_sets.items()):
        if not Path(path).exists():
            raise FileNotFoundError(f"csv.labelled_sets.{name}: {path} not found; fix the path or remove the entry")
        scores[name] = evaluate_labelled(classifier, list(read_jsonl(Path(path))))
        log.info("rules on %s (%s): %s", name, path, scores[name])
    return scores


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    write_text_atomic(path, frame.to_csv(index=False))


def classifier_from_config(cfg: Any) -> ProductClassifier:
    """The classifier of a composed config: ``csv`` evidence plus the garments of ``vocab``."""
    vocab = as_typed(cfg.vocab, VocabConfig)
    garments = [spelling for spellings in vocab.garments.values() for spelling in spellings]
    return ProductClassifier(as_typed(cfg.csv, CsvConfig), garments)
