"""Every demo-store fault, on a Shopify site and on the sitemap + JSON-LD site: no product lost,
no disallowed URL requested, one clear error per bad page."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from pakfashion.config import CrawlConfig
from pakfashion.crawling.record import ProductRecord
from pakfashion.crawling.site import CrawlReport, crawl_site
from pakfashion.web.frontier import Frontier
from tests.helpers import configured, quick_web, site_settings
from tests.helpers.crawl import FAULTS, assert_polite

pytestmark = pytest.mark.network

SETTINGS = configured(CrawlConfig, snapshot="faults", min_delay_s=0.0, page_size=10)


def crawl(demo, name: str) -> tuple[list[ProductRecord], CrawlReport]:  # noqa: ANN001
    with Frontier(Path(tempfile.mkdtemp()) / "frontier.sqlite") as frontier:
        return crawl_site(site_settings(name, demo.base_url(name)), SETTINGS, quick_web(), frontier=frontier)


def expected_id(product) -> str:  # noqa: ANN001
    """Shopify: the product id. Atelier: the sku (JSON-LD's, or the SFCC markup's where only Open Graph is left)."""
    return product.sku if hasattr(product, "sku") else str(product.id)


def truth(demo, name: str) -> set[str]:  # noqa: ANN001
    return {expected_id(p) for p in demo.world.products(name)}


@pytest.mark.parametrize("name", ["demo_shop", "demo_atelier"])
@pytest.mark.parametrize(("fault", "switches"), FAULTS, ids=[f for f, _ in FAULTS])
def test_fault_loses_no_product(demo_store, name: str, fault: str, switches: dict[str, Any]) -> None:  # noqa: ANN001
    for key, value in switches.items():
        setattr(demo_store.faults, key, value)
    records, report = crawl(demo_store, name)
    assert {r.product_id for r in records} == truth(demo_store, name)
    assert report.platform == ("shopify" if name == "demo_shop" else "sfcc")
    assert_polite(demo_store, name)
    if fault == "redirect_traps" and name == "demo_atelier":
        assert any("redirects" in e for e in report.errors) and any("allowed hosts" in e for e in report.errors)
    elif fault != "redirect_traps":
        assert report.errors == []


def test_sitemap_site_reads_jsonld_shapes_and_open_graph(demo_store) -> None:  # noqa: ANN001
    records, report = crawl(demo_store, "demo_atelier")
    by_id = {r.product_id: r for r in records}
    sources = {r.source for r in records}
    assert sources == {"jsonld", "open_graph"}
    for product in demo_store.world.products("demo_atelier"):
        record = by_id[expected_id(product)]
        assert record.title and record.image_urls and record.price == pytest.approx(product.price)
        assert record.currency == "PKR"
    assert report.pages["without_product"] == 0


def test_noai_pages_are_skipped_and_counted(demo_store) -> None:  # noqa: ANN001
    product = demo_store.world.products("demo_atelier")[3]
    demo_store.faults.noai_pages = {product.page_path}
    records, report = crawl(demo_store, "demo_atelier")
    assert product.sku not in {r.product_id for r in records}
    assert report.pages["opted_out"] == 1
    assert report.pages["x_robots_tag"] == {"noai, noimageai": 1}


@pytest.mark.parametrize("name", ["demo_shop", "demo_atelier"])
def test_bot_challenges_stop_the_site(demo_store, name: str) -> None:  # noqa: ANN001
    demo_store.faults.captcha_sites = {name}
    records, report = crawl(demo_store, name)
    assert records == []
    assert report.stopped_reason and report.stopped_reason.startswith("blocked")
    assert len([r for r in demo_store.request_log if r.site == name]) <= 5
