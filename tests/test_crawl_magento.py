"""The Magento 2 adapter: the GraphQL products query on the demo store (detection, completeness,
politeness, every fault, a store's limits, resuming), the sitemap + JSON-LD fallback where GraphQL is off
or disallowed, and the mapping of a real-shaped GraphQL answer."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pakfashion.config import CrawlConfig
from pakfashion.crawling.magento import (
    GraphQlError,
    GraphQlListing,
    gallery_urls,
    magento_marker,
    normalise_magento_product,
    parse_graphql_page,
)
from pakfashion.crawling.record import ProductRecord
from pakfashion.crawling.shopify import MalformedPageError
from pakfashion.crawling.site import CrawlReport, crawl_site
from pakfashion.demo import magento_pages
from pakfashion.demo.world import DemoProduct
from pakfashion.web import Response
from pakfashion.web.frontier import Frontier
from tests.helpers import configured, quick_web, site_settings
from tests.helpers.crawl import FAULTS
from tests.helpers.http import Reply, scripted_server

pytestmark = pytest.mark.network

SITE = "demo_magento"
# Pages of 5: the demo's 18 products take four GraphQL pages.
SETTINGS = configured(CrawlConfig, snapshot="magento", min_delay_s=0.0, magento_page_size=5)


def crawl_at(name: str, base_url: str, settings: CrawlConfig = SETTINGS, frontier_file: Path | None = None,
             ) -> tuple[list[ProductRecord], CrawlReport]:
    """A site crawled with ``platform: auto``, in a fresh frontier unless one is given."""
    path = frontier_file or Path(tempfile.mkdtemp()) / "frontier.sqlite"
    with Frontier(path) as frontier:
        return crawl_site(site_settings(name, base_url), settings, quick_web(), frontier=frontier)


def crawl(demo, settings: CrawlConfig = SETTINGS, frontier_file: Path | None = None,  # noqa: ANN001
          ) -> tuple[list[ProductRecord], CrawlReport]:
    """demo_magento crawled with ``platform: auto``."""
    return crawl_at(SITE, demo.base_url(SITE), settings, frontier_file)


def truth(demo) -> dict[str, DemoProduct]:  # noqa: ANN001
    """The store's products by SKU (the product id both GraphQL and the pages' JSON-LD give)."""
    return {magento_pages.parent_sku(p): p for p in demo.world.products(SITE)}


def requests_to(demo, path: str | None = None) -> list[Any]:  # noqa: ANN001
    return [r for r in demo.request_log if r.site == SITE and (path is None or r.path == path)]


def assert_polite(demo) -> None:  # noqa: ANN001
    site = demo.world.sites[SITE]
    paths = [r.path for r in requests_to(demo)]
    assert paths[0] == "/robots.txt"
    assert not [p for p in paths if any(p.startswith(prefix) for prefix in site.disallowed_prefixes)]


def assert_same_products(demo, records: list[ProductRecord]) -> None:  # noqa: ANN001
    """Every product once, with its title, price and photos in the world's order."""
    expected = truth(demo)
    netloc = demo.world.sites[SITE].netloc(demo.port)
    assert sorted(r.product_id for r in records) == sorted(expected)
    for record in records:
        product = expected[record.product_id]
        assert record.title == product.title
        assert record.price == min(float(v["price"]) for v in product.shopify["variants"])
        assert record.image_urls == [spec.url(netloc) for spec in product.image_specs]
        assert record.product_url == magento_pages.product_url(product, demo.world.sites[SITE], demo.port)
        assert record.currency == "PKR"


