"""Shopify products.json → ProductRecord evidence fields, and which collections are signalled."""

from __future__ import annotations

from pathlib import Path

import yaml

from pakfashion.crawling.record import ProductRecord
from pakfashion.crawling.shopify import normalise_shopify_product
from pakfashion.crawling.shopify_collections import signal_rank

RAW = {
    "id": 7, "title": "Gulnar", "handle": "ss25-kg-gulnar", "body_html": "<p>A pink lawn kurta.</p>",
    "product_type": "", "tags": ["pink"], "images": [],
    "variants": [
        {"title": "S", "option1": "S", "sku": "KG0001-S", "price": "2990.00"},
        {"title": "M", "option1": "M", "sku": " KG0001-M ", "price": "2990.00"},
        {"title": "L", "option1": "L", "sku": "KG0001-S", "price": "2990.00"},
        {"title": "XL", "option1": "XL", "sku": None, "price": "2990.00"},
    ],
}


def test_shopify_record_has_handle_and_distinct_skus() -> None:
    record = normalise_shopify_product(RAW, site="s", base_url="https://s.pk", currency="PKR", crawled_at="")
    assert record.handle == "ss25-kg-gulnar" and record.product_url == "https://s.pk/products/ss25-kg-gulnar"
    assert record.skus == ["KG0001-S", "KG0001-M"]
    assert [v.sku for v in record.variants] == ["KG0001-S", "KG0001-M", "KG0001-S", ""]
    assert record.collections == [] and record.breadcrumbs == []


def test_an_older_products_jsonl_row_still_loads() -> None:
    old = {"site": "s", "product_id": "1", "product_url": "u", "title": "t", "description": "", "category": "",
           "tags": [], "price": None, "currency": "PKR", "image_urls": [], "crawled_at": "", "source": "shopify_json"}
    record = ProductRecord(**old)
    assert (record.handle, record.skus, record.collections, record.breadcrumbs) == ("", [], [], [])


def _terms(repo_root: Path) -> list[str]:
    return yaml.safe_load((repo_root / "conf/crawl/polite.yaml").read_text())["collections"]["terms"]


def test_the_configured_words_signal_collections_as_whole_words(repo_root: Path) -> None:
    terms = _terms(repo_root)
    signalled = [("kids-eid-edit", "Kids Eid Edit"), ("little-stars-girls", "Little Stars - Girls"),
                 ("fragrances", "Fragrances"), ("home-living", "Home & Living"), ("bachon-ka-bazar", "Bachon Ka Bazar"),
                 ("linen-home", "Linen"), ("frontpage", "Home page"), ("x", "Kid's Corner")]
    for handle, title in signalled:
        assert signal_rank(handle, title, terms) is not None, handle
    for handle, title in [("women-pret", "Women Pret"), ("unstitched-lawn", "Unstitched Lawn"),
                          ("eid-edit", "Eid Edit"), ("kidan-prints", "Kidan Prints"), ("homely", "Homely")]:
        assert signal_rank(handle, title, terms) is None, handle


def test_specific_words_rank_before_generic_ones(repo_root: Path) -> None:
    terms = _terms(repo_root)
    kids, perfume, home = (signal_rank(h, h, terms) for h in ("kids", "perfumes", "home"))
    assert kids is not None and perfume is not None and home is not None and kids < perfume < home
