"""WooCommerce through its Store API on the demo's demo_woo: detection, completeness, politeness, every demo
fault, a killed crawl's resume, the sitemap fallback, and the mapping of a real-shaped Store API product."""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pakfashion.config import CrawlConfig, SiteConfig
from pakfashion.crawling.record import ProductRecord
from pakfashion.crawling.shopify import MalformedPageError, parse_json_list
from pakfashion.crawling.site import CrawlReport, crawl_site
from pakfashion.crawling.woocommerce import (
    STORE_API_PATH,
    minor_units,
    normalise_store_product,
    store_page_size,
)
from pakfashion.demo import woo_pages
from pakfashion.web.frontier import Frontier
from tests.helpers import configured, quick_web, site_settings
from tests.helpers.crawl import FAULTS, assert_polite, kill_crawl_after
from tests.helpers.http import Reply, scripted_server

pytestmark = pytest.mark.network

SITE = "demo_woo"
SETTINGS = configured(CrawlConfig, "crawl.collections.terms=[]", snapshot="woo", min_delay_s=0.0,
                      woocommerce_page_size=5)
WEB = quick_web()


def crawl(site: SiteConfig, settings: CrawlConfig = SETTINGS, db: Path | None = None,
          ) -> tuple[list[ProductRecord], CrawlReport]:
    with Frontier(db or Path(tempfile.mkdtemp()) / "frontier.sqlite") as frontier:
        return crawl_site(site, settings, WEB, frontier=frontier)


def crawl_woo(store, settings: CrawlConfig = SETTINGS) -> tuple[list[ProductRecord], CrawlReport]:  # noqa: ANN001
    """demo_woo crawled as ``site=generic`` would: platform auto, no hint."""
    return crawl(site_settings(SITE, store.base_url(SITE)), settings)


def listing_requests(store) -> list[str]:  # noqa: ANN001
    return [f"{r.path}?{r.query}" for r in store.request_log if r.site == SITE and r.path == STORE_API_PATH]


@pytest.mark.parametrize("per_page", [5, 6])
def test_auto_detects_woocommerce_and_lists_every_product(platform_store, per_page: int) -> None:  # noqa: ANN001
    settings = configured(CrawlConfig, "crawl.collections.terms=[]", snapshot="woo", min_delay_s=0.0,
                          woocommerce_page_size=per_page)
    records, report = crawl_woo(platform_store, settings)
    world = platform_store.world.products(SITE)
    netloc = platform_store.world.sites[SITE].netloc(platform_store.port)
    assert report.platform == "woocommerce" and report.platform_evidence == "Store API product listing"
    assert report.errors == []
    by_id = {r.product_id: r for r in records}
    assert len(records) == len(by_id) == len(world)
    for product in world:
        record = by_id[str(product.id)]
        assert record.title == product.title
        assert record.price == min(float(v["price"]) for v in product.shopify["variants"])
        assert record.image_urls == [spec.url(netloc) for spec in product.image_specs]
        assert len(record.image_colours) == len(record.image_urls)
        assert record.category == product.shopify["product_type"]
        assert record.tags == product.shopify["tags"]
        assert record.handle == product.handle and record.currency == "PKR"
        assert record.product_url == f"http://{netloc}/product/{product.handle}/"
        assert record.source == "woocommerce_store_api"
        if product.colourway:
            colours = [colour.title() for colour in product.colourway]
            assert record.options == {"Color": colours}
            assert [v.options for v in record.variants] == [[colour] for colour in colours]
            assert record.image_colours == list(product.colourway)
        else:
            assert set(record.image_colours) <= {""}
    # Page 1 was the detection probe: every page is requested once, none past the last (X-WP-TotalPages).
    pages = math.ceil(len(world) / per_page)
    assert Counter(listing_requests(platform_store)) == {
        f"{STORE_API_PATH}?per_page={per_page}&page={page}": 1 for page in range(1, pages + 1)}
    assert report.platform_details["woocommerce"] == {
        "listing": "store_api", "per_page": per_page, "pages": pages, "requests": pages, "total_pages": pages,
        "complete": True}
    # Shopify's /products.json probe, then the listing's pages (robots.txt is not counted).
    assert report.http["requests"] == 1 + pages


def test_crawl_delay_and_robots_rules_are_honoured(platform_store) -> None:  # noqa: ANN001
    delay = 0.2
    platform_store.world.sites[SITE].crawl_delay_s = delay
    records, report = crawl_woo(platform_store)
    assert len(records) == len(platform_store.world.products(SITE)) and not report.errors
    log = [r for r in platform_store.request_log if r.site == SITE]
    assert_polite(platform_store, SITE)
    assert {r.user_agent for r in log} == {WEB.user_agent}
    gaps = [later.time - earlier.time for earlier, later in zip(log, log[1:])]
    assert gaps and min(gaps) >= delay * 0.9, gaps