def test_auto_detects_magento_and_lists_every_product(platform_store) -> None:  # noqa: ANN001
    records, report = crawl(platform_store)
    assert report.platform == "magento" and report.platform_evidence == "GraphQL products query (price_from_zero)"
    assert_same_products(platform_store, records)
    assert report.duplicates_skipped == 0 and report.errors == []
    details = report.platform_details
    assert details["listing"] == "graphql" and details["graphql_form"] == "price_from_zero"
    assert details["graphql_forms_refused"] == {"empty_search": "Internal server error"}
    assert details["graphql_pages"] == 4 and details["total_count"] == 18 and details["listing_complete"]
    by_id = {r.product_id: r for r in records}
    colourways = [p for p in truth(platform_store).values() if p.colourway]
    assert len(colourways) == 2
    for product in colourways:
        record = by_id[magento_pages.parent_sku(product)]
        assert record.options == {"Color": [c.title() for c in product.colourway]}
        assert record.image_colours == list(product.colourway)
        assert [v.options for v in record.variants] == [[c.title()] for c in product.colourway]
        assert len(record.skus) == 1 + len(product.colourway)
    for product in truth(platform_store).values():
        record = by_id[magento_pages.parent_sku(product)]
        assert record.category == (str(product.shopify["product_type"]) or magento_pages.top_category(product))
        assert record.source == "magento_graphql" and record.handle == product.handle
        if not product.colourway:
            assert record.image_colours == [""] * len(record.image_urls)
    assert_polite(platform_store)


def test_the_probe_is_page_one(platform_store) -> None:  # noqa: ANN001
    """Where ``search: ""`` lists the catalogue, detection's one GraphQL request is the listing's page 1."""
    magento_pages.switches(platform_store).empty_search = True
    records, report = crawl(platform_store)
    assert report.platform_details["graphql_form"] == "empty_search"
    assert "graphql_forms_refused" not in report.platform_details
    assert len(records) == 18 and len(requests_to(platform_store, "/graphql")) == 4


def test_the_query_adapts_to_the_stores_limits_and_schema(platform_store) -> None:  # noqa: ANN001
    store = magento_pages.switches(platform_store)
    store.max_page_size, store.missing_fields = 7, frozenset({"uid", "url_suffix"})
    records, report = crawl(platform_store, configured(CrawlConfig, snapshot="m", min_delay_s=0.0,
                                                       magento_page_size=50))
    assert_same_products(platform_store, records)
    details = report.platform_details
    assert details["page_size"] == 7 and details["graphql_omitted_fields"] == ["uid", "url_suffix"]
    assert details["graphql_pages"] == 3 and report.errors == []


def test_a_killed_crawl_resumes_from_its_frontier(platform_store, tmp_path: Path) -> None:  # noqa: ANN001
    frontier_file = tmp_path / "frontier.sqlite"
    first, _ = crawl(platform_store, frontier_file=frontier_file)
    platform_store.clear_log()
    again, report = crawl(platform_store, frontier_file=frontier_file)
    assert sorted(r.product_id for r in again) == sorted(r.product_id for r in first)
    assert requests_to(platform_store, "/graphql") == []
    assert report.platform_details["graphql_form"] == "price_from_zero"


@pytest.mark.parametrize("mode", ["on", "disallowed"])
def test_crawl_delay_and_robots_are_honoured(platform_store, mode: str) -> None:  # noqa: ANN001
    delay = 0.2
    platform_store.world.sites[SITE].crawl_delay_s = delay
    magento_pages.switches(platform_store).graphql = mode  # type: ignore[assignment]
    records, report = crawl(platform_store)
    assert len(records) == 18 and report.errors == []
    log = requests_to(platform_store)
    # The log's times are when each answer was ready: a slow answer shortens the gap after it by as
    # much as it lengthens the one before, so the gaps are checked one by one loosely, on average tightly.
    gaps = [later.time - earlier.time for earlier, later in zip(log, log[1:])]
    assert len(gaps) >= 5 and min(gaps) >= delay * 0.7 and sum(gaps) / len(gaps) >= delay - 0.01, gaps
    assert_polite(platform_store)
    if mode == "disallowed":
        assert not [r for r in log if r.path == "/graphql" or r.query]


