"""Shopify collection membership in the crawl: recorded for signalled collections, within the budget."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from pakfashion.common.files import read_json, read_jsonl
from pakfashion.config import CollectionsConfig, CrawlConfig
from pakfashion.contracts import CRAWL_REPORT_FILE, PRODUCTS_FILE
from pakfashion.crawling.record import ProductRecord
from pakfashion.crawling.shopify_collections import signal_rank
from pakfashion.crawling.site import CrawlReport, crawl_site, write_crawl_outputs
from pakfashion.web.frontier import Frontier
from tests.helpers import configured, quick_web, site_settings
from tests.helpers.http import Reply, scripted_server

pytestmark = pytest.mark.network

# The shipped words and budget (10 requests); 7 per page: the demo's biggest signalled collection
# (12 products) takes two membership pages.
SETTINGS = configured(CrawlConfig, snapshot="test", min_delay_s=0.0, page_size=7)
TERMS = SETTINGS.collections.terms
WEB = quick_web()
SHOPIFY_SITES = ["demo_shop", "demo_boutique"]


def with_budget(max_requests: int, settings: CrawlConfig = SETTINGS) -> CrawlConfig:
    return replace(settings, collections=CollectionsConfig(terms=TERMS, max_requests=max_requests))


def crawl(demo, name: str, settings: CrawlConfig = SETTINGS,  # noqa: ANN001
          db: Path | None = None) -> tuple[list[ProductRecord], CrawlReport]:
    with Frontier(db or Path(tempfile.mkdtemp()) / "frontier.sqlite") as frontier:
        return crawl_site(site_settings(name, demo.base_url(name)), settings, WEB, frontier=frontier)


def collection_requests(demo, name: str) -> list[str]:  # noqa: ANN001
    return [f"{r.path}?{r.query}" for r in demo.request_log if r.site == name and r.path.startswith("/collections")]


def signalled_truth(demo, name: str) -> dict[str, list[dict[str, str]]]:  # noqa: ANN001
    """Product id → the signalled collections the demo store lists it in."""
    site = demo.world.sites[name]
    return {str(p.id): [c for c in site.collections_of(p) if signal_rank(c["handle"], c["title"], TERMS) is not None]
            for p in site.products}


@pytest.mark.parametrize("name", SHOPIFY_SITES)
def test_membership_of_signalled_collections_is_recorded_within_the_budget(demo_store, name: str) -> None:  # noqa: ANN001
    records, report = crawl(demo_store, name)
    truth = signalled_truth(demo_store, name)
    assert {r.product_id: r.collections for r in records} == truth
    site = demo_store.world.sites[name]
    kids = next(c for c in site.collections if c.meaning == "children")
    by_id = {r.product_id: r for r in records}
    for product in site.collection_products(kids.handle):
        assert {"handle": kids.handle, "title": kids.title} in by_id[str(product.id)].collections
    section = report.collections
    fetched = collection_requests(demo_store, name)
    assert section["requests"] == len(fetched) <= 10 and not report.errors
    assert section["listed"] == len(site.collections) and section["listing_complete"] and not section["skipped"]
    assert {c["handle"] for c in section["signalled"]} == {c["handle"] for found in truth.values() for c in found}
    for entry in section["signalled"]:
        members = site.collection_products(entry["handle"])
        assert entry["products_found"] == entry["products_count"] == len(members) and entry["complete"]
        assert entry["pages"] == len(members) // SETTINGS.page_size + 1
    paged = {url.split("/")[2] for url in fetched if url.startswith("/collections/")}
    assert paged == {c["handle"] for c in section["signalled"]}, "only signalled collections are paged"


def test_the_collection_only_child_is_given_away_by_its_collection(demo_store) -> None:  # noqa: ANN001
    records, _ = crawl(demo_store, "demo_shop")
    zarri = next(r for r in records if r.title == "Zarri Noor")
    assert zarri.collections == [{"handle": "kids-eid-edit", "title": "Kids Eid Edit"}]
    assert zarri.handle == "zarri-noor" and zarri.skus == ["DS0041-S", "DS0041-M", "DS0041-L"]
    gulnar = next(r for r in records if r.title == "Gulnar")
    assert gulnar.handle == "ss25-kg-gulnar" and all(sku.startswith("KG") for sku in gulnar.skus)


def test_a_small_budget_records_what_it_skipped(demo_store) -> None:  # noqa: ANN001
    records, report = crawl(demo_store, "demo_shop", with_budget(2, replace(SETTINGS, page_size=250)))
    section = report.collections
    assert section["requests"] == len(collection_requests(demo_store, "demo_shop")) == 2
    assert [c["handle"] for c in section["signalled"]] == ["kids-eid-edit"]  # the most specific word first
    assert [c["handle"] for c in section["skipped"]] == ["girls-night-out", "fragrances", "home-living", "frontpage"]
    assert section["skipped"][2] == {"handle": "home-living", "title": "Home & Living", "products_count": 1}
    assert {c["handle"] for r in records for c in r.collections} == {"kids-eid-edit"}


def test_a_budget_spent_inside_a_collection_marks_it_incomplete(demo_store) -> None:  # noqa: ANN001
    _, report = crawl(demo_store, "demo_shop", with_budget(3))  # 2 collections.json pages + 1 of 2 kids pages
    kids = report.collections["signalled"]
    assert [(c["handle"], c["pages"], c["products_found"], c["complete"]) for c in kids] == [
        ("kids-eid-edit", 1, 7, False)]
    assert len(report.collections["skipped"]) == 4


def test_max_requests_zero_turns_it_off(demo_store) -> None:  # noqa: ANN001
    records, report = crawl(demo_store, "demo_boutique", with_budget(0))
    assert collection_requests(demo_store, "demo_boutique") == []
    assert report.collections["enabled"] is False and report.collections["requests"] == 0
    assert not [r for r in records if r.collections]


def test_a_malformed_collections_listing_is_an_error_not_a_lost_crawl(tmp_path: Path, demo_store) -> None:  # noqa: ANN001
    demo_store.faults.truncated_paths = {"/collections.json"}
    records, report = crawl(demo_store, "demo_shop")
    write_crawl_outputs(records, report, tmp_path)
    assert len(list(read_jsonl(tmp_path / PRODUCTS_FILE))) == len(demo_store.world.products("demo_shop"))
    written = read_json(tmp_path / CRAWL_REPORT_FILE)
    assert [e for e in written["errors"] if "collections listing" in e and "not JSON" in e]
    assert written["collections"]["listed"] == 0 and not written["collections"]["listing_complete"]
    assert written["stopped_reason"] is None


def test_a_malformed_membership_page_leaves_that_collection_incomplete(demo_store) -> None:  # noqa: ANN001
    demo_store.faults.truncated_paths = {"/collections/kids-eid-edit/products.json"}
    records, report = crawl(demo_store, "demo_shop")
    assert len(records) == len(demo_store.world.products("demo_shop"))
    entries = {c["handle"]: c for c in report.collections["signalled"]}
    assert entries["kids-eid-edit"]["complete"] is False and entries["kids-eid-edit"]["products_found"] == 0
    assert all(e["complete"] for h, e in entries.items() if h != "kids-eid-edit")
    assert len(report.errors) == 1 and "kids-eid-edit" in report.errors[0]
    assert report.collections["requests"] <= 10


def test_resume_reads_membership_pages_from_the_frontier(tmp_path: Path, demo_store) -> None:  # noqa: ANN001
    db = tmp_path / "frontier.sqlite"
    first, first_report = crawl(demo_store, "demo_boutique", db=db)
    assert first_report.collections["from_frontier"] == 0
    demo_store.clear_log()
    second, second_report = crawl(demo_store, "demo_boutique", db=db)
    assert collection_requests(demo_store, "demo_boutique") == []
    assert second_report.collections["from_frontier"] == second_report.collections["requests"] > 0
    assert {**second_report.collections, "from_frontier": 0} == first_report.collections
    strip = [{k: v for k, v in r.to_dict().items() if k != "crawled_at"} for r in first]
    assert [{k: v for k, v in r.to_dict().items() if k != "crawled_at"} for r in second] == strip
    with Frontier(db) as frontier:  # membership pages keep only product ids
        page = frontier.get(f"{demo_store.base_url('demo_boutique')}/collections/khussa-sandals/products.json?limit=7&page=1")
    assert page is not None and page[0] == "ids" and len(page[1]) == 6 and all(isinstance(i, str) for i in page[1])


def test_past_the_paging_cap_membership_comes_from_the_collection_paging(demo_store, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr("pakfashion.crawling.shopify.SHOPIFY_PAGING_CAP", 28)  # 4 pages of 7, as if 25,000
    records, report = crawl(demo_store, "demo_shop")
    assert {r.product_id for r in records} == {str(p.id) for p in demo_store.world.products("demo_shop")}
    section = report.collections
    assert section["catalogue_paged"] and section["requests"] == 0
    assert {r.product_id: r.collections for r in records} == signalled_truth(demo_store, "demo_shop")
    paged = collection_requests(demo_store, "demo_shop")
    assert len(paged) == len(set(paged)), "each collection page is read once, for products and membership alike"


def test_a_block_while_reading_collections_stops_the_site_and_keeps_its_products() -> None:
    product = {"id": 1, "title": "Zarri Noor", "handle": "zarri-noor", "variants": [], "images": []}
    collections = [{"id": i, "handle": h, "title": h.title(), "products_count": 1} for i, h in
                   enumerate(["kids", "girls", "baby", "perfumes"])]
    routes = {
        "/robots.txt": [Reply(404)],
        "/products.json": [Reply(200, json.dumps({"products": [product]}).encode())],
        "/collections.json": [Reply(200, json.dumps({"collections": collections}).encode())],
        "/collections/kids/products.json": [Reply(403)],
        "/collections/girls/products.json": [Reply(403)],
        "/collections/baby/products.json": [Reply(403)],
    }
    with scripted_server(routes) as (base, script):
        with Frontier(Path(tempfile.mkdtemp()) / "frontier.sqlite") as frontier:
            records, report = crawl_site(site_settings("blocky", base), SETTINGS, WEB, frontier=frontier)
    assert [r.product_id for r in records] == ["1"]
    assert report.stopped_reason is not None and report.stopped_reason.startswith("blocked")
    assert not [path for path, _ in script.log if "perfumes" in path]
    assert [(c["handle"], c["complete"]) for c in report.collections["signalled"]] == [("kids", False), ("baby", False)]
