"""Crawl benchmark: each platform adapter vs. a page-per-product crawler of the same store.

Per platform, a loopback demo store of about ``--products`` products (20 ms simulated latency per response):
Shopify (demo_shop), WooCommerce (demo_woo), Magento 2 (demo_magento) and Salesforce Commerce Cloud
(demo_sfcc). Ours is the crawl stage's own code, platform detected (``platform: auto``); the baseline finds
the product pages in the same store's sitemaps and fetches every one of them, the approach that works on
any store. Both run in this process with the same politeness (robots.txt, its Crawl-delay, the shipped
client settings). SFCC has no product API, so there ours is page-per-product too: its row shows what colour
variation pages cost.

    .venv/bin/python benchmarks/crawl.py [--products 500] [--platforms shopify woocommerce magento sfcc]

Ends with ``ratio=... ours=... baseline=... unit=requests/product`` for the API platform whose adapter
sends the most requests per product (ratio > 1: we send fewer).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

from pakfashion.config import (
    CrawlConfig,
    SiteConfig,
    WebConfig,
    as_typed,
    compose_config,
    settings_from,
)
from pakfashion.crawling.pages import SitemapCrawl
from pakfashion.crawling.site import build_client, crawl_site
from pakfashion.demo import DemoServer, build_world
from pakfashion.web.frontier import Frontier

RESULTS = Path(__file__).parent / "results" / "crawl.json"
# The shipped crawl and web settings, at loopback pace: ours reads collection membership as a real crawl does.
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
CONF = compose_config(CONF_DIR)
SETTINGS = settings_from(CONF, "crawl", CrawlConfig, snapshot="bench", min_delay_s=0.0)
WEB = settings_from(CONF, "web", WebConfig)
# Platform → its demo store.
STORES = {"shopify": "demo_shop", "woocommerce": "demo_woo", "magento": "demo_magento", "sfcc": "demo_sfcc"}
API_PLATFORMS = ("shopify", "woocommerce", "magento")


def run_ours(site: SiteConfig, scratch: Path) -> tuple[int, float, str]:
    """Products found, seconds taken and the platform detected by the crawl stage's own code."""
    started = time.perf_counter()
    with Frontier(scratch / f"ours-{site.name}.sqlite") as frontier:
        records, report = crawl_site(site, SETTINGS, WEB, frontier=frontier)
    assert not report.errors and not report.failed, report.errors or report.stopped_reason
    return len(records), time.perf_counter() - started, report.platform


def run_page_per_product(site: SiteConfig, scratch: Path) -> tuple[int, float, str]:
    """Product pages read and seconds taken fetching the sitemaps, then every product page."""
    started = time.perf_counter()
    client = build_client(WEB, SETTINGS, site)
    with Frontier(scratch / f"baseline-{site.name}.sqlite") as frontier:
        pages = SitemapCrawl(client, frontier, site.base_url, site.product_url_pattern)
        found = sum(1 for _ in pages.products(pages.product_page_urls()))
    client.close()
    return found, time.perf_counter() - started, "pages"


def requests_to(server: DemoServer, name: str) -> int:
    return sum(1 for record in server.request_log if record.site == name)


def site_config(server: DemoServer, name: str) -> SiteConfig:
    """The store as ``site=generic`` configures an unknown site: platform detected, default patterns."""
    node = OmegaConf.merge(compose_config(CONF_DIR, ["+site=generic"]).site,
                           {"name": name, "base_url": server.base_url(name)})
    return as_typed(node, SiteConfig)


def measure(server: DemoServer, name: str, scratch: Path) -> dict[str, dict[str, float | int | str]]:
    """Ours and the baseline on one store, each from a cleared request log."""
    results: dict[str, dict[str, float | int | str]] = {}
    for who, runner in (("ours", run_ours), ("baseline", run_page_per_product)):
        server.clear_log()
        found, seconds, how = runner(site_config(server, name), scratch)
        requests = requests_to(server, name)
        results[who] = {"products": found, "requests": requests, "seconds": round(seconds, 3), "platform": how,
                        "requests_per_product": round(requests / found, 4), "products_per_s": round(found / seconds, 1)}
        print(f"  {who}: {found} products ({how}), {requests} requests, {seconds:.2f} s, "
              f"{requests / found:.4f} requests/product, {found / seconds:.1f} products/s")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    standard = len(build_world().products("demo_shop"))
    parser.add_argument("--products", type=int, default=500, help=f"products per store (>= {standard})")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--platforms", nargs="+", choices=sorted(STORES), default=list(STORES))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    platform_standard = len(build_world(platform_demos=True).products("demo_woo"))
    world = build_world(extra_shop_products=max(0, args.products - standard), platform_demos=True,
                        extra_platform_products=max(0, args.products - platform_standard))
    results = {}
    with DemoServer(world, port=0) as server, tempfile.TemporaryDirectory() as scratch:
        server.faults.slow_s = args.latency_ms / 1000
        for name in args.platforms:
            print(f"{name} ({STORES[name]}):")
            results[name] = measure(server, STORES[name], Path(scratch))
            assert results[name]["ours"]["platform"] == name, results[name]["ours"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": platform.node(), "processor": platform.processor(),
                                   "products": args.products, "latency_ms": args.latency_ms,
                                   "platforms": results}, indent=2) + "\n")
    for name, result in results.items():
        ours, baseline = result["ours"], result["baseline"]
        print(f"{name}: requests/product ours={ours['requests_per_product']:.4f} "
              f"baseline={baseline['requests_per_product']:.4f}; products/s ours={ours['products_per_s']} "
              f"baseline={baseline['products_per_s']}")
    measured = [name for name in API_PLATFORMS if name in results] or list(results)
    worst = max(measured, key=lambda name: results[name]["ours"]["requests_per_product"])
    ours_rpp = float(results[worst]["ours"]["requests_per_product"])
    baseline_rpp = float(results[worst]["baseline"]["requests_per_product"])
    print(f"worst API adapter: {worst}")
    print(f"ratio={baseline_rpp / ours_rpp:.1f} ours={ours_rpp:.4f} baseline={baseline_rpp:.4f} unit=requests/product")


if __name__ == "__main__":
    main()