@pytest.mark.parametrize("mode", ["off", "disallowed"])
def test_without_graphql_the_sitemap_pages_give_every_product(platform_store, mode: str) -> None:  # noqa: ANN001
    magento_pages.switches(platform_store).graphql = mode  # type: ignore[assignment]
    records, report = crawl(platform_store)
    assert report.platform == "magento" and report.errors == []
    assert_same_products(platform_store, records)
    assert {r.source for r in records} == {"jsonld"}
    details = report.platform_details
    assert details["listing"] == "sitemap" and details["products_listed"] == 18
    marker = details["magento_marker"]
    assert marker == ("the GraphQL answer's" if mode == "off" else "the home page's") + " header x-magento-cache-debug"
    assert len(requests_to(platform_store, "/graphql")) == (1 if mode == "off" else 0)
    assert_polite(platform_store)


@pytest.mark.parametrize("mode", ["on", "off"])
@pytest.mark.parametrize(("fault", "switches"), FAULTS, ids=[f for f, _ in FAULTS])
def test_fault_loses_no_product(platform_store, mode: str, fault: str, switches: dict[str, Any]) -> None:  # noqa: ANN001
    magento_pages.switches(platform_store).graphql = mode  # type: ignore[assignment]
    for key, value in switches.items():
        setattr(platform_store.faults, key, value)
    records, report = crawl(platform_store)
    assert sorted(r.product_id for r in records) == sorted(truth(platform_store))
    assert report.platform == "magento" and report.errors == []
    assert report.platform_details["listing"] == ("graphql" if mode == "on" else "sitemap")
    assert_polite(platform_store)


def test_graphql_broken_for_good_falls_back_to_the_sitemap(platform_store) -> None:  # noqa: ANN001
    platform_store.faults.truncated_paths = {"/graphql"}
    records, report = crawl(platform_store)
    assert sorted(r.product_id for r in records) == sorted(truth(platform_store))
    assert report.platform == "magento" and report.platform_details["listing"] == "sitemap"
    # Three reads of page 1 (two re-reads), then one line for it.
    assert len(requests_to(platform_store, "/graphql")) == 3
    assert len(report.errors) == 1 and "(page 1)" in report.errors[0] and "not JSON" in report.errors[0]


def test_a_lost_page_is_one_line_and_the_listing_goes_on() -> None:
    listing = GraphQlListing("empty_search", 2)

    def page(number: int, skus: list[str]) -> Reply:
        products = {"total_count": 5, "page_info": {"current_page": number, "page_size": 2, "total_pages": 3},
                    "items": [{"sku": sku, "name": sku, "url_key": sku.lower()} for sku in skus]}
        return Reply(200, json.dumps({"data": {"products": products}}).encode(), {"Content-Type": "application/json"})

    routes = {"/robots.txt": [Reply(404)], listing.url("", 1): [page(1, ["A", "B"])],
              listing.url("", 2): [Reply(200, b'{"data": {"products": {"items": [{"sku": "C"', {"Content-Type": "application/json"})],
              listing.url("", 3): [page(3, ["E"])]}
    with scripted_server(routes) as (base, script):
        records, report = crawl_at("scripted", base, replace(SETTINGS, magento_page_size=2))
    assert [r.product_id for r in records] == ["A", "B", "E"] and report.platform == "magento"
    assert len(report.errors) == 1 and "(page 2)" in report.errors[0] and "not JSON" in report.errors[0]
    assert script.paths().count(listing.url("", 2)) == 3
    assert report.platform_details["listing_complete"] is False


# -- the mapping, on a hand-written answer in Magento 2.4's shapes -------------------------------------

BASE = "https://shop.example.pk"
MEDIA = f"{BASE}/media/catalog/product"


def _image(path: str, position: int, disabled: bool = False) -> dict[str, Any]:
    return {"url": f"{MEDIA}{path}", "label": "Chaz Kangeroo Hoodie", "position": position, "disabled": disabled}


def _variant(sku: str, colour: str, size: str, photo: str) -> dict[str, Any]:
    return {"attributes": [{"code": "color", "label": colour}, {"code": "size", "label": size}],
            "product": {"sku": sku, "stock_status": "IN_STOCK" if size == "M" else "OUT_OF_STOCK",
                        "media_gallery": [_image(photo, 1)],
                        "price_range": {"minimum_price": {"final_price": {"value": 52},
                                                          "regular_price": {"value": 65}}}}}