@pytest.mark.parametrize(("fault", "switches"), FAULTS, ids=[f for f, _ in FAULTS])
def test_fault_loses_no_product(platform_store, fault: str, switches: dict[str, Any]) -> None:  # noqa: ANN001
    for key, value in switches.items():
        setattr(platform_store.faults, key, value)
    records, report = crawl_woo(platform_store)
    assert {r.product_id for r in records} == {str(p.id) for p in platform_store.world.products(SITE)}
    assert report.platform == "woocommerce" and report.errors == []
    assert_polite(platform_store, SITE)
    if fault in ("truncated_json", "html_instead_of_json"):
        # Malformed pages are read again: more listing requests than pages, each page kept once.
        assert len(listing_requests(platform_store)) > report.platform_details["woocommerce"]["pages"]


@pytest.mark.parametrize("platform", ["auto", "woocommerce"])
def test_robots_disallowing_the_store_api_falls_back_to_the_sitemaps(platform_store, platform: str) -> None:  # noqa: ANN001
    site = platform_store.world.sites[SITE]
    site.disallowed_prefixes.append("/wp-json/")
    records, report = crawl(site_settings(SITE, platform_store.base_url(SITE), platform=platform))
    assert report.platform == "woocommerce"
    if platform == "auto":
        assert "product pages from the sitemaps" in report.platform_evidence
        assert "robots.txt" in report.platform_details["woocommerce_fallback"]
    assert report.platform_details["woocommerce"]["listing"] == "sitemaps"
    # Product pages give their JSON-LD sku as the id, WooCommerce's parent SKU.
    assert {r.product_id for r in records} == {woo_pages.parent_sku(p) for p in site.products}
    assert {r.source for r in records} == {"jsonld"} and not report.errors
    by_sku = {r.product_id: r for r in records}
    kids = [p for p in site.products if p.expected == "children"]
    assert kids and all(by_sku[woo_pages.parent_sku(p)].breadcrumbs[0] == "Home" for p in kids)
    assert not [r for r in platform_store.request_log if r.site == SITE and r.path.startswith("/wp-json/")]
    assert_polite(platform_store, SITE)


PAGE = """<html><head><link rel="canonical" href="{url}"><script type="application/ld+json">
{{"@context": "https://schema.org/", "@type": "Product", "name": "Red Lawn Kurta", "sku": "{sku}",
  "image": ["{url}red.jpg"], "offers": [{{"@type": "Offer", "price": "4990", "priceCurrency": "PKR"}}]}}
</script></head><body></body></html>"""
NO_ROUTE = json.dumps({"code": "rest_no_route", "message": "No route was found matching the URL and request method.",
                       "data": {"status": 404}}).encode()


def test_a_wordpress_store_with_the_store_api_off_is_read_through_its_sitemaps() -> None:
    routes: dict[str, list[Any]] = {"/robots.txt": [Reply(200, b"User-agent: *\nAllow: /\n")],
                                    STORE_API_PATH: [Reply(404, NO_ROUTE, {"Content-Type": "application/json"})]}
    with scripted_server(routes) as (base, script):
        pages = {f"/product/kurta-{n}/": PAGE.format(url=f"{base}/product/kurta-{n}/", sku=f"WC{n}") for n in (1, 2)}
        urls = "".join(f"<url><loc>{base}{path}</loc></url>" for path in pages)
        routes["/sitemap.xml"] = [Reply(200, f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
                                        .encode())]
        routes.update({path: [Reply(200, page.encode(), {"Content-Type": "text/html"})] for path, page in pages.items()})
        records, report = crawl(site_settings("wp", base))
    assert report.platform == "woocommerce", report.stopped_reason
    assert "rest_no_route" in report.platform_evidence
    assert sorted(r.product_id for r in records) == ["WC1", "WC2"] and not report.errors
    assert script.paths().count(f"{STORE_API_PATH}?per_page=5&page=1") == 1


def test_a_json_list_that_is_no_product_listing_is_not_woocommerce() -> None:
    routes = {"/robots.txt": [Reply(404)],
              STORE_API_PATH: [Reply(200, b'[{"id": 1, "title": {"rendered": "Hello world"}}]',
                                     {"Content-Type": "application/json"})]}
    with scripted_server(routes) as (base, script):
        records, report = crawl(site_settings("blog", base))
    assert records == [] and report.failed and "platform not recognised" in (report.stopped_reason or "")
    assert script.paths().count(f"{STORE_API_PATH}?per_page=5&page=1") == 1


# A killed crawl's resume (as tests/test_crawl_resume.py does for Shopify). ------------------------------

def comparable(records: list[ProductRecord]) -> list[dict[str, Any]]:
    return sorted(({k: v for k, v in r.to_dict().items() if k != "crawled_at"} for r in records),
                  key=lambda row: row["product_id"])


