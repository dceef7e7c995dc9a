"""Crawl and download against a hostile loopback web: every case ends by itself, within its deadline and
memory, says why in crawl.json or images.csv, keeps the sound records of the same run, and never asks
another host or reads a local file.

Each case serves one sound record beside the hostile one, so "nothing lost" is checked, not assumed.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from http.server import BaseHTTPRequestHandler
from io import BytesIO
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from PIL import Image

from pakfashion.common.files import read_json
from pakfashion.config import CrawlConfig, DownloadConfig, SiteConfig, WebConfig
from pakfashion.contracts import CRAWL_REPORT_FILE, ImageStatus
from pakfashion.crawling.record import ProductRecord
from pakfashion.crawling.site import CrawlReport, crawl_site
from pakfashion.images.download import run_download
from pakfashion.images.store import ImageStore
from pakfashion.web.frontier import Frontier
from tests.helpers import configured, quick_web, site_settings
from tests.helpers.http import Behaviour, Reply, scripted_server
from tests.helpers.repo import copy_repo

pytestmark = pytest.mark.network

SETTINGS = configured(CrawlConfig, "crawl.collections.terms=[]", snapshot="test", min_delay_s=0.0, page_size=1)
# A second of silence is a stall; two seconds is the most a whole response may take.
WEB = quick_web(timeout_s=1.0, deadline_s=2.0, max_retries=1)
DEADLINE_S = 2.0
DOWNLOAD = configured(DownloadConfig, workers=1, min_delay_s=0.0, min_side_px=8, target_side_px=0,
                      near_duplicate_distance=-1, min_success_rate=0.0, deadline_s=DEADLINE_S)
MAX_RSS_GROWTH = 1 << 30
NOT_FOUND = Reply(404, b"not found")


# --- measuring ---------------------------------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class Bounds:
    seconds: float = 0.0
    rss_growth: int = 0


@contextmanager
def measured() -> Iterator[Bounds]:
    """Wall time and the peak growth of this process's RSS (sampled every 10 ms) inside the block."""
    bounds, start, done = Bounds(), rss_bytes(), threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            bounds.rss_growth = max(bounds.rss_growth, rss_bytes() - start)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.monotonic()
    try:
        yield bounds
    finally:
        bounds.seconds = time.monotonic() - began
        done.set()
        sampler.join()


def crawl(site: SiteConfig, *, web: WebConfig = WEB, frontier_dir: Path | None = None,
          settings: CrawlConfig = SETTINGS) -> tuple[list[ProductRecord], CrawlReport, Bounds]:
    with measured() as bounds, Frontier((frontier_dir or Path(tempfile.mkdtemp())) / "frontier.sqlite") as frontier:
        records, report = crawl_site(site, settings, web, frontier=frontier)
    assert bounds.rss_growth < MAX_RSS_GROWTH, f"RSS grew by {bounds.rss_growth >> 20} MiB"
    return records, report, bounds


def download(tmp_path: Path, urls: list[str], settings: DownloadConfig = DOWNLOAD) -> tuple[list[Any], Bounds]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    products = tmp_path / "products.csv"
    pd.DataFrame([{"site": "hostile", "product_id": "p1", "title": "t", "image_urls": json.dumps(urls)}]).to_csv(
        products, index=False)
    with measured() as bounds:
        rows, _ = run_download(products, tmp_path / "images", settings, web=WEB, state_dir=tmp_path / "state")
    assert bounds.rss_growth < MAX_RSS_GROWTH
    return rows, bounds


# --- what the hostile server serves -----------------------------------------------------------------------


def product(number: int, **changes: Any) -> dict[str, Any]:
    """A products.json product as Shopify's public API gives it."""
    return {"id": number, "title": f"Lawn kurta {number}", "handle": f"kurta-{number}", "body_html": "<p>Lawn</p>",
            "product_type": "Kurta", "tags": ["women"], "vendor": "Hostile",
            "variants": [{"title": "S", "price": "2990.00", "sku": f"K{number}", "available": True}],
            "options": [{"name": "Size", "values": ["S"]}], "images": [{"src": f"/img/{number}.jpg"}], **changes}


