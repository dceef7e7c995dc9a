"""Shopify details real stores have: a market subpath (/pk, /en-pk) or the API only at the root, and
``images[].variant_ids`` telling which photo shows which colour."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from pakfashion.config import CrawlConfig
from pakfashion.crawling.platforms import market_roots
from pakfashion.crawling.record import ProductRecord
from pakfashion.crawling.shopify import normalise_shopify_product
from pakfashion.crawling.site import CrawlReport, crawl_site
from pakfashion.web.frontier import Frontier
from tests.helpers import configured, quick_web, site_settings
from tests.helpers.http import Reply, scripted_server

pytestmark = pytest.mark.network

SETTINGS = configured(CrawlConfig, "crawl.collections.terms=[]", snapshot="markets", min_delay_s=0.0)


def colourway() -> dict[str, Any]:
    """A products.json product as Shopify serves it: one variant per colour and size, photos tied to colours."""
    variants = [{"id": 100 + i, "title": f"{colour} / {size}", "option1": colour, "option2": size,
                 "price": "4990.00", "sku": f"LK-{colour[:3].upper()}-{size}",
                 "featured_image": {"id": 12, "src": "https://cdn.shopify.com/s/files/1/navy-front.jpg"} if colour == "Navy" else None}
                for i, (colour, size) in enumerate([("Maroon", "S"), ("Maroon", "M"), ("Navy", "S"), ("Navy", "M")])]
    images = [
        {"id": 11, "src": "https://cdn.shopify.com/s/files/1/maroon-front.jpg?v=1", "variant_ids": [100, 101]},
        {"id": 12, "src": "https://cdn.shopify.com/s/files/1/navy-front.jpg?v=1", "variant_ids": []},
        {"id": 13, "src": "https://cdn.shopify.com/s/files/1/size-chart.jpg?v=1", "variant_ids": [100, 102]},
        {"id": 14, "src": "https://cdn.shopify.com/s/files/1/maroon-front.jpg?v=2", "variant_ids": [101]},
    ]
    return {"id": 7001, "title": "Lawn Kurta", "handle": "lawn-kurta", "body_html": "<p>Lawn.</p>",
            "product_type": "Kurta", "tags": ["women"], "variants": variants, "images": images,
            "options": [{"name": "Colour", "position": 1, "values": ["Maroon", "Navy"]},
                        {"name": "Size", "position": 2, "values": ["S", "M"]}]}


def test_each_photo_gets_the_colour_its_variants_name() -> None:
    record = normalise_shopify_product(colourway(), site="s", base_url="https://shop.example/pk", currency="PKR",
                                       crawled_at="")
    assert record.image_urls == ["https://cdn.shopify.com/s/files/1/maroon-front.jpg?v=1",
                                 "https://cdn.shopify.com/s/files/1/navy-front.jpg?v=1",
                                 "https://cdn.shopify.com/s/files/1/size-chart.jpg?v=1"]
    # variant_ids for maroon; the navy variants' featured_image; a chart shared by both colours says none.
    assert record.image_colours == ["maroon", "navy", ""]
    assert record.product_url == "https://shop.example/pk/products/lawn-kurta"


def test_a_product_without_a_colour_option_has_no_image_colours() -> None:
    raw = {**colourway(), "options": [{"name": "Size", "values": ["S", "M"]}]}
    assert normalise_shopify_product(raw, site="s", base_url="https://x", currency="PKR", crawled_at="").image_colours == []


def test_market_roots() -> None:
    assert market_roots("https://www.sanasafinaz.com/pk/") == ["https://www.sanasafinaz.com/pk", "https://www.sanasafinaz.com"]
    assert market_roots("https://www.limelight.pk") == ["https://www.limelight.pk"]


def listing(*products: dict[str, Any]) -> Reply:
    return Reply(200, json.dumps({"products": list(products)}).encode(), {"Content-Type": "application/json"})


def crawl(base: str) -> tuple[list[ProductRecord], CrawlReport]:
    with Frontier(Path(tempfile.mkdtemp()) / "frontier.sqlite") as frontier:
        return crawl_site(site_settings("market", base), SETTINGS, quick_web(), frontier=frontier)


@pytest.mark.parametrize("market", ["/pk", "/en-pk"])
def test_a_store_under_a_market_path_is_crawled_there(market: str) -> None:
    routes = {"/robots.txt": [Reply(404)], f"{market}/products.json": [listing(colourway())],
              "/products.json": [Reply(500)]}
    with scripted_server(routes) as (base, script):
        records, report = crawl(base + market)
    assert [r.product_id for r in records] == ["7001"] and report.platform == "shopify"
    assert records[0].product_url == f"{base}{market}/products/lawn-kurta"
    assert not [p for p in script.paths() if p.startswith("/products.json")]
    assert "listing_root" not in report.platform_details


def test_a_store_configured_under_a_market_path_but_listing_at_its_root() -> None:
    routes = {"/robots.txt": [Reply(404)], "/pk/products.json": [Reply(404, b"<html>Not found</html>")],
              "/products.json": [listing(colourway())]}
    with scripted_server(routes) as (base, script):
        records, report = crawl(base + "/pk")
    assert [r.product_id for r in records] == ["7001"] and report.errors == []
    assert report.platform_details["listing_root"] == base
    assert "at the shop's root" in report.platform_evidence
    assert records[0].product_url == f"{base}/products/lawn-kurta"
    # The root answered: the second page is asked there, never under /pk again.
    assert [p for p in script.paths() if p.startswith("/pk/")] == ["/pk/products.json?limit=1&page=1"]
