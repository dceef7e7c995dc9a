"""Crawl benchmark: our Shopify JSON crawler vs. a page-per-product crawler of the same store.

Both run in this process against the loopback demo store (20 ms simulated latency per response)
with the same politeness (robots.txt, its Crawl-delay, the same client settings). The baseline is the
original approach: find the product pages (sitemap) and fetch every one of them.

    .venv/bin/python benchmarks/crawl.py [--products 500]

Ends with ``ratio=... ours=... baseline=... unit=requests/product`` (ratio > 1: we send fewer requests).
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


def run_ours(site: SiteConfig, scratch: Path) -> tuple[int, float]:
    """Products found and seconds taken by the crawl stage's own code (Shopify adapter)."""
    started = time.perf_counter()
    with Frontier(scratch / "ours.sqlite") as frontier:
        records, report = crawl_site(site, SETTINGS, WEB, frontier=frontier)
    assert report.platform == "shopify" and not report.errors, report.errors
    return len(records), time.perf_counter() - started


def run_page_per_product(site: SiteConfig, scratch: Path) -> tuple[int, float]:
    """Products found and seconds taken fetching the sitemap, then every product page."""
    started = time.perf_counter()
    client = build_client(WEB, SETTINGS, site)
    with Frontier(scratch / "baseline.sqlite") as frontier:
        pages = SitemapCrawl(client, frontier, site.base_url, r"/products/")
        found = sum(1 for _ in pages.products(pages.product_page_urls()))
    client.close()
    return found, time.perf_counter() - started


def requests_to(server: DemoServer, name: str) -> int:
    return sum(1 for record in server.request_log if record.site == name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    standard = len(build_world().products("demo_shop"))
    parser.add_argument("--products", type=int, default=500, help=f"products on the benchmark store (>= {standard})")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    world = build_world(extra_shop_products=max(0, args.products - standard))
    with DemoServer(world, port=0) as server, tempfile.TemporaryDirectory() as scratch:
        server.faults.slow_s = args.latency_ms / 1000
        site = as_typed(OmegaConf.merge(compose_config(CONF_DIR, ["+site=demo_shop"]).site,
                                        {"base_url": server.base_url("demo_shop")}), SiteConfig)
        results = {}
        for name, runner in (("ours", run_ours), ("baseline", run_page_per_product)):
            server.clear_log()
            found, seconds = runner(site, Path(scratch))
            requests = requests_to(server, "demo_shop")
            results[name] = {"products": found, "requests": requests, "seconds": round(seconds, 3),
                             "requests_per_product": requests / found, "products_per_s": found / seconds}
            print(f"{name}: {found} products, {requests} requests, {seconds:.2f} s, "
                  f"{requests / found:.4f} requests/product, {found / seconds:.1f} products/s")
    ours, baseline = results["ours"], results["baseline"]
    speed = ours["products_per_s"] / baseline["products_per_s"]
    print(f"products/s ratio={speed:.1f} ours={ours['products_per_s']:.1f} baseline={baseline['products_per_s']:.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": platform.node(), "processor": platform.processor(),
                                   "products": args.products, "latency_ms": args.latency_ms, **results}, indent=2))
    ratio = baseline["requests_per_product"] / ours["requests_per_product"]
    print(f"ratio={ratio:.1f} ours={ours['requests_per_product']:.4f} "
          f"baseline={baseline['requests_per_product']:.4f} unit=requests/product")


if __name__ == "__main__":
    main()