def listing(*products: dict[str, Any]) -> Reply:
    return Reply(200, json.dumps({"products": list(products)}).encode(), {"Content-Type": "application/json"})


def shopify_routes(page_two: Reply | Behaviour, **extra: list[Reply | Behaviour]) -> dict[str, list[Reply | Behaviour]]:
    """Pages of one product each: 1 and 3 sound, 2 hostile, 4 the empty end."""
    pages = {1: listing(product(1)), 2: page_two, 3: listing(product(3)), 4: listing()}
    return {"/robots.txt": [NOT_FOUND], **{f"/products.json?limit=1&page={n}": [r] for n, r in pages.items()}, **extra}


def shopify_site(base: str) -> SiteConfig:
    return site_settings("hostile", base, platform="shopify")


def dribble(head: bytes, *, every_s: float = 0.5, for_s: float = 30.0) -> Behaviour:
    """Send ``head`` at once, then a byte every ``every_s`` seconds (for at most ``for_s``)."""

    def serve(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(head)
        handler.wfile.flush()
        ends = time.monotonic() + for_s
        try:
            while time.monotonic() < ends:
                handler.wfile.write(b" ")
                handler.wfile.flush()
                time.sleep(every_s)
        except OSError:
            pass  # the client hung up: what a deadline does
        handler.close_connection = True

    return serve


DRIBBLED_BODY = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
DRIBBLED_HEADERS = b"HTTP/1.1 200 OK\r\nX-Padding: "


def jpeg(colour: str = "red") -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (32, 32), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def image_reply(colour: str = "red") -> Reply:
    return Reply(200, jpeg(colour), {"Content-Type": "image/jpeg"})


def page_html(name: str, *, jsonld: str | None = None, head: str = "") -> bytes:
    block = jsonld if jsonld is not None else json.dumps(
        {"@context": "https://schema.org", "@type": "Product", "name": name, "sku": name, "image": f"/img/{name}.jpg",
         "offers": {"@type": "Offer", "price": "1990", "priceCurrency": "PKR"}})
    return (f'<html><head>{head}<script type="application/ld+json">{block}</script></head>'
            f"<body>{name}</body></html>").encode()


def urlset(*locs: str) -> bytes:
    body = "".join(f"<url><loc>{loc}</loc></url>" for loc in locs)
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>'.encode()


def sitemap_index(*locs: str) -> Reply:
    body = "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locs)
    return Reply(200, f'<?xml version="1.0"?><sitemapindex>{body}</sitemapindex>'.encode())


def pages_site(base: str) -> SiteConfig:
    return site_settings("hostile", base, platform="sitemap", product_url_pattern=r"/p/")


@lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """A 1 MB .xml.gz sitemap that inflates to 1 GiB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [packer.compress(b'<?xml version="1.0"?><urlset><url><loc>')]
    spaces = b" " * (16 << 20)
    parts += [packer.compress(spaces) for _ in range(64)]
    parts.append(packer.flush())
    return b"".join(parts)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<urlset><url><loc>/p/laugh-&lol9;.html</loc></url><url><loc>/p/after.html</loc></url></urlset>"""


# --- the crawler --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("head", [DRIBBLED_BODY, DRIBBLED_HEADERS], ids=["body", "headers"])
def test_a_dribbled_listing_page_ends_at_its_deadline(head: bytes) -> None:
    with scripted_server(shopify_routes(dribble(head))) as (base, _):
        records, report, bounds = crawl(shopify_site(base))
    assert {r.product_id for r in records} == {"1", "3"}
    assert [e for e in report.errors if "page=2" in e and f"{DEADLINE_S:g} s deadline" in e]
    assert report.http["stalled/deadline"] == 1 and bounds.seconds < 3 * DEADLINE_S


def test_a_host_that_keeps_stalling_is_given_up() -> None:
    routes = {"/robots.txt": [NOT_FOUND], "/products.json": [dribble(DRIBBLED_BODY)]}
    with scripted_server(routes) as (base, script):
        records, report, bounds = crawl(shopify_site(base), web=replace(WEB, max_stalls=2))
    assert records == [] and report.stopped_reason and "stalls" in report.stopped_reason
    assert len([p for p in script.paths() if p.startswith("/products.json")]) == 2
    assert bounds.seconds < 4 * DEADLINE_S


DEEP = "[" * 200_000 + "]" * 200_000


@pytest.mark.parametrize("page_two", [
    '{"products": [' + DEEP + "]}",
    '{"products": [{"id": 2, "handle": "deep", "body_html": ' + DEEP + "}]}",
    '{"products": [{"id": 2, "handle": "deep", "body_html": ' + "[" * 900 + "]" * 900 + "}]}",
], ids=["the-list", "one-product", "under-the-parser-limit"])
def test_json_nested_deep_is_a_malformed_page_and_reruns_do_not_crash(tmp_path: Path, page_two: str) -> None:
    routes = shopify_routes(Reply(200, page_two.encode(), {"Content-Type": "application/json"}))
    with scripted_server(routes) as (base, _):
        for _ in range(2):  # the rerun reads the same frontier
            records, report, _ = crawl(shopify_site(base), frontier_dir=tmp_path)
            assert {r.product_id for r in records} == {"1", "3"}
            assert [e for e in report.errors if "page=2" in e and "deep" in e]


def test_a_json_ld_block_nested_deep_costs_only_its_page() -> None:
    routes = {"/robots.txt": [NOT_FOUND], "/sitemap.xml": [Reply(200, urlset("/p/deep.html", "/p/sound.html"))],
              "/p/deep.html": [Reply(200, page_html("deep", jsonld=DEEP))], "/p/sound.html": [Reply(200, page_html("sound"))]}
    with scripted_server(routes) as (base, _):
        routes["/sitemap.xml"] = [Reply(200, urlset(f"{base}/p/deep.html", f"{base}/p/sound.html"))]
        records, report, _ = crawl(pages_site(base))
    assert [r.product_id for r in records] == ["sound"]
    assert [e for e in report.errors if "/p/deep.html" in e and "JSON-LD block skipped" in e]


def sitemap_case(hostile: Reply, *, extra: dict[str, list[Reply | Behaviour]] | None = None):  # noqa: ANN201
    """A sitemap index of a hostile child sitemap and a sound one listing /p/sound.html."""

    @contextmanager
    def serve() -> Iterator[tuple[str, Any]]:
        routes: dict[str, list[Reply | Behaviour]] = {"/robots.txt": [NOT_FOUND], "/sitemap_products_1.xml.gz": [hostile],
                                                      "/p/sound.html": [Reply(200, page_html("sound"))], **(extra or {})}
        with scripted_server(routes) as (base, script):
            routes["/sitemap.xml"] = [sitemap_index(f"{base}/sitemap_products_1.xml.gz", f"{base}/sitemap_products_2.xml")]
            routes["/sitemap_products_2.xml"] = [Reply(200, urlset(f"{base}/p/sound.html"))]
            yield base, script

    return serve()


def test_a_gzip_sitemap_that_inflates_to_a_gigabyte_is_refused_with_memory_flat() -> None:
    with sitemap_case(Reply(200, gzip_bomb(), {"Content-Type": "application/x-gzip"})) as (base, _):
        records, report, bounds = crawl(pages_site(base))
    assert [r.product_id for r in records] == ["sound"]
    assert [e for e in report.errors if "sitemap_products_1.xml.gz" in e and "inflates past" in e]
    assert bounds.rss_growth < 256 << 20, f"RSS grew by {bounds.rss_growth >> 20} MiB"


def test_a_gzip_encoded_listing_page_that_inflates_to_a_gigabyte_is_cut_at_the_cap() -> None:
    bomb = Reply(200, gzip_bomb(), {"Content-Encoding": "gzip", "Content-Type": "application/json"})
    with scripted_server(shopify_routes(bomb)) as (base, _):
        records, report, bounds = crawl(shopify_site(base))
    assert {r.product_id for r in records} == {"1", "3"}
    assert [e for e in report.errors if "page=2" in e and f"exceeds the {WEB.max_response_bytes}-byte cap" in e]
    assert bounds.rss_growth < 256 << 20, f"RSS grew by {bounds.rss_growth >> 20} MiB"


def test_billion_laughs_in_a_sitemap_is_refused_and_recorded() -> None:
    with sitemap_case(Reply(200, gzip.compress(BILLION_LAUGHS))) as (base, script):
        records, report, _ = crawl(pages_site(base))
    assert [r.product_id for r in records] == ["sound"]
    assert [e for e in report.errors if "sitemap_products_1.xml.gz" in e and "entities" in e]
    assert not [p for p in script.paths() if "laugh" in p or "after" in p]


def test_a_sitemap_listing_another_hosts_pages_asks_only_this_host() -> None:
    with scripted_server({"/p/theirs.html": [Reply(200, page_html("theirs"))]}, host="127.0.0.2") as (other, theirs):
        hostile = Reply(200, gzip.compress(urlset(f"{other}/p/theirs.html", "javascript:alert(1)//p/",
                                                  "file:///etc/passwd?/p/", "http://[oops/p/x.html")))
        with sitemap_case(hostile) as (base, _):
            records, report, _ = crawl(pages_site(base))
    assert [r.product_id for r in records] == ["sound"] and theirs.log == []
    assert report.pages["refused_urls"] == {"foreign_host": 1, "unsupported_scheme": 2, "bad_url": 1}


def test_a_detected_sitemap_site_walks_its_sitemaps_once() -> None:
    """Detection and the listing share one walk: each refused URL counted once, each sitemap asked once."""
    hostile = Reply(200, gzip.compress(urlset("javascript:alert(1)//p/", "file:///etc/passwd?/p/")))
    with sitemap_case(hostile) as (base, script):
        records, report, _ = crawl(site_settings("hostile", base, product_url_pattern=r"/p/"))
    assert report.platform == "sitemap" and [r.product_id for r in records] == ["sound"]
    assert report.pages["refused_urls"] == {"unsupported_scheme": 2}
    sitemaps = [p for p in script.paths() if "sitemap" in p]
    assert len(sitemaps) == len(set(sitemaps)), sitemaps


@pytest.mark.parametrize("canonical", ["javascript:alert(document.domain)", "http://127.0.0.2/p/elsewhere.html",
                                       "http://[oops/p/x.html", "data:text/html,<script>alert(1)</script>"])
def test_a_hostile_canonical_link_is_not_the_product_url(canonical: str) -> None:
    head = f'<link rel="canonical" href="{canonical}">'
    routes = {"/robots.txt": [NOT_FOUND], "/p/sound.html": [Reply(200, page_html("sound", head=head))]}
    with scripted_server(routes) as (base, _):
        routes["/sitemap.xml"] = [Reply(200, urlset(f"{base}/p/sound.html"))]
        records, _, _ = crawl(pages_site(base))
    assert [r.product_url for r in records] == [f"{base}/p/sound.html"]


def test_wrong_json_shapes_are_malformed_products_and_the_others_are_kept() -> None:
    entries = [product(1, variants=["x"], options="Size", images="nope"), product(2, tags=5),
               product(3, variants=[None, 7, {"title": "M", "price": {"amount": 1}}], images=[None, "/img/3.jpg"]),
               {"title": "no id"}, "just a string", 7, product(4)]
    routes = {"/robots.txt": [NOT_FOUND], "/products.json?limit=10&page=1": [listing(*entries)]}
    with scripted_server(routes) as (base, _):
        records, report, _ = crawl(shopify_site(base), settings=replace(SETTINGS, page_size=10))
    kept = {r.product_id: r for r in records}
    assert set(kept) == {"1", "2", "3", "4"}
    assert kept["2"].tags == ["5"] and kept["1"].variants == [] and kept["3"].image_urls == [f"{base}/img/3.jpg"]
    assert [e for e in report.errors if "2 of 7 products entries malformed" in e]
    assert [e for e in report.errors if "no product id" in e]


def test_an_error_per_product_is_counted_and_crawl_json_lists_the_first_thousand() -> None:
    routes = {"/robots.txt": [NOT_FOUND], "/products.json?limit=2000&page=1": [listing(*[{"title": "x"}] * 1500, product(1))]}
    with scripted_server(routes) as (base, _):
        records, report, _ = crawl(shopify_site(base), settings=replace(SETTINGS, page_size=2000))
    assert [r.product_id for r in records] == ["1"]
    assert report.errors_total == 1500 and len(report.errors) == 1000


def test_robots_txt_answering_500_disallows_all_and_says_so() -> None:
    routes = {"/robots.txt": [Reply(500, b"oops")], "/products.json": [listing(product(1))]}
    with scripted_server(routes) as (base, script):
        records, report, _ = crawl(site_settings("hostile", base))
    assert records == [] and report.failed and "RFC 9309" in (report.stopped_reason or "")
    assert report.robots[0]["policy"] == "disallow_all" and script.paths() == ["/robots.txt"]


def test_a_five_megabyte_robots_txt_is_read_for_its_first_500_kib() -> None:
    rules = b"User-agent: *\nDisallow: /products/secret\nCrawl-delay: 0\n"
    routes = shopify_routes(listing(product(2)), **{"/robots.txt": [Reply(200, rules + b"# padding\n" * 500_000)]})
    with scripted_server(routes) as (base, _):
        records, report, _ = crawl(shopify_site(base))
    assert {r.product_id for r in records} == {"1", "2", "3"}
    assert report.robots[0]["truncated"] and report.robots[0]["policy"] == "parsed"
    assert "Disallow: /products/secret" in report.robots[0]["text"]


def test_a_redirected_robots_txt_shows_where_it_went() -> None:
    routes = shopify_routes(listing(product(2)), **{"/robots.txt": [Reply(301, headers={"Location": "/real-robots.txt"})],
                                                    "/real-robots.txt": [Reply(200, b"User-agent: *\nAllow: /\n")]})
    with scripted_server(routes) as (base, _):
        _, report, _ = crawl(shopify_site(base))
    assert report.robots[0]["redirects"] == [f"{base}/real-robots.txt"] and report.robots[0]["policy"] == "parsed"


BROKEN_QUOTE = (b'{"products":[{"id":1,"title":"Lawn kurta 1","handle":"kurta-1","body_html":"<p>24" wide</p>",'
                b'"variants":[{"id":11,"title":"S","price":"2990.00"}],"images":[]},')


@pytest.mark.parametrize(("page_one", "headers", "kept"), [
    # Whole products after a broken one are kept, and recognise the platform.
    (BROKEN_QUOTE + json.dumps(product(5)).encode() + b"]}", {}, {"2", "5"}),
    # Nothing whole on the page: Shopify's own response header recognises it.
    (b'{"products":[{"id":1,"title":"Lawn', {"X-ShopId": "12345", "Powered-By": "Shopify"}, {"2"}),
    # A warning printed before the JSON: still the store's listing.
    (b"<br />\n<b>Warning</b>: cache miss<br />\n" + json.dumps({"products": [product(6)]}).encode(), {}, {"2", "6"}),
], ids=["whole-products-after-the-break", "by-the-shopify-header", "junk-before-the-json"])
def test_a_shopify_store_whose_first_page_is_malformed_is_still_crawled(page_one: bytes, headers: dict[str, str],
                                                                        kept: set[str]) -> None:
    broken = Reply(200, page_one, {"Content-Type": "application/json", **headers})
    routes = {"/robots.txt": [NOT_FOUND], "/products.json?limit=1&page=1": [broken],
              "/products.json?limit=1&page=2": [listing(product(2))], "/products.json?limit=1&page=3": [listing()]}
    with scripted_server(routes) as (base, _):
        records, report, _ = crawl(site_settings("hostile", base))
    assert report.platform == "shopify" and not report.failed, report.stopped_reason
    assert {r.product_id for r in records} == kept
    assert [e for e in report.errors if "page=1" in e and "not JSON" in e]


# --- the downloader -----------------------------------------------------------------------------------------


def test_a_dribbled_image_ends_at_the_download_deadline(tmp_path: Path) -> None:
    routes = {"/robots.txt": [NOT_FOUND], "/a.jpg": [image_reply("red")], "/b.jpg": [image_reply("blue")],
              "/slow.jpg": [dribble(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n")]}
    with scripted_server(routes) as (base, _):
        rows, bounds = download(tmp_path, [f"{base}/a.jpg", f"{base}/slow.jpg", f"{base}/b.jpg"])
    assert [r.status for r in rows] == [ImageStatus.ok, ImageStatus.fetch_failed, ImageStatus.ok]
    assert f"{DEADLINE_S:g} s deadline" in rows[1].error and bounds.seconds < 3 * DEADLINE_S


def test_image_urls_that_are_not_http_are_recorded_as_such_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(jpeg("green"))
    routes = {"/robots.txt": [NOT_FOUND], "/a.jpg": [image_reply("red")]}
    with scripted_server(routes) as (base, script):
        urls = [f"file://{secret}", "data:image/jpeg;base64,/9j/4AAQ", "ftp://127.0.0.1/x.jpg", "javascript:alert(1)",
                "http://[oops/x.jpg", "http://127.0.0.1:99999/x.jpg", f"{base}/a.jpg"]
        rows, _ = download(tmp_path, urls)
    statuses = [r.status for r in rows]
    assert statuses == [ImageStatus.unsupported_scheme] * 4 + [ImageStatus.bad_url] * 2 + [ImageStatus.ok]
    assert all(r.error and "robots" not in r.error for r in rows[:6])
    assert script.paths() == ["/robots.txt", "/a.jpg"] and len(list(ImageStore(tmp_path / "images").names())) == 1


def test_crawled_image_urls_that_do_not_parse_reach_the_ledger(tmp_path: Path) -> None:
    images = [{"src": "http://[oops/x.jpg"}, {"src": "javascript:alert(1)"}, {"src": "/img/1.jpg"}]
    routes = {"/robots.txt": [NOT_FOUND], "/products.json?limit=1&page=1": [listing(product(1, images=images))],
              "/products.json?limit=1&page=2": [listing()], "/img/1.jpg": [image_reply()]}
    with scripted_server(routes) as (base, _):
        records, _, _ = crawl(shopify_site(base))
        rows, _ = download(tmp_path, records[0].image_urls)
    assert [r.status for r in rows] == [ImageStatus.bad_url, ImageStatus.unsupported_scheme, ImageStatus.ok]


def test_decode_errors_are_the_same_text_in_identical_runs(tmp_path: Path) -> None:
    routes = {"/robots.txt": [NOT_FOUND], "/a.jpg": [Reply(200, b"not an image at all", {"Content-Type": "image/jpeg"})]}
    with scripted_server(routes) as (base, _):
        first, _ = download(tmp_path / "1", [f"{base}/a.jpg"])
        second, _ = download(tmp_path / "2", [f"{base}/a.jpg"])
    assert first[0].status is ImageStatus.decode_failed and first[0].error == second[0].error
    assert " at 0x" not in first[0].error


# --- the stage as users run it ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("robots", "code", "says"), [
    (Reply(500, b"down"), 1, "could not be read (HTTP 500)"),
    (Reply(200, b"User-agent: *\nDisallow: /\n"), 0, "robots.txt disallows"),
], ids=["robots-500-must-act", "robots-disallows-all-nothing-for-us"])
def test_the_crawl_stage_ends_with_a_report_and_one_line(tmp_path: Path, repo_root: Path, robots: Reply, code: int,
                                                         says: str) -> None:
    work = copy_repo(repo_root, tmp_path / "repo")
    with scripted_server({"/robots.txt": [robots]}) as (base, _):
        done = subprocess.run([sys.executable, "-m", "pakfashion.crawl", "site=generic", "site.name=x",
                               f"site.base_url={base}"], cwd=work, capture_output=True, text=True, timeout=120)
    assert done.returncode == code, done.stderr
    output = done.stdout + done.stderr
    assert "Traceback" not in output and says in output
    report = read_json(work / "data/raw/x" / CRAWL_REPORT_FILE)
    assert says in report["stopped_reason"] and report["failed"] is (code == 1)


@pytest.mark.slow
def test_a_bad_config_value_is_one_line_naming_the_key(tmp_path: Path, repo_root: Path) -> None:
    work = copy_repo(repo_root, tmp_path / "repo")
    done = subprocess.run([sys.executable, "-m", "pakfashion.crawl", "site=generic", "site.name=x",
                           "site.base_url=http://127.0.0.1:9", "web.timeout_s=0"], cwd=work, capture_output=True,
                          text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in output
    assert "web.timeout_s=0.0: must be greater than 0" in output