@pytest.mark.slow
def test_a_killed_crawl_resumes_without_fetching_finished_pages_again(tmp_path: Path, platform_store) -> None:  # noqa: ANN001
    settings = configured(CrawlConfig, "crawl.collections.terms=[]", snapshot="kill", min_delay_s=0.0,
                          woocommerce_page_size=2)
    site = site_settings(SITE, platform_store.base_url(SITE))
    platform_store.faults.slow_s = 0.15
    db = tmp_path / "frontier.sqlite"
    done_at_kill = kill_crawl_after(3, db, site, settings, WEB)
    pages = math.ceil(len(platform_store.world.products(SITE)) / 2)
    assert 3 <= done_at_kill < pages, "kill the crawl halfway"
    before = Counter(listing_requests(platform_store))

    resumed, report = crawl(site, settings, db)
    after = Counter(listing_requests(platform_store))
    assert not report.errors and report.platform_evidence == "a previous run of this snapshot"
    assert len([url for url, n in after.items() if n > 1]) <= 1, "only the page in flight may be fetched again"
    assert sum(after.values()) - sum(before.values()) == pages - done_at_kill  # no probe, no finished page

    platform_store.faults.slow_s = 0.0
    uninterrupted, _ = crawl(site, settings)
    assert comparable(resumed) == comparable(uninterrupted)
    assert len(resumed) == len(platform_store.world.products(SITE))


# The mapping, on Store API products written as real stores answer. -------------------------------------

VARIABLE = {
    "id": 4821, "name": "Kurta &#8211; Embroidered Lawn", "slug": "embroidered-lawn-kurta", "parent": 0,
    "type": "variable", "variation": "", "permalink": "https://shop.example.pk/product/embroidered-lawn-kurta/",
    "sku": "EL-4821", "short_description": "<p>Three colours, one cut.</p>",
    "description": "<p>An embroidered <strong>lawn</strong> kurta.</p>\n<ul><li>Fabric: Lawn</li></ul>",
    "on_sale": True,
    "prices": {"price": "449000", "regular_price": "499000", "sale_price": "449000",
               "price_range": {"min_amount": "449000", "max_amount": "529000"}, "currency_code": "PKR",
               "currency_symbol": "₨", "currency_minor_unit": 2, "currency_decimal_separator": ".",
               "currency_thousand_separator": ",", "currency_prefix": "₨ ", "currency_suffix": ""},
    "price_html": "<span class=\"woocommerce-Price-amount amount\">₨ 4,490</span>",
    "average_rating": "0", "review_count": 0,
    "images": [
        {"id": 91, "src": "https://shop.example.pk/wp-content/uploads/2026/03/el-4821-navy-blue.jpg",
         "thumbnail": "https://shop.example.pk/wp-content/uploads/2026/03/el-4821-navy-blue-300x300.jpg",
         "srcset": "", "sizes": "", "name": "el-4821-navy-blue", "alt": "Embroidered kurta in navy blue"},
        {"id": 92, "src": "https://shop.example.pk/wp-content/uploads/2026/03/el-4821-b.jpg", "thumbnail": "",
         "srcset": "", "sizes": "", "name": "el-4821-b", "alt": "Blue"},
        {"id": 93, "src": "https://shop.example.pk/wp-content/uploads/2026/03/el-4821-navy-blue.jpg?ver=2",
         "thumbnail": "", "srcset": "", "sizes": "", "name": "el-4821-navy-blue", "alt": ""},
        {"id": 94, "src": "https://shop.example.pk/wp-content/uploads/2026/03/el-4821-detail.jpg", "thumbnail": "",
         "srcset": "", "sizes": "", "name": "el-4821-detail", "alt": "Neckline detail"},
    ],
    "categories": [{"id": 15, "name": "Uncategorized", "slug": "uncategorized", "link": "https://shop.example.pk/c/"},
                   {"id": 31, "name": "Kurtas &amp; Kurtis", "slug": "kurtas", "link": "https://shop.example.pk/k/"}],
    "tags": [{"id": 7, "name": "Eid", "slug": "eid", "link": ""}, {"id": 8, "name": "Lawn", "slug": "lawn", "link": ""}],
    "brands": [],
    "attributes": [
        {"id": 1, "name": "Color", "taxonomy": "pa_color", "has_variations": True,
         "terms": [{"id": 21, "name": "Blue", "slug": "blue", "default": False},
                   {"id": 22, "name": "Navy Blue", "slug": "navy-blue", "default": True}]},
        {"id": 2, "name": "Size", "taxonomy": "pa_size", "has_variations": True,
         "terms": [{"id": 31, "name": "S", "slug": "s", "default": False},
                   {"id": 32, "name": "M", "slug": "m", "default": False}]},
        {"id": 0, "name": "Fabric", "taxonomy": None, "has_variations": False,
         "terms": [{"id": 0, "name": "Lawn", "slug": "lawn", "default": False}]},
    ],
    "variations": [{"id": 4822, "attributes": [{"name": "Color", "value": "navy-blue"}, {"name": "Size", "value": "s"}]},
                   {"id": 4823, "attributes": [{"name": "pa_color", "value": "blue"}, {"name": "Size", "value": "m"}]}],
    "grouped_products": [], "has_options": True, "is_purchasable": True, "is_in_stock": True,
    "is_on_backorder": False, "low_stock_remaining": None, "sold_individually": False,
    "add_to_cart": {"text": "Select options", "description": "", "url": "", "minimum": 1, "maximum": 9999,
                    "multiple_of": 1},
    "extensions": {},
}
SIMPLE = {
    "id": 77, "name": "Oud Attar 12ml", "slug": "oud-attar", "type": "simple", "permalink": "/product/oud-attar/",
    "sku": "", "short_description": "", "description": "", "images": [],
    "prices": {"price": "1890", "regular_price": "1890", "sale_price": "1890", "price_range": None,
               "currency_code": "PKR", "currency_minor_unit": 0},
    "categories": [{"id": 15, "name": "Uncategorized", "slug": "uncategorized", "link": ""}], "tags": [],
    "attributes": [], "variations": [],
}


