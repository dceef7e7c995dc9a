"""The Salesforce Commerce Cloud adapter on demo_sfcc: colour pages joined into master products, the
largest rendition of each photo once, Crawl-delay and Disallow honoured, the grid never requested."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from pakfashion.config import CrawlConfig
from pakfashion.crawling.record import ProductRecord
from pakfashion.crawling.sfcc import (
    collapse_renditions,
    largest_rendition,
    merge_variations,
    read_sfcc_page,
)
from pakfashion.crawling.site import CrawlReport, crawl_site
from pakfashion.demo.sfcc_pages import GRID_PATH, variation_pages
from pakfashion.web.frontier import Frontier
from tests.helpers import configured, quick_web, site_settings
from tests.helpers.crawl import FAULTS

pytestmark = pytest.mark.network

SETTINGS = configured(CrawlConfig, snapshot="sfcc", min_delay_s=0.0)
NAME = "demo_sfcc"
DW = "http://shop.example/dw/image/v2/BKQK_PRD/on/demandware.static/-/Sites-khaadi-master-catalog/default"


def crawl(server, **site: Any) -> tuple[list[ProductRecord], CrawlReport]:  # noqa: ANN001
    with Frontier(Path(tempfile.mkdtemp()) / "frontier.sqlite") as frontier:
        return crawl_site(site_settings(NAME, server.base_url(NAME), **site), SETTINGS, quick_web(), frontier=frontier)


def expected(server) -> dict[str, dict[str, Any]]:  # noqa: ANN001
    """Per master id: its colours and its photos (the original rendition), in sitemap order."""
    site = server.world.sites[NAME]
    netloc = site.netloc(server.port)
    truth: dict[str, dict[str, Any]] = {}
    for page in variation_pages(site):
        entry = truth.setdefault(page.master_id, {"product": page.product, "colours": [], "images": [], "image_colours": []})
        if page.colour:
            entry["colours"].append(page.colour.title())
        for spec in page.specs:
            entry["images"].append(f"http://{netloc}{spec.path}")
            entry["image_colours"].append(page.colour or "")
    return truth


def test_every_master_product_once_with_its_colours_and_largest_photos(platform_store) -> None:  # noqa: ANN001
    records, report = crawl(platform_store)
    truth = expected(platform_store)
    assert report.platform == "sfcc" and "robots.txt names demandware" in report.platform_evidence
    assert report.errors == []
    by_id = {record.product_id: record for record in records}
    assert len(by_id) == len(records) and set(by_id) == set(truth)
    assert report.platform_details["variation_pages"] == len(variation_pages(platform_store.world.sites[NAME]))
    for master, entry in truth.items():
        record = by_id[master]
        assert record.title == entry["product"].title
        assert record.price == float(entry["product"].shopify["variants"][0]["price"])
        # One URL per photo, in page order, with no rendition parameters: no thumbnail, zoom or swatch copy.
        assert record.image_urls == entry["images"], master
        assert record.image_colours == entry["image_colours"], master
        assert record.options == ({"Color": entry["colours"]} if entry["colours"] else {})
        assert master in record.skus and all(v.sku.startswith(master) for v in record.variants)
    colourways = [r for r in records if len(r.options.get("Color", [])) > 1]
    assert len(colourways) == 3 and {r.source for r in records} == {"jsonld", "sfcc_markup"}


def test_crawl_delay_disallow_and_no_listing_grid(platform_store) -> None:  # noqa: ANN001
    site = platform_store.world.sites[NAME]
    site.crawl_delay_s = 0.2
    crawl(platform_store)
    log = [r for r in platform_store.request_log if r.site == NAME]
    assert log[0].path == "/robots.txt"
    gaps = [later.time - earlier.time for earlier, later in zip(log[1:], log[2:])]
    assert min(gaps) >= 0.2 - 0.02, gaps
    assert not [r.path for r in log if r.path.startswith("/on/demandware.store/") or "Search-UpdateGrid" in r.path]
    assert not [r.path for r in log if "/images/" in r.path], "no image is requested while crawling"
    assert GRID_PATH.startswith("/on/demandware.store/")


@pytest.mark.parametrize(("fault", "switches"), FAULTS, ids=[f for f, _ in FAULTS])
def test_fault_loses_no_product(platform_store, fault: str, switches: dict[str, Any]) -> None:  # noqa: ANN001
    for key, value in switches.items():
        setattr(platform_store.faults, key, value)
    records, report = crawl(platform_store)
    assert {r.product_id for r in records} == set(expected(platform_store))
    assert report.errors == []


def test_the_hint_is_confirmed_or_overridden(platform_store) -> None:  # noqa: ANN001
    confirmed = crawl(platform_store, platform_hint="sfcc")[1]
    overridden = crawl(platform_store, platform_hint="shopify")[1]
    assert (confirmed.platform, confirmed.hint_confirmed) == ("sfcc", True)
    assert (overridden.platform, overridden.hint_confirmed) == ("sfcc", False)


def test_atelier_pages_still_read_as_plain_sitemap_products(demo_store) -> None:  # noqa: ANN001
    """The generic sitemap adapter, forced, still finds every product of the SFCC-like atelier."""
    with Frontier(Path(tempfile.mkdtemp()) / "frontier.sqlite") as frontier:
        site = site_settings("demo_atelier", demo_store.base_url("demo_atelier"), platform="sitemap")
        records, report = crawl_site(site, SETTINGS, quick_web(), frontier=frontier)
    assert report.platform == "sitemap" and len(records) == len(demo_store.world.products("demo_atelier"))


def test_largest_rendition_drops_only_dynamic_imaging_parameters() -> None:
    url = f"{DW}/dw1a2b3c4d/images/hi-res/A11-26-216FA1-VG_MULTI_1.jpg?sw=800&sh=1200&sm=fit&v=3"
    assert largest_rendition(url) == f"{DW}/dw1a2b3c4d/images/hi-res/A11-26-216FA1-VG_MULTI_1.jpg?v=3"
    assert largest_rendition("https://cdn.shopify.com/s/files/a.jpg?width=800") == \
        "https://cdn.shopify.com/s/files/a.jpg?width=800"


def test_thumbnail_zoom_and_swatch_copies_collapse_to_one_photo() -> None:
    hires = f"{DW}/dw1a2b3c4d/images/hi-res/A11_1.jpg"
    urls = [f"{DW}/dw99999999/images/thumbnail/A11_1.jpg?sw=120", f"{hires}?sw=800&sh=1200", f"{hires}?sw=2000",
            f"{DW}/dw00000000/images/swatch/A11_swatch.jpg?sw=30", f"{DW}/dw1a2b3c4d/images/hi-res/A11_2.jpg?sw=800"]
    assert collapse_renditions(urls) == [hires, f"{DW}/dw1a2b3c4d/images/hi-res/A11_2.jpg"]


MARKUP_ONLY = """<html><head><link rel="canonical" href="https://pk.shop.example/kurta/K-1.html"></head><body>
<div class="minicart"><div class="product-tile" data-pid="BAG-9"><img src="/bag.jpg"></div></div>
<ol class="breadcrumb"><li class="breadcrumb-item"><a href="/">Home</a></li><li class="breadcrumb-item">
<a href="/kids/">Kids</a></li></ol>
<div class="product-detail product-wrapper" data-pid="K-1-RED" data-master-pid="K-1">
<div class="primary-images"><img src="/dw/image/v2/X/on/demandware.static/-/Sites-m/default/dwabcdef12/images/hi-res/K-1-RED_1.jpg?sw=800"></div>
<h1 class="product-name">Red Lawn Kurta</h1>
<span class="value" content="4990.00">PKR 4,990</span>
<div class="attribute" data-attr="color"><span class="attr-display-value">Red</span></div>
<div class="description-and-detail"><div class="content">Soft <b>lawn</b>.</div></div></div></body></html>"""


def test_a_page_without_json_ld_is_read_from_its_sfcc_markup() -> None:
    product, how = read_sfcc_page(MARKUP_ONLY, [])
    assert how == "sfcc_markup"
    assert (product["name"], product["prices"], product["sku"], product["group_id"], product["color"]) == \
        ("Red Lawn Kurta", ["4990.00"], "K-1-RED", "K-1", "Red")
    assert product["description"].startswith("Soft") and "lawn" in product["description"]
    assert product["images"] == ["/dw/image/v2/X/on/demandware.static/-/Sites-m/default/dwabcdef12/images/hi-res/K-1-RED_1.jpg"]
    assert product["breadcrumbs"] == ["Home", "Kids"]


def test_colour_pages_merge_into_one_product() -> None:
    def page(colour: str, price: float) -> tuple[ProductRecord, str]:
        return ProductRecord(site="s", product_id=f"K-1-{colour.upper()}", product_url=f"https://x/K-1-{colour}.html",
                             title="Lawn Kurta", description="", category="", tags=[colour], price=price,
                             currency="PKR", image_urls=[f"https://x/{colour}_1.jpg", f"https://x/{colour}_2.jpg"],
                             crawled_at="", source="sfcc_markup"), colour

    merged = merge_variations("K-1", [page("Red", 4990.0), page("Navy", 4590.0)])
    assert (merged.product_id, merged.price, merged.options) == ("K-1", 4590.0, {"Color": ["Red", "Navy"]})
    assert merged.image_colours == ["red", "red", "navy", "navy"] and len(merged.image_urls) == 4
    assert merged.skus == ["K-1", "K-1-RED", "K-1-NAVY"]
