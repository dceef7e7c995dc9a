"""The crawl of many sites: side by side, each alone at its own polite pace, and re-crawled only when its
own config or the snapshot changes.

The world is the real list's platform mix in miniature: 17 Shopify stores and 2 sites whose products are
only reachable as sitemap-listed product pages (Salesforce Commerce Cloud-like), each on its own loopback
server with the same robots.txt Crawl-delay.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from pakfashion.common.files import read_json, read_jsonl
from pakfashion.config import CrawlConfig, SiteConfig
from pakfashion.contracts import CRAWL_REPORT_FILE, PRODUCTS_FILE
from pakfashion.crawling.site import CrawlError, crawl_sites, prune_unlisted_sites
from tests.helpers import configured, quick_web, site_settings
from tests.helpers.http import Reply, Script, scripted_server

pytestmark = pytest.mark.network

CRAWL_DELAY_S = 0.25
SETTINGS = configured(CrawlConfig, "crawl.collections.terms=[]", snapshot="test", min_delay_s=0.0, page_size=2)
WEB = quick_web()
SHOPIFY_SITES, SITEMAP_SITES = 17, 2


def robots(sitemap: str = "") -> Reply:
    lines = f"User-agent: *\nCrawl-delay: {CRAWL_DELAY_S}\nAllow: /\n" + (f"Sitemap: {sitemap}\n" if sitemap else "")
    return Reply(200, lines.encode())


def shopify_routes(name: str) -> dict[str, list[Reply]]:
    """Three products on two pages, and the one-product probe."""
    products = [{"id": f"{name}-{i}", "title": f"Lawn kurta {i}", "handle": f"kurta-{i}", "product_type": "Kurta",
                 "images": [{"src": f"https://cdn.example/{name}/{i}.jpg"}]} for i in range(3)]
    page = lambda items: Reply(200, json.dumps({"products": items}).encode(), {"Content-Type": "application/json"})  # noqa: E731
    return {"/robots.txt": [robots()], "/products.json?limit=1&page=1": [page(products[:1])],
            "/products.json?limit=2&page=1": [page(products[:2])], "/products.json?limit=2&page=2": [page(products[2:])]}


def product_page(name: str, number: int) -> Reply:
    jsonld = {"@context": "https://schema.org", "@type": "Product", "name": f"Kurta {number}", "sku": f"{name}-{number}",
              "image": f"/images/{number}.jpg", "offers": {"@type": "Offer", "price": "3990", "priceCurrency": "PKR"}}
    return Reply(200, f'<html><script type="application/ld+json">{json.dumps(jsonld)}</script></html>'.encode())


@contextmanager
def world(names: list[str]) -> Iterator[dict[str, tuple[str, Script]]]:
    """One server per site: the first SHOPIFY_SITES are Shopify, the rest sitemap-and-pages sites."""
    with ExitStack() as stack:
        served = {}
        for index, name in enumerate(names):
            shopify = index < SHOPIFY_SITES
            routes = shopify_routes(name) if shopify else {f"/p/{i}.html": [product_page(name, i)] for i in range(3)}
            base, script = stack.enter_context(scripted_server(routes))  # type: ignore[arg-type]
            if not shopify:
                routes["/robots.txt"] = [robots(f"{base}/sitemap.xml")]
                locs = "".join(f"<url><loc>{base}/p/{i}.html</loc></url>" for i in range(3))
                routes["/sitemap.xml"] = [Reply(200, f"<urlset>{locs}</urlset>".encode())]
            served[name] = (base, script)
        yield served


def sites_of(served: dict[str, tuple[str, Script]]) -> list[SiteConfig]:
    return [site_settings(name, base, product_url_pattern=r"/p/") for name, (base, _) in served.items()]


def timed_crawl(sites: list[SiteConfig], tmp: Path, settings: CrawlConfig = SETTINGS) -> float:
    started = time.monotonic()
    outcomes = crawl_sites(sites, settings, WEB, raw_dir=tmp / "raw", state_dir=tmp / "state")
    assert not [o for o in outcomes if o.failed]
    return time.monotonic() - started


def test_nineteen_sites_take_about_as_long_as_the_slowest_alone(tmp_path: Path) -> None:
    names = [f"site{i:02d}" for i in range(SHOPIFY_SITES + SITEMAP_SITES)]
    with world(names) as served:
        sites = sites_of(served)
        slowest_alone = max(timed_crawl([site], tmp_path / f"alone-{site.name}") for site in (sites[0], sites[-1]))
        for _, script in served.values():
            script.log.clear()
            script.times.clear()
        together = timed_crawl(sites, tmp_path / "together")
    assert together <= 1.5 * slowest_alone, f"{together:.2f} s for 19 sites, {slowest_alone:.2f} s for the slowest alone"
    for name, (_, script) in served.items():
        gaps = [b - a for a, b in zip(script.times, script.times[1:])]
        assert gaps and min(gaps) >= CRAWL_DELAY_S * 0.9, (name, gaps)  # each host still at its Crawl-delay
        records = list(read_jsonl(tmp_path / "together" / "raw" / name / PRODUCTS_FILE))
        assert len(records) == 3


def test_only_the_site_whose_config_changed_is_crawled_again(tmp_path: Path) -> None:
    names = ["alpha", "beta", "gamma"]
    with world(names) as served:
        sites = sites_of(served)
        timed_crawl(sites, tmp_path)
        before = {name: (tmp_path / "raw" / name / CRAWL_REPORT_FILE).read_bytes() for name in names}
        for _, script in served.values():
            script.log.clear()
        changed = [replace(site, max_products=2) if site.name == "beta" else site for site in sites]
        timed_crawl(changed, tmp_path)
        assert [name for name, (_, script) in served.items() if script.log] == ["beta"]
        assert len(list(read_jsonl(tmp_path / "raw" / "beta" / PRODUCTS_FILE))) == 2
        assert all((tmp_path / "raw" / n / CRAWL_REPORT_FILE).read_bytes() == before[n] for n in ("alpha", "gamma"))
        for _, script in served.values():
            script.log.clear()
        timed_crawl(changed, tmp_path, replace(SETTINGS, snapshot="next"))
        assert all(script.log for _, script in served.values())  # a new snapshot re-crawls every site
    assert prune_unlisted_sites(tmp_path / "raw", ["alpha", "gamma"]) == ["beta"]
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["alpha", "gamma"]


def test_a_failed_site_is_crawled_again_and_its_failure_kept_apart(tmp_path: Path) -> None:
    with scripted_server({"/robots.txt": [Reply(500, b"down"), Reply(200, b"User-agent: *\nAllow: /\n")]}) as (base, script):
        site = site_settings("flaky", base)
        first = crawl_sites([site], SETTINGS, WEB, raw_dir=tmp_path / "raw", state_dir=tmp_path / "state")
        assert first[0].failed and read_json(tmp_path / "raw" / "flaky" / CRAWL_REPORT_FILE)["failed"]
        script.log.clear()
        crawl_sites([site], SETTINGS, WEB, raw_dir=tmp_path / "raw", state_dir=tmp_path / "state")
    assert script.log and script.log[0][0] == "/robots.txt"


def test_two_sites_of_one_name_are_refused_before_any_request(tmp_path: Path) -> None:
    with scripted_server({}) as (base, script):
        twins = [site_settings("same", base), site_settings("same", base)]
        with pytest.raises(CrawlError, match="same comes more than once"):
            crawl_sites(twins, SETTINGS, WEB, raw_dir=tmp_path / "raw", state_dir=tmp_path / "state")
    assert script.log == []
