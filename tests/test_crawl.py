"""The crawl stage against the demo store and scripted servers: completeness, politeness, errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from pakfashion.common.files import read_json, read_jsonl
from pakfashion.config import CrawlConfig, SiteConfig, WebConfig
from pakfashion.contracts import CRAWL_REPORT_FILE, PRODUCTS_FILE
from pakfashion.crawling.record import ProductRecord
from pakfashion.crawling.site import (
    CrawlReport,
    crawl_site,
    write_crawl_outputs,
)
from pakfashion.web.frontier import Frontier
from tests.helpers import configured, quick_web, site_settings
from tests.helpers.http import Reply, scripted_server
from tests.helpers.repo import copy_repo

pytestmark = pytest.mark.network

# The shipped crawl settings at loopback pace, reading no collection membership.
SETTINGS = configured(CrawlConfig, "crawl.collections.terms=[]", snapshot="test", min_delay_s=0.0, page_size=7)
WEB = quick_web()


def site(name: str, base_url: str) -> SiteConfig:
    return site_settings(name, base_url)


def crawl(
    site_config: SiteConfig, settings: CrawlConfig, web: WebConfig = WEB
) -> tuple[list[ProductRecord], CrawlReport]:
    """Crawl with a fresh frontier."""
    with Frontier(Path(tempfile.mkdtemp()) / "frontier.sqlite") as frontier:
        return crawl_site(site_config, settings, web, frontier=frontier)


@pytest.mark.parametrize("name", ["demo_shop", "demo_boutique"])
def test_crawl_gets_every_product_politely(demo_store, name: str) -> None:  # noqa: ANN001
    records, report = crawl(site(name, demo_store.base_url(name)), SETTINGS)
    expected = {str(p.id) for p in demo_store.world.products(name)}
    assert {r.product_id for r in records} == expected
    assert report.platform == "shopify" and not report.errors
    assert report.robots[0]["policy"] == "parsed" and len(report.robots[0]["sha256"]) == 64
    log = [r for r in demo_store.request_log if r.site == name]
    assert log[0].path == "/robots.txt"
    disallowed = demo_store.world.sites[name].disallowed_prefixes
    assert not [r.path for r in log if any(r.path.startswith(p) for p in disallowed)]
    assert {r.user_agent for r in log} == {WEB.user_agent}
    # Pages of 7 up to the first short one, plus the one-product detection probe (robots.txt is not counted);
    # SETTINGS reads no collections (crawl.collections.terms is empty).
    assert report.http["requests"] == len(expected) // 7 + 1 + 1
    assert report.collections["requests"] == 0 and not report.collections["enabled"]


def test_records_are_normalised(demo_store) -> None:  # noqa: ANN001
    records, _ = crawl(site("demo_shop", demo_store.base_url("demo_shop")), SETTINGS)
    for record in records:
        assert all(url.startswith("http://") for url in record.image_urls)
        assert record.currency == "PKR"
        assert all(v.price is None or isinstance(v.price, float) for v in record.variants)
    assert any(not r.image_urls for r in records)


def test_rate_limits_and_server_errors_lose_nothing(demo_store) -> None:  # noqa: ANN001
    demo_store.faults.rate_limit_every = 3
    demo_store.faults.error_500_every = 4
    records, report = crawl(site("demo_shop", demo_store.base_url("demo_shop")), SETTINGS)
    assert len(records) == len(demo_store.world.products("demo_shop"))
    assert report.http.get("retry/reason/http_429", 0) >= 1
    assert report.http.get("retry/reason/http_500", 0) >= 1
    assert not report.errors


def test_content_signal_ai_train_no_is_honoured() -> None:
    routes = {"/robots.txt": [Reply(200, b"User-agent: *\nContent-Signal: ai-train=no\nAllow: /\n")]}
    with scripted_server(routes) as (base, script):
        records, report = crawl(site("optout", base), SETTINGS)
    assert records == [] and report.opted_out
    assert [path for path, _ in script.log] == ["/robots.txt"]


def test_unknown_platform_names_site_and_what_was_tried() -> None:
    routes = {"/robots.txt": [Reply(404)], "/products.json": [Reply(200, b"<html>shop</html>")]}
    with scripted_server(routes) as (base, _):
        records, report = crawl(site("mystery", base), SETTINGS)
    assert records == [] and report.failed
    assert re.search(r"'mystery'.*tried Shopify", report.stopped_reason or "")


def test_platform_probes_read_the_home_page_once() -> None:
    """Magento's and SFCC's probes both look for their markers in the home page: it is requested once."""
    routes = {"/robots.txt": [Reply(404)], "/graphql": [Reply(200, b"<html>no such page</html>")],
              "/": [Reply(200, b"<html>a plain shop</html>")]}
    with scripted_server(routes) as (base, script):
        records, report = crawl(site("mystery", base), SETTINGS)
    assert records == [] and report.failed
    assert [path for path in script.paths() if path == "/"] == ["/"]


def test_malformed_pages_are_logged_and_the_crawl_goes_on() -> None:
    product = {"id": 1, "title": "Red\x01 Kurta", "handle": "red", "body_html": "<p>line\x02</p>", "images": []}
    good = json.dumps({"products": [product]}).replace("\\u0001", "\x01").encode()
    routes = {
        "/robots.txt": [Reply(404)],
        "/products.json?limit=1&page=1": [Reply(200, good)],
        "/products.json?limit=1&page=2": [Reply(200, b'{"products": [{"id": 2, "tit')],
        "/products.json?limit=1&page=3": [Reply(200, json.dumps({"products": [{**product, "id": 3}]}).encode())],
        "/products.json?limit=1&page=4": [Reply(200, b'{"products": []}')],
    }
    with scripted_server(routes) as (base, _):
        records, report = crawl(site("messy", base), replace(SETTINGS, page_size=1), quick_web(max_retries=0))
    assert [r.product_id for r in records] == ["1", "3"]
    assert len(report.errors) == 1 and "page=2" in report.errors[0] and "not JSON" in report.errors[0]


def test_outputs_are_written(tmp_path: Path, demo_store) -> None:  # noqa: ANN001
    records, report = crawl(site("demo_shop", demo_store.base_url("demo_shop")), SETTINGS)
    write_crawl_outputs(records, report, tmp_path / "demo_shop")
    rows = list(read_jsonl(tmp_path / "demo_shop" / PRODUCTS_FILE))
    assert [r["product_id"] for r in rows] == sorted(r["product_id"] for r in rows)
    assert read_json(tmp_path / "demo_shop" / CRAWL_REPORT_FILE)["products"] == len(rows)


@pytest.mark.slow
def test_cli_crawls_any_store_with_site_generic(tmp_path: Path, repo_root: Path, demo_store) -> None:  # noqa: ANN001
    work = copy_repo(repo_root, tmp_path / "repo")
    base = demo_store.base_url("demo_boutique")
    subprocess.run([sys.executable, "-m", "pakfashion.crawl", "site=generic", "site.name=x", f"site.base_url={base}"],
                   cwd=work, check=True, capture_output=True, timeout=120)
    assert len(list(read_jsonl(work / "data/raw/x/products.jsonl"))) == len(demo_store.world.products("demo_boutique"))
    assert read_json(work / "data/raw/x/crawl.json")["platform"] == "shopify"


def test_site_rules_filter_by_type_and_tag(demo_store) -> None:  # noqa: ANN001
    rules = site_settings("demo_shop", demo_store.base_url("demo_shop"),
                       exclude_product_types=["Fragrance"], exclude_tags=["kids"])
    records, report = crawl(rules, SETTINGS)
    assert not [r for r in records if r.category == "Fragrance" or "kids" in [t.lower() for t in r.tags]]
    assert report.filtered_by_site_rules >= 2
    assert len(records) + report.filtered_by_site_rules == len(demo_store.world.products("demo_shop"))


def test_redirects_may_go_to_the_www_twin() -> None:
    from pakfashion.crawling.site import site_hosts

    assert site_hosts(site_settings("l", "https://limelight.pk")) == {"limelight.pk", "www.limelight.pk"}
    assert "sanasafinaz.com" in site_hosts(site_settings("s", "https://www.sanasafinaz.com/pk"))


def test_atelier_pages_give_url_handle_skus_and_breadcrumbs(demo_store) -> None:  # noqa: ANN001
    records, report = crawl(site("demo_atelier", demo_store.base_url("demo_atelier")), SETTINGS)
    # The page slug (the handle) names every page, the og_only one (no JSON-LD) included.
    truth = {p.page_path.rsplit("/", 1)[1].removesuffix(".html"): p  # type: ignore[attr-defined]
             for p in demo_store.world.products("demo_atelier")}
    assert {r.handle for r in records} == set(truth)
    by_title = {r.title: r for r in records}
    sunshine = by_title["Sunshine Angrakha"]
    sku = sunshine.product_id
    assert sunshine.product_url.endswith(f"/kids/girls/sunshine-angrakha-{sku}.html")
    assert sunshine.breadcrumbs == ["Home", "Kids", "Girls", "Sunshine Angrakha"]
    assert (sunshine.handle, sunshine.skus, sunshine.category) == (f"sunshine-angrakha-{sku}", [sku], "Angrakha")
    for record in records:
        product = truth[record.handle]
        if product.layout == "og_only":
            # No JSON-LD left: the SFCC adapter reads the sku from the storefront markup's data-pid.
            assert record.breadcrumbs == [] and record.skus == [product.sku], record.title
            continue
        assert record.breadcrumbs[0] == "Home" and record.breadcrumbs[-1] == product.title, record.title
        assert record.skus[0] == product.sku, record.title
        if product.layout == "group":
            assert record.skus[1:] == [v["sku"] for v in product.shopify["variants"]], record.title
    assert report.collections == {}