HOODIE = {
    "__typename": "ConfigurableProduct", "uid": "Njc=", "sku": "MH01", "name": "Chaz Kangeroo Hoodie",
    "url_key": "chaz-kangeroo-hoodie", "url_suffix": ".html", "canonical_url": None, "stock_status": "IN_STOCK",
    "description": {"html": "<p>Ideal for cold-weather training.</p><ul><li>Two-tone gray heather.</li></ul>"},
    "short_description": {"html": ""},
    "price_range": {"minimum_price": {"final_price": {"value": 52, "currency": "PKR"},
                                      "regular_price": {"value": 65, "currency": "PKR"}}},
    "media_gallery": [_image("/m/h/mh01-gray_back_1.jpg", 2), _image("/m/h/mh01-swatch.jpg", 0, disabled=True),
                      _image("/m/h/mh01-gray_main_1.jpg", 1)],
    "categories": [{"name": "Men", "url_path": "men"}, {"name": "Hoodies & Sweatshirts",
                                                        "url_path": "men/tops-men/hoodies-and-sweatshirts-men"},
                   {"name": "Tops", "url_path": "men/tops-men"}],
    "configurable_options": [
        {"attribute_code": "color", "label": "Color", "values": [{"label": "Black"}, {"label": "Gray"}]},
        {"attribute_code": "size", "label": "Size", "values": [{"label": "M"}, {"label": "L"}]}],
    "variants": [_variant("MH01-M-Black", "Black", "M", "/m/h/mh01-black_main_1.jpg"),
                 _variant("MH01-L-Black", "Black", "L", "/m/h/mh01-black_main_1.jpg"),
                 _variant("MH01-M-Gray", "Gray", "M", "/m/h/mh01-gray_main_1.jpg")],
}
ANSWER = {"data": {"products": {"total_count": 181, "page_info": {"current_page": 2, "page_size": 1, "total_pages": 181},
                                "items": [HOODIE]}}}


def normalised(raw: dict[str, Any]) -> ProductRecord:
    return normalise_magento_product(raw, site="shop", base_url=BASE, currency="USD", crawled_at="now")


def test_a_configurable_product_is_mapped() -> None:
    page = parse_graphql_page(json.dumps(ANSWER).encode(), f"{BASE}/graphql?query=x")
    assert (page.total_pages, page.total_count, page.problems) == (181, 181, [])
    record = normalised(page.items[0])
    assert (record.product_id, record.title, record.price, record.currency) == ("MH01", "Chaz Kangeroo Hoodie", 52.0, "PKR")
    assert record.product_url == f"{BASE}/chaz-kangeroo-hoodie.html" and record.handle == "chaz-kangeroo-hoodie"
    assert record.description == "Ideal for cold-weather training. Two-tone gray heather."
    assert record.category == "Hoodies & Sweatshirts" and record.tags == ["Men", "Hoodies & Sweatshirts", "Tops"]
    # The gallery by position (the disabled swatch left out), then the colour variants' own photos.
    assert record.image_urls == [f"{MEDIA}/m/h/mh01-gray_main_1.jpg", f"{MEDIA}/m/h/mh01-gray_back_1.jpg",
                                 f"{MEDIA}/m/h/mh01-black_main_1.jpg"]
    assert record.image_colours == ["gray", "", "black"]
    assert record.options == {"Color": ["Black", "Gray"], "Size": ["M", "L"]}
    assert record.skus == ["MH01", "MH01-M-Black", "MH01-L-Black", "MH01-M-Gray"]
    first = record.variants[0]
    assert (first.title, first.options, first.price, first.compare_at_price, first.available) == (
        "Black / M", ["Black", "M"], 52.0, 65.0, True)
    assert record.variants[1].available is False