def normalise(raw: dict[str, Any]) -> ProductRecord:
    return normalise_store_product(raw, site="shop", base_url="https://shop.example.pk", currency="USD",
                                   crawled_at="2026-11-26T00:00:00+00:00")


def test_a_variable_product_maps_to_one_record() -> None:
    record = normalise(VARIABLE)
    assert record.product_id == "4821" and record.handle == "embroidered-lawn-kurta"
    assert record.title == "Kurta – Embroidered Lawn"
    assert record.description == "Three colours, one cut. An embroidered lawn kurta. Fabric: Lawn"
    assert record.price == 4490.0 and record.currency == "PKR"
    assert record.category == "Kurtas & Kurtis" and record.tags == ["Eid", "Lawn"]
    assert record.product_url == VARIABLE["permalink"] and record.source == "woocommerce_store_api"
    # The ?ver=2 copy of the first image is the same file.
    assert record.image_urls == [image["src"] for image in VARIABLE["images"][:2]] + [VARIABLE["images"][3]["src"]]
    # "navy blue" is named before "blue"; the detail shot names no colour.
    assert record.image_colours == ["navy blue", "blue", ""]
    assert record.options == {"Color": ["Blue", "Navy Blue"], "Size": ["S", "M"], "Fabric": ["Lawn"]}
    assert [(v.title, v.options) for v in record.variants] == [("Navy Blue / S", ["Navy Blue", "S"]),
                                                               ("Blue / M", ["Blue", "M"])]
    assert record.skus == ["EL-4821"]


def test_a_simple_product_in_whole_rupees() -> None:
    record = normalise(SIMPLE)
    assert record.price == 1890.0 and record.category == "" and record.variants == []
    assert record.product_url == "https://shop.example.pk/product/oud-attar/"
    assert record.image_urls == record.image_colours == [] and record.skus == []


def test_malformed_products_and_amounts() -> None:
    with pytest.raises(ValueError, match="no product id"):
        normalise({**SIMPLE, "id": None})
    assert normalise({**SIMPLE, "prices": "free"}).price is None
    assert minor_units("499000", 2) == 4990.0 and minor_units("4990.00", 2) == 4990.0
    assert minor_units(None, 2) is None and minor_units("", 2) is None and minor_units("12", "x") == 0.12


def test_a_truncated_store_api_page_keeps_its_whole_products() -> None:
    body = json.dumps([VARIABLE, SIMPLE, {**SIMPLE, "id": 78}]).encode()
    with pytest.raises(MalformedPageError) as caught:
        parse_json_list(body[:-40], "u", None, marker="permalink")
    salvage = caught.value.salvage
    assert salvage is not None and [item["id"] for item in salvage.items] == [4821, 77]
    assert [item["id"] for item in parse_json_list(body, "u", None, marker="permalink").items] == [4821, 77, 78]


def test_page_size_stays_within_what_the_store_api_accepts(platform_store) -> None:  # noqa: ANN001
    assert store_page_size(250) == 100 and store_page_size(0) == 1 and store_page_size(40) == 40
    site = platform_store.world.sites[SITE]
    refused = woo_pages.listing(site, platform_store.port, {"per_page": ["101"]})
    assert refused.status == 400 and json.loads(refused.body)["code"] == "rest_invalid_param"
    page = woo_pages.listing(site, platform_store.port, {"per_page": ["100"], "page": ["1"]})
    assert dict(page.headers)["X-WP-Total"] == str(len(site.products))