def test_a_simple_product_and_missing_fields() -> None:
    simple = {"__typename": "SimpleProduct", "sku": "24-MB01", "name": " Joust Duffle Bag ", "url_key": "joust-duffle-bag",
              "canonical_url": "gear/joust-duffle-bag.html", "media_gallery": [{"url": "/media/a.jpg"}],
              "price_range": {"minimum_price": {"final_price": {"value": "34.00"}}}}
    record = normalised(simple)
    assert record.product_url == f"{BASE}/gear/joust-duffle-bag.html" and record.title == "Joust Duffle Bag"
    assert (record.price, record.currency, record.options, record.variants) == (34.0, "USD", {}, [])
    assert record.image_urls == [f"{BASE}/media/a.jpg"] and record.image_colours == [""]
    assert normalised({"uid": "MTI=", "name": "No key"}).product_url == f"{BASE}/catalog/product/view/id/12"
    with pytest.raises(ValueError):
        normalised({"name": "neither sku nor uid"})


def test_gallery_order_and_disabled_images() -> None:
    entries = [{"url": "c", "position": None}, {"url": "b", "position": 2}, {"url": "x", "position": 1, "disabled": True},
               {"url": "a", "position": 1}, {"position": 0}, "junk"]
    assert gallery_urls(entries) == ["a", "b", "c"]


def test_graphql_errors_broken_json_and_other_answers() -> None:
    refused = {"errors": [{"message": "Maximum pageSize is 300", "extensions": {"category": "graphql-input"},
                           "locations": [{"line": 1, "column": 2}], "path": ["products"]}], "data": {"products": None}}
    with pytest.raises(GraphQlError) as err:
        parse_graphql_page(json.dumps(refused).encode(), "u")
    assert err.value.messages == ["Maximum pageSize is 300"]
    body = json.dumps({"data": {"products": {"items": [HOODIE, {**HOODIE, "sku": "MH02"}]}}}).encode()
    with pytest.raises(MalformedPageError) as broken:
        parse_graphql_page(body[: len(body) * 3 // 4], "u")
    assert broken.value.salvage is not None and [i["sku"] for i in broken.value.salvage.items] == ["MH01"]
    with pytest.raises(MalformedPageError):
        parse_graphql_page(b'{"data": {"storeConfig": {}}}', "u")
    partial = {"errors": [{"message": "Internal server error"}], "data": {"products": {"items": [HOODIE]}}}
    page = parse_graphql_page(json.dumps(partial).encode(), "u")
    assert len(page.items) == 1 and "Internal server error" in page.problems[0]


def test_the_listing_adapts_to_what_the_store_says() -> None:
    listing = GraphQlListing("empty_search", 500)
    query = listing.query(3)
    assert query.startswith('{products(search:"",pageSize:500,currentPage:3,sort:{name:ASC}){total_count ')
    assert "media_gallery{url label position disabled}" in query and "... on ConfigurableProduct{" in query
    assert listing.url(BASE, 1).startswith(f"{BASE}/graphql?query=%7Bproducts%28search")
    smaller = listing.adjusted(["Maximum pageSize is 300"])
    assert smaller == GraphQlListing("empty_search", 300)
    older = smaller.adjusted(['Cannot query field "uid" on type "ProductInterface".'])
    assert older is not None and older.omitted == ("uid",) and " uid " not in older.query(1)
    unsorted = older.adjusted(['Field "name" is not defined by type "ProductAttributeSortInput".'])
    assert unsorted is not None and "sort:" not in unsorted.query(1)
    assert unsorted.adjusted(["Internal server error"]) is None
    assert listing.adjusted(['Cannot query field "media_gallery" on type "ProductInterface".']) is None


def test_magento_markers() -> None:
    def response(headers: dict[str, list[str]], body: bytes = b"") -> Response:
        return Response(status=404, headers=headers, body=body, url=BASE)

    assert magento_marker(response({"x-magento-tags": ["FPC"]}), "the page") == "the page's header x-magento-tags"
    assert magento_marker(response({"set-cookie": ["X-Magento-Vary=abc; path=/"]}), "it") == "it's cookie X-Magento-Vary"
    page = b'<script type="text/x-magento-init">{}</script>'
    assert magento_marker(response({}, page), "the home page") == "the home page names text/x-magento-init"
    assert magento_marker(response({}, b"<html>Shopify.shop</html>"), "x") == ""
    assert magento_marker(None, "x") == ""
