"""Tests for the loopback demo retail world (`pakfashion.demo`)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from PIL import Image, ImageStat
from protego import Protego

from pakfashion.demo import (
    COLOURS,
    AtelierProduct,
    DemoProduct,
    DemoServer,
    Faults,
    atelier_pages,
    build_world,
    pages,
    running_demo,
)
from pakfashion.demo.evidence import ATELIER_DESIGNS, BOUTIQUE_DESIGNS, SHOP_DESIGNS
from pakfashion.demo.images import draw_garment, nearest_colour

pytestmark = pytest.mark.network

UA = "pakfashion-test/1.0 (+https://example.invalid/bot)"
SHOPIFY_SITES = ("demo_shop", "demo_boutique")
ATELIER = "demo_atelier"
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
IMG = "{http://www.google.com/schemas/sitemap-image/1.1}"


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoServer]:
    """A running demo server shared by the module."""
    with running_demo() as server:
        yield server


@pytest.fixture()
def http(demo: DemoServer) -> Iterator[requests.Session]:
    """A requests session with a test User-Agent; faults and log reset around each test."""
    demo.faults = Faults()
    demo.clear_log()
    session = requests.Session()
    session.headers["User-Agent"] = UA
    yield session
    session.close()
    demo.faults = Faults()


def _products(http: requests.Session, base: str, **params: int) -> requests.Response:
    return http.get(f"{base}/products.json", params=params, timeout=5)


def _first_ok_image(product: DemoProduct) -> int:
    return next(i for i, spec in enumerate(product.image_specs) if not spec.broken)


def _absolute(src: str) -> str:
    return "http:" + src if src.startswith("//") else src


def test_world_is_deterministic() -> None:
    assert build_world(7) == build_world(7)
    assert build_world(7) != build_world(8)


def test_ground_truth_counts() -> None:
    world = build_world()
    assert world.counts() == {
        "demo_shop": {"children": 15, "keep": 33, "no_image": 1, "non_clothing": 5},
        "demo_boutique": {"children": 7, "keep": 33, "no_image": 2, "non_clothing": 13},
        "demo_atelier": {"children": 3, "keep": 20, "non_clothing": 2},
    }
    for name in SHOPIFY_SITES:
        site = world.sites[name]
        assert any(p.shopify["images"] == [] for p in site.products), name
        assert any(s.broken for p in site.products for s in p.image_specs[:1]), name
        assert sum(len(p.image_specs) >= 2 for p in site.products) >= 2, name
        assert sum(p.shopify["product_type"] == "" for p in site.products) >= 2, name
        assert any(p.duplicate_of for p in site.products), name
        ids = [p.id for p in site.products]
        assert ids == sorted(ids, reverse=True)
        assert len({p.handle for p in site.products}) == len(site.products)
    tricky = [p for p in world.products() if "Girls Night Out" in p.title]
    assert tricky and all(p.expected == "keep" for p in tricky)
    assert all(len(str(p.id)) == 13 for p in world.products())


def test_both_sites_reachable(demo: DemoServer, http: requests.Session) -> None:
    assert demo.base_url("demo_shop") == f"http://127.0.0.1:{demo.port}"
    assert demo.base_url("demo_boutique") == f"http://127.0.0.2:{demo.port}"
    titles = {}
    for name in SHOPIFY_SITES:
        response = _products(http, demo.base_url(name), limit=250)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        titles[name] = {p["title"] for p in response.json()["products"]}
        assert len(titles[name]) == len(demo.world.sites[name].products)
    assert titles["demo_shop"] != titles["demo_boutique"]


def test_paging_semantics(demo: DemoServer, http: requests.Session) -> None:
    base = demo.base_url("demo_shop")
    site = demo.world.sites["demo_shop"]
    default = _products(http, base).json()["products"]
    assert len(default) == 30
    assert [p["id"] for p in default] == [p.id for p in site.products[:30]]
    page2 = _products(http, base, limit=30, page=2).json()["products"]
    assert [p["id"] for p in page2] == [p.id for p in site.products[30:60]]
    assert len(_products(http, base, limit=1000).json()["products"]) == len(site.products)
    assert _products(http, base, limit=250, page=2).json() == {"products": []}
    assert _products(http, base, limit=250, page=100).status_code == 200
    capped = _products(http, base, limit=250, page=101)
    assert capped.status_code == 400
    assert "errors" in capped.json()
    assert _products(http, base, limit=5000, page=101).status_code == 400  # clamped to 250


def test_image_src_forms(demo: DemoServer, http: requests.Session) -> None:
    products = _products(http, demo.base_url("demo_shop"), limit=250).json()["products"]
    srcs = [i["src"] for p in products for i in p["images"]]
    netloc = f"127.0.0.1:{demo.port}"
    assert any(s.startswith(f"//{netloc}/cdn/shop/files/") for s in srcs)
    assert any(s.startswith(f"http://{netloc}/cdn/shop/products/") for s in srcs)
    assert all(re.search(r"\?v=\d+$", s) for s in srcs)


def test_robots_txt(demo: DemoServer, http: requests.Session) -> None:
    for name in SHOPIFY_SITES:
        site = demo.world.sites[name]
        text = http.get(f"{demo.base_url(name)}/robots.txt", timeout=5).text
        assert "User-agent: *" in text
        assert "Disallow: /checkout" in text and "Disallow: /account" in text
        assert f"Crawl-delay: {site.crawl_delay_s:g}" in text
        assert text.count(f"Sitemap: {demo.base_url(name)}/sitemap.xml") == 2
        assert "User-agent: AhrefsBot\nCrawl-delay: 10\nDisallow: /\n" in text


def test_image_colour_and_format(demo: DemoServer, http: requests.Session) -> None:
    checked = 0
    for product in demo.world.products():
        if product.expected != "keep" or not product.image_specs:
            continue
        index = _first_ok_image(product)
        spec = product.image_specs[index]
        src = product.render(demo.world.sites[product.site].netloc(demo.port))["images"][index]["src"]
        response = http.get(_absolute(src), timeout=5)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == ("image/jpeg" if spec.draw.fmt == "JPEG" else "image/png")
        assert int(response.headers["Content-Length"]) == len(response.content)
        image = Image.open(io.BytesIO(response.content)).convert("RGB")
        assert image.size == (spec.draw.width, spec.draw.height)
        w, h = image.size
        centre = image.crop((int(w * 0.45), int(h * 0.45), int(w * 0.55), int(h * 0.55)))
        rgb = tuple(ImageStat.Stat(centre).median)
        assert nearest_colour(rgb) == product.colour, product.title
        assert product.colour in COLOURS
        checked += 1
    assert checked >= 70  # the atelier's 20 adult garments included


def test_broken_image_404(demo: DemoServer, http: requests.Session) -> None:
    broken = [(p, s) for p in demo.world.products() for s in p.image_specs if s.broken]
    assert broken
    for product, spec in broken:
        netloc = demo.world.sites[product.site].netloc(demo.port)
        assert http.get(_absolute(spec.url(netloc)), timeout=5).status_code == 404


def test_identical_image_pair(demo: DemoServer, http: requests.Session) -> None:
    for name in SHOPIFY_SITES:
        site = demo.world.sites[name]
        dup = next(p for p in site.products if p.duplicate_of)
        original = next(p for p in site.products if p.id == dup.duplicate_of)
        a, b = original.image_specs[0], dup.image_specs[0]
        assert a.path != b.path
        netloc = site.netloc(demo.port)
        body_a = http.get(_absolute(a.url(netloc)), timeout=5).content
        body_b = http.get(_absolute(b.url(netloc)), timeout=5).content
        assert body_a == body_b and len(body_a) > 1000, name


def test_product_page_json_ld(demo: DemoServer, http: requests.Session) -> None:
    product = next(p for p in demo.world.products("demo_boutique")
                   if p.expected == "keep" and len(p.image_specs) >= 2)
    base = demo.base_url("demo_boutique")
    page = http.get(f"{base}/products/{product.handle}", timeout=5)
    assert page.status_code == 200
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', page.text, re.S)
    assert block
    data = json.loads(block.group(1))
    assert data["@type"] == "Product" and data["name"] == product.title
    assert data["offers"][0]["priceCurrency"] == "PKR"
    assert len(data["image"]) == len(product.image_specs)
    assert product.colour in data["description"].lower()
    assert f'<meta property="og:title" content="{product.title}">' in page.text
    one = http.get(f"{base}/products/{product.handle}.json", timeout=5).json()
    assert one["product"]["id"] == product.id
    assert http.get(f"{base}/products/no-such-thing", timeout=5).status_code == 404


def test_sitemaps(demo: DemoServer, http: requests.Session) -> None:
    base = demo.base_url("demo_shop")
    index = http.get(f"{base}/sitemap.xml", timeout=5).text
    assert f"<loc>{base}/sitemap_products_1.xml</loc>" in index
    products = http.get(f"{base}/sitemap_products_1.xml", timeout=5).text
    locs = re.findall(r"<url><loc>([^<]+)</loc>", products)
    assert len(locs) == len(demo.world.sites["demo_shop"].products)
    assert "<image:loc>" in products and "<lastmod>" in products


def test_request_log_and_404s(demo: DemoServer, http: requests.Session) -> None:
    base = demo.base_url("demo_boutique")
    assert http.get(f"{base}/checkout", timeout=5).status_code == 404
    head = http.head(f"{base}/robots.txt", timeout=5)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) > 0 and not head.content
    assert http.post(f"{base}/cart", data={"id": 1}, timeout=5).status_code == 405
    log = demo.request_log
    assert [(r.site, r.method, r.path, r.status) for r in log] == [
        ("demo_boutique", "GET", "/checkout", 404), ("demo_boutique", "HEAD", "/robots.txt", 200),
        ("demo_boutique", "POST", "/cart", 405)]
    assert all(r.user_agent == UA for r in log)
    demo.clear_log()
    assert demo.request_log == []


def test_rate_limit_fault(demo: DemoServer, http: requests.Session) -> None:
    demo.faults.rate_limit_every = 2
    base = demo.base_url("demo_shop")
    responses = [_products(http, base, limit=1) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 429, 200, 429]
    assert responses[1].headers["Retry-After"] == "1"
    assert "errors" in responses[1].json()
    assert http.get(f"{base}/robots.txt", timeout=5).status_code == 200


def test_500_noai_and_slow_faults(demo: DemoServer, http: requests.Session) -> None:
    base = demo.base_url("demo_shop")
    product = next(p for p in demo.world.products("demo_shop") if p.expected == "keep")
    spec = product.image_specs[_first_ok_image(product)]
    demo.faults = Faults(error_500_every=1, noai_images={spec.path}, slow_s=0.01)
    assert _products(http, base).status_code == 500
    demo.faults.error_500_every = 0
    image = http.get(f"{base}{spec.path}?v={spec.version}", timeout=5)
    assert image.status_code == 200 and image.headers["X-Robots-Tag"] == "noai"


def test_responses_are_byte_identical_for_same_seed(demo: DemoServer, http: requests.Session) -> None:
    fresh = build_world(7).sites["demo_shop"]
    served = _products(http, demo.base_url("demo_shop"), limit=250).content
    assert served == pages.products_page(fresh, demo.port, 250, 1)
    spec = next(s for p in fresh.products for s in p.image_specs if not s.broken)
    image = http.get(f"{demo.base_url('demo_shop')}{spec.path}", timeout=5).content
    assert image == draw_garment(spec.draw)


# The Shopify sites change only when the demo grows on purpose -------------------------

SHOPIFY_SHA256 = {  # at port 8765; recomputed when the curation cases (problem images, issue #20) were added
    "demo_shop": ("9cd9bb286bceb20428045a0381c62eb4b3e80df81c7c228a83e11cb07bfd930c",
                  "3a2de9464b5944ae0620f03af75aee91a96f42393b64cf9239cb5cb4a866256b",
                  "d3d1f1817175b6e4def8a450d947fa0fc4d7e1d9b1c63ff7b7b8cd0320a3e1dd", "29033175"),
    "demo_boutique": ("c7765628081337911f339c3ca6cd9ab5fee73b5e0dec77c935d6321e50b8739f",
                      "b9c710a5f9baa1711e6c2f1fd013ddc349575faa7ccdf2072113737f9eaac7d1",
                      "3659b3b03649855ebd85c013ed43f80d2228c95df944f60ce282e76009671275", "43600138"),
}
ORIGINAL_SHA256 = {  # the products of the world before the evidence designs and curation cases, at port 8765
    "demo_shop": "caa165e765a333214b4eb9cd1bc885d4d65835c265ffd575539ceea2f851c37b",
    "demo_boutique": "ebf278ec4fa2f086138f76c68d902464e0e09f80b4b235839a0b8b2f6184475d",
    "demo_atelier": "cce5285ac81fa50a485a05ca54df68ff8e1876236597f0516d9e6e0b6219140b",
}
DESIGN_TITLES = {d.title for d in (*SHOP_DESIGNS, *BOUTIQUE_DESIGNS, *ATELIER_DESIGNS)}


def _at_8765(body: bytes, demo: DemoServer, name: str) -> bytes:
    netloc = demo.world.sites[name].netloc(demo.port).encode()
    return body.replace(netloc, demo.world.sites[name].netloc(8765).encode())


def _without_problem_images(product: DemoProduct, netloc: str) -> dict[str, Any]:
    """The product's Shopify dict at `netloc` without the curation cases appended to its gallery."""
    rendered = product.render(netloc)
    rendered["images"] = [image for image, spec in zip(rendered["images"], product.image_specs)
                          if spec.problem is None]
    return rendered


def test_original_products_are_unchanged_by_the_evidence_designs_and_curation_cases() -> None:
    world = build_world()
    for name, expected in ORIGINAL_SHA256.items():
        site = world.sites[name]
        digest = hashlib.sha256()
        for product in site.products:
            if product.title not in DESIGN_TITLES:
                digest.update(pages.to_json(_without_problem_images(product, site.netloc(8765))))
        assert digest.hexdigest() == expected, name


def test_shopify_sites_unchanged(demo: DemoServer, http: requests.Session) -> None:
    for name, (products_sha, other_sha, collections_sha, shop_id) in SHOPIFY_SHA256.items():
        base = demo.base_url(name)
        digest = hashlib.sha256()
        for limit, page in ((250, 1), (30, 1), (30, 2)):
            response = _products(http, base, limit=limit, page=page)
            assert response.headers["Powered-By"] == "Shopify" and response.headers["X-ShopId"] == shop_id
            digest.update(_at_8765(response.content, demo, name))
        assert digest.hexdigest() == products_sha, name
        digest = hashlib.sha256()
        for path in ("/robots.txt", "/", "/sitemap.xml", "/sitemap_products_1.xml"):
            digest.update(_at_8765(http.get(base + path, timeout=5).content, demo, name))
        for product in demo.world.products(name):
            for path in (f"/products/{product.handle}", f"/products/{product.handle}.json"):
                digest.update(_at_8765(http.get(base + path, timeout=5).content, demo, name))
        assert digest.hexdigest() == other_sha, name
        digest = hashlib.sha256()
        digest.update(http.get(f"{base}/collections.json", timeout=5).content)
        for collection in demo.world.sites[name].collections:
            url = f"{base}/collections/{collection.handle}/products.json?limit=250"
            digest.update(_at_8765(http.get(url, timeout=5).content, demo, name))
        assert digest.hexdigest() == collections_sha, name


# Shopify collections ---------------------------------------------------------------

def _collections(http: requests.Session, base: str, **params: int) -> requests.Response:
    return http.get(f"{base}/collections.json", params=params, timeout=5)


def test_collections_json_and_membership_pages(demo: DemoServer, http: requests.Session) -> None:
    for name in SHOPIFY_SITES:
        site = demo.world.sites[name]
        base = demo.base_url(name)
        response = _collections(http, base)
        assert response.status_code == 200 and response.headers["Content-Type"] == "application/json; charset=utf-8"
        listed = response.json()["collections"]
        assert [c["handle"] for c in listed] == [c.handle for c in site.collections]
        for item in listed:
            assert {"id", "handle", "title", "products_count", "published_at", "updated_at"} <= set(item)
            assert len(str(item["id"])) == 12 and item["published_at"] <= item["updated_at"]
            members = http.get(f"{base}/collections/{item['handle']}/products.json", params={"limit": 250},
                               timeout=5).json()["products"]
            assert [p["id"] for p in members] == [p.id for p in site.collection_products(item["handle"])]
            assert item["products_count"] == len(members) > 0, item["handle"]
            assert members == [p.render(site.netloc(demo.port)) for p in site.collection_products(item["handle"])]
        assert [c["handle"] for c in _collections(http, base, limit=2, page=2).json()["collections"]] == [
            c.handle for c in site.collections[2:4]]
        kids = [c for c in site.collections if c.meaning == "children"]
        assert kids and all(re.search(r"\b(kids|girls|boys)\b", c.title.lower()) for c in kids), name
        assert any(c.meaning == "non_clothing" for c in site.collections), name
        assert {"Women Pret", "Unstitched Lawn", "Eid Edit"} <= {c.title for c in site.collections}
        missing = http.get(f"{base}/collections/no-such-thing/products.json", timeout=5)
        assert missing.status_code == 404 and missing.json() == {"errors": "Not Found"}
        assert _collections(http, base, limit=250, page=101).status_code == 400
    assert http.get(f"{demo.base_url(ATELIER)}/collections.json", timeout=5).status_code == 404


def test_every_shopify_product_is_in_the_collections_a_store_would_use() -> None:
    world = build_world()
    for name in SHOPIFY_SITES:
        site = world.sites[name]
        handles = {c.handle for c in site.collections}
        meaning = {c.handle: c.meaning for c in site.collections}
        for product in site.products:
            assert product.collections and set(product.collections) <= handles, product.title
            kinds = {meaning[h] for h in product.collections} - {"adult"}
            given_away_elsewhere = product.title in DESIGN_TITLES and not re.search(r"collection|type",
                                                                                    product.notes)
            if product.expected in ("keep", "no_image") or given_away_elsewhere:
                assert not kinds, product.title  # only adult collections list it
            else:
                assert kinds == {product.expected}, product.title
        frontpage = site.collection("frontpage")
        assert frontpage is None or frontpage.title == "Home page"


def test_truncated_paths_fault(demo: DemoServer, http: requests.Session) -> None:
    base = demo.base_url("demo_boutique")
    full = _collections(http, base).content
    demo.faults.truncated_paths = {"/collections.json"}
    cut = _collections(http, base)
    assert cut.status_code == 200 and cut.content == full[:len(full) // 2]
    assert _products(http, base, limit=1).json()["products"]


# The SFCC-like atelier ----------------------------------------------------------------

def _atelier(demo: DemoServer) -> list[AtelierProduct]:
    products = demo.world.products(ATELIER)
    assert all(isinstance(p, AtelierProduct) for p in products)
    return products  # type: ignore[return-value]


def test_atelier_world() -> None:
    site = build_world().sites[ATELIER]
    assert build_world().counts()[ATELIER] == {"children": 3, "keep": 20, "non_clothing": 2}
    assert site.host == "127.0.0.3" and site.platform == "sfcc"
    products = [*site.products, *site.disallowed_products]
    assert all(isinstance(p, AtelierProduct) for p in products)
    assert len({p.sku for p in products}) == len({p.id for p in products}) == len(products) == 27
    for product in site.products:
        assert re.fullmatch(r"/(kids/girls/)?[a-z0-9-]+-AT\d{4}\.html", product.page_path), product.page_path
        assert product.page_path.endswith(f"-{product.sku}.html") and product.image_specs
    assert len(site.disallowed_pages) == 2
    assert all(re.fullmatch(r"/private/[a-z0-9-]+-AT\d{4}\.html", path) for path in site.disallowed_pages)
    layouts = [p.layout for p in site.products]  # type: ignore[attr-defined]
    assert layouts.count("og_only") == 1 and layouts.count("group") >= 2 and layouts.count("graph") >= 2
    assert {"cdata", "trailing_comma", "aggregate", "type_list"} <= set(layouts)
    non_clothing = [p.title for p in site.products if p.expected == "non_clothing"]
    assert any("Parfum" in t for t in non_clothing) and any("Attar" in t for t in non_clothing)


def test_atelier_address_and_no_json_api(demo: DemoServer, http: requests.Session) -> None:
    base = demo.base_url(ATELIER)
    assert base == f"http://127.0.0.3:{demo.port}"
    assert demo.base_urls()[ATELIER] == base
    for path in ("/products.json", "/products.json?limit=250", "/products/anything.json", "/sitemap.xml"):
        response = http.get(base + path, timeout=5)
        assert response.status_code == 404, path
        assert response.headers["Content-Type"].startswith("text/html"), path
    assert "Powered-By" not in response.headers and "X-DW-Request-Base-Id" in response.headers


def test_atelier_robots_txt(demo: DemoServer, http: requests.Session) -> None:
    base = demo.base_url(ATELIER)
    text = http.get(f"{base}/robots.txt", timeout=5).text
    assert text == ("User-agent: *\nDisallow: /private/\nDisallow: /*?start=\nDisallow: /*&sz=\n"
                    "Disallow: /on/demandware.store/\nCrawl-delay: 0.05\n\n"
                    f"Sitemap: {base}/sitemap_index.xml\n")
    robots = Protego.parse(text)
    site = demo.world.sites[ATELIER]
    for path in site.disallowed_pages + ["/women/?start=12&sz=12", "/women/kurta/?x=1&sz=24",
                                         atelier_pages.CART_PATH]:
        assert not robots.can_fetch(base + path, UA), path
    for product in _atelier(demo):
        assert robots.can_fetch(product.url(site.netloc(demo.port)), UA)
        assert all(robots.can_fetch(url, UA) for url in product.image_urls(site.netloc(demo.port)))
    assert robots.crawl_delay(UA) == 0.05


def _sitemap_urls(root: ET.Element) -> dict[str, ET.Element]:
    return {url.findtext(f"{SM}loc") or "": url for url in root.iter(f"{SM}url")}


def test_atelier_sitemaps(demo: DemoServer, http: requests.Session) -> None:
    base = demo.base_url(ATELIER)
    site = demo.world.sites[ATELIER]
    netloc = site.netloc(demo.port)
    index = ET.fromstring(http.get(f"{base}/sitemap_index.xml", timeout=5).content)
    children = [loc.text for loc in index.iter(f"{SM}loc")]
    assert children == [f"{base}/sitemap_0-product.xml.gz", f"{base}/sitemap_0-content.xml"]
    response = http.get(children[0], timeout=5)
    assert response.headers["Content-Type"] == "application/x-gzip"
    assert "Content-Encoding" not in response.headers and response.content[:2] == b"\x1f\x8b"
    urls = _sitemap_urls(ET.fromstring(gzip.decompress(response.content)))
    products = [*site.products, *site.disallowed_products]
    assert list(urls) == [f"{base}{p.page_path}" for p in sorted(products, key=lambda p: p.sku)]  # type: ignore
    for product in products:
        entry = urls[f"{base}{product.page_path}"]  # type: ignore[attr-defined]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", entry.findtext(f"{SM}lastmod") or "")
        images = [e.text for e in entry.iter(f"{IMG}loc")]
        assert images == product.image_urls(netloc)  # type: ignore[attr-defined]
    content = _sitemap_urls(ET.fromstring(http.get(children[1], timeout=5).content))
    assert {f"{base}/about-us.html", f"{base}/stores.html"} <= set(content)
    assert all(http.get(url, timeout=5).status_code == 200 for url in content)


def _lenient_json(block: str) -> Any:
    text = block.strip().replace("//<![CDATA[", "").replace("//]]>", "")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(re.sub(r",\s*([}\]])", r"\1", text))


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from _nodes(item)
    elif isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)


def _image_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [value["url"]]
    return [url for item in value for url in _image_list(item)]


def _page_product(text: str) -> tuple[str, dict[str, Any]]:
    """Return ("jsonld", fields) or ("og", fields) for a product page, as a crawler would read it."""
    for block in re.findall(r'<script type="application/ld\+json">(.*?)</script>', text, re.S):
        try:
            document = _lenient_json(block)
        except json.JSONDecodeError:
            continue
        for node in _nodes(document):
            types = node.get("@type")
            types = types if isinstance(types, list) else [types]
            if "ProductGroup" in types or ("Product" in types and "offers" in node and "size" not in node):
                offers = [node["offers"]] if "offers" in node else [v["offers"] for v in node["hasVariant"]]
                return "jsonld", {"name": node["name"], "sku": node.get("sku") or node.get("productGroupID"),
                                  "price": float(offers[0].get("price", offers[0].get("lowPrice"))),
                                  "currency": offers[0]["priceCurrency"], "images": _image_list(node["image"]),
                                  "url": node["url"], "types": types}
    meta = dict(re.findall(r'<meta property="(og:title|product:price:amount|product:price:currency)" '
                           r'content="([^"]*)">', text))
    images = re.findall(r'<meta property="og:image" content="([^"]*)">', text)
    return "og", {"name": meta["og:title"], "price": float(meta["product:price:amount"]),
                  "currency": meta["product:price:currency"], "images": [i.replace("&amp;", "&") for i in images]}


def test_atelier_product_pages_match_ground_truth(demo: DemoServer, http: requests.Session) -> None:
    base = demo.base_url(ATELIER)
    site = demo.world.sites[ATELIER]
    netloc = site.netloc(demo.port)
    listed = _sitemap_urls(ET.fromstring(gzip.decompress(
        http.get(f"{base}/sitemap_0-product.xml.gz", timeout=5).content)))
    by_url = {p.url(netloc): p for p in _atelier(demo)}
    sources: list[str] = []
    raw = ""
    for url in listed:
        if "/private/" in url:
            continue
        product = by_url[url]
        response = http.get(url, timeout=5)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
        assert f'<link rel="canonical" href="{url}">' in response.text
        source, found = _page_product(response.text)
        sources.append(source)
        raw += response.text
        assert found["name"] == product.title and found["currency"] == "PKR", url
        assert found["price"] == product.price, url
        assert found["images"][0] == product.image_urls(netloc)[0], url
        assert set(found["images"]) <= set(product.image_urls(netloc)), url
        if source == "jsonld":
            assert found["sku"] == product.sku and found["url"] == url
    assert len(sources) == 25 and sources.count("og") == 1
    for shape in ('"@graph"', '"@type": [\n    "Product"\n  ]', '"ProductGroup"', '"hasVariant"',
                  "//<![CDATA[", '"AggregateOffer"', '"lowPrice"', '"ImageObject"', ',\n}\n</script>'):
        assert shape in raw, shape
    assert re.search(r'"price": \d+,', raw) and re.search(r'"price": "\d+\.00"', raw)


def test_atelier_pages_work_with_the_extractor(demo: DemoServer, http: requests.Session) -> None:
    from pakfashion.crawling.jsonld import canonical_url, extract_product

    netloc = demo.world.sites[ATELIER].netloc(demo.port)
    for product in _atelier(demo):
        text = http.get(product.url(netloc), timeout=5).text
        found = extract_product(text)
        assert found is not None, product.page_path
        fields, how = found
        assert how == ("open_graph" if product.layout == "og_only" else "jsonld"), product.page_path
        assert fields["name"] == product.title and float(fields["prices"][0]) == product.price
        assert fields["images"][0] == product.image_urls(netloc)[0]
        assert canonical_url(text) == product.url(netloc)


def test_atelier_categories_images_and_private_pages(demo: DemoServer, http: requests.Session) -> None:
    base = demo.base_url(ATELIER)
    site = demo.world.sites[ATELIER]
    home = http.get(f"{base}/", timeout=5).text
    assert 'href="/women/kurta/"' in home and f'href="{atelier_pages.CART_PATH}"' in home
    kurtas = [p for p in _atelier(demo) if p.garment == "kurta" and p.expected == "keep"]
    page = http.get(f"{base}/women/kurta/", timeout=5).text
    assert kurtas and all(f'href="{p.page_path}"' in page for p in kurtas)
    women = http.get(f"{base}/women/", timeout=5).text
    assert 'href="/women/?start=12&amp;sz=12"' in women
    assert http.get(f"{base}/women/?start=12&sz=12", timeout=5).status_code == 200
    assert http.get(f"{base}/no-such-category/", timeout=5).status_code == 404
    product = next(p for p in _atelier(demo) if "&" in p.image_specs[0].query)  # type: ignore[operator]
    image = http.get(product.image_urls(site.netloc(demo.port))[0], timeout=5)
    assert image.status_code == 200 and image.content == draw_garment(product.image_specs[0].draw)
    for path in site.disallowed_pages:  # served to whoever ignores robots.txt
        assert http.get(base + path, timeout=5).status_code == 200
    assert [r.path for r in demo.request_log if r.path.startswith("/private/")] == site.disallowed_pages


# The new faults ------------------------------------------------------------------------

def test_truncate_json_fault(demo: DemoServer, http: requests.Session) -> None:
    base = demo.base_url("demo_shop")
    full = _products(http, base, limit=5).content
    demo.faults.truncate_json_every = 2
    responses = [_products(http, base, limit=5) for _ in range(4)]
    assert [r.content == full for r in responses] == [True, False, True, False]
    cut = responses[1]
    assert cut.status_code == 200 and cut.content == full[:len(full) // 2]
    assert int(cut.headers["Content-Length"]) == len(cut.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)


def test_noai_pages_fault(demo: DemoServer, http: requests.Session) -> None:
    shop, atelier = demo.base_url("demo_shop"), demo.base_url(ATELIER)
    handle = demo.world.products("demo_shop")[0].handle
    page = _atelier(demo)[0].page_path
    demo.faults.noai_pages = {f"/products/{handle}", f"/products/{handle}.json", page}
    for url in (f"{shop}/products/{handle}", f"{shop}/products/{handle}.json", atelier + page):
        response = http.get(url, timeout=5)
        assert response.status_code == 200 and response.headers["X-Robots-Tag"] == "noai, noimageai", url
    other = http.get(f"{shop}/products/{demo.world.products('demo_shop')[1].handle}", timeout=5)
    assert "X-Robots-Tag" not in other.headers


def test_redirect_traps(demo: DemoServer, http: requests.Session) -> None:
    atelier, shop = demo.base_url(ATELIER), demo.base_url("demo_shop")
    assert http.get(f"{atelier}/loop-a.html", timeout=5).status_code == 404
    plain = gzip.decompress(http.get(f"{atelier}/sitemap_0-product.xml.gz", timeout=5).content)
    assert b"loop-a" not in plain
    demo.faults.redirect_traps = True
    listed = gzip.decompress(http.get(f"{atelier}/sitemap_0-product.xml.gz", timeout=5).content)
    assert f"<loc>{atelier}/loop-a.html</loc>".encode() in listed
    assert f"<loc>{atelier}/moved-offsite.html</loc>".encode() in listed
    shop_map = http.get(f"{shop}/sitemap_products_1.xml", timeout=5).text
    assert f"<loc>{shop}/products/loop-a</loc>" in shop_map and f"<loc>{shop}/products/moved-offsite</loc>" in shop_map
    for base, a, b, off in ((atelier, "/loop-a.html", "/loop-b.html", "/moved-offsite.html"),
                            (shop, "/products/loop-a", "/products/loop-b", "/products/moved-offsite")):
        first = http.get(base + a, allow_redirects=False, timeout=5)
        assert (first.status_code, first.headers["Location"]) == (302, b)
        second = http.get(base + b, allow_redirects=False, timeout=5)
        assert (second.status_code, second.headers["Location"]) == (302, base + a)
        moved = http.get(base + off, allow_redirects=False, timeout=5)
        assert (moved.status_code, moved.headers["Location"]) == (301, "http://offsite.invalid/elsewhere.html")
    http.max_redirects = 6
    with pytest.raises(requests.TooManyRedirects):
        http.get(f"{atelier}/loop-a.html", timeout=5)


def test_control_chars_fault(demo: DemoServer, http: requests.Session) -> None:
    base = demo.base_url("demo_boutique")
    demo.faults.control_chars = True
    body = _products(http, base, limit=250).content
    assert b"\x01" in body and b"\x0b" in body and b"\t" in body
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    products = json.loads(body, strict=False)["products"]
    assert len(products) == len(demo.world.products("demo_boutique"))
    assert "\t\x0b\x01</p>" in products[0]["body_html"]
    assert [p["id"] for p in products] == [p.id for p in demo.world.products("demo_boutique")]


def test_html_instead_of_json_fault(demo: DemoServer, http: requests.Session) -> None:
    demo.faults.html_instead_of_json_every = 3
    responses = [_products(http, demo.base_url("demo_shop"), limit=1) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [r.headers["Content-Type"].split(";")[0] for r in responses] == [
        "application/json", "application/json", "text/html"]
    assert "maintenance" in responses[2].text


def test_captcha_fault(demo: DemoServer, http: requests.Session) -> None:
    shop, atelier = demo.base_url("demo_shop"), demo.base_url(ATELIER)
    product = _atelier(demo)[0]
    demo.faults.captcha = True
    for url in (f"{shop}/products.json", f"{atelier}{product.page_path}", f"{atelier}/sitemap_index.xml",
                product.image_urls(demo.world.sites[ATELIER].netloc(demo.port))[0]):
        response = http.get(url, timeout=5)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html"), url
        assert "Please verify you are a human" in response.text and 'class="g-recaptcha"' in response.text
        assert "cf-chl" in response.text
    assert http.get(f"{atelier}/robots.txt", timeout=5).text.startswith("User-agent: *")
    demo.faults = Faults(captcha_sites={ATELIER})
    assert "g-recaptcha" in http.get(f"{atelier}/", timeout=5).text
    assert _products(http, shop, limit=1).json()["products"]


def test_cli_serves_every_site() -> None:
    process = subprocess.Popen([sys.executable, "-m", "pakfashion.demo", "serve", "--port", "0",
                                "--log-level", "WARNING"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().split() for _ in range(3)]
    finally:
        process.terminate()
        process.wait(timeout=10)
    port = lines[0][1].rsplit(":", 1)[1]
    assert lines == [["demo_shop", f"http://127.0.0.1:{port}"], ["demo_boutique", f"http://127.0.0.2:{port}"],
                     ["demo_atelier", f"http://127.0.0.3:{port}"]]


def test_taken_port_on_the_atelier_address_fails_cleanly() -> None:
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.3", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        server = DemoServer(build_world(), port=port)
        with pytest.raises(OSError):
            server.start()
        assert not server.running
        with socket.socket() as probe:  # the sites bound before the failure were closed again
            probe.bind(("127.0.0.1", port))


# Image faults (for the image downloader) ------------------------------------------------

def _fault_case_urls(http: requests.Session, demo: DemoServer) -> dict[str, str]:
    from pakfashion.demo.image_faults import IMAGE_FAULT_CASES

    first = _products(http, demo.base_url("demo_shop"), limit=1).json()["products"][0]
    urls = {src.rsplit("/", 1)[1].split(".")[0]: _absolute(src) for src in (i["src"] for i in first["images"])}
    assert list(urls) == list(IMAGE_FAULT_CASES)
    return urls


def _open(body: bytes) -> Image.Image:
    return Image.open(io.BytesIO(body))


def test_image_faults_off_by_default(demo: DemoServer, http: requests.Session) -> None:
    from pakfashion.demo.image_faults import IMAGE_FAULT_PATHS, IMAGE_FAULTS_TITLE

    assert Faults().image_faults is False
    base = demo.base_url("demo_shop")
    assert http.get(base + IMAGE_FAULT_PATHS["ok"], timeout=5).status_code == 404
    assert http.get(f"{base}/products/image-faults-test-kurta", timeout=5).status_code == 404
    assert IMAGE_FAULTS_TITLE not in _products(http, base, limit=250).text


def test_image_faults_product(demo: DemoServer, http: requests.Session) -> None:
    from pakfashion.demo.image_faults import (
        IMAGE_FAULT_CASES,
        IMAGE_FAULT_PATHS,
        IMAGE_FAULTS_PRODUCT_ID,
    )

    assert set(IMAGE_FAULT_CASES.values()) == {"ok", "fetch_failed", "decode_failed", "duplicate",
                                               "near_duplicate", "too_small", "opted_out"}
    demo.faults.image_faults = True
    base = demo.base_url("demo_shop")
    products = _products(http, base, limit=250).json()["products"]
    site = demo.world.sites["demo_shop"]
    assert [p["id"] for p in products] == [IMAGE_FAULTS_PRODUCT_ID, *(p.id for p in site.products)]
    first = products[0]
    assert (first["title"], first["product_type"], first["handle"]) == (
        "Image Faults Test Kurta", "Kurta", "image-faults-test-kurta")
    assert [i["src"].split("?")[0] for i in first["images"]] == [
        f"//127.0.0.1:{demo.port}{path}" for path in IMAGE_FAULT_PATHS.values()]
    assert [i["position"] for i in first["images"]] == list(range(1, len(IMAGE_FAULT_CASES) + 1))
    assert http.get(f"{base}/products/{first['handle']}.json", timeout=5).json()["product"] == first
    page = http.get(f"{base}/products/{first['handle']}", timeout=5)
    assert page.status_code == 200 and "Image Faults Test Kurta" in page.text
    assert f"{base}/products/{first['handle']}" in http.get(f"{base}/sitemap_products_1.xml", timeout=5).text
    boutique = _products(http, demo.base_url("demo_boutique"), limit=250).json()["products"]
    assert len(boutique) == len(demo.world.sites["demo_boutique"].products)  # demo_shop only
    assert http.get(demo.base_url("demo_boutique") + IMAGE_FAULT_PATHS["ok"], timeout=5).status_code == 404


def test_image_fault_cases(demo: DemoServer, http: requests.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import imagehash
    from PIL import ImageOps, UnidentifiedImageError

    from pakfashion.demo.image_faults import (
        EXIF_ROTATED_STORED_SIZE,
        IMAGE_FAULT_SIZES,
        SLOW_OK_DELAY_S,
        fault_images,
    )

    demo.faults.image_faults = True
    urls = _fault_case_urls(http, demo)
    got: dict[str, requests.Response] = {}
    for case, url in urls.items():
        if case not in ("flaky_500", "rate_limited", "slow_ok"):
            got[case] = http.get(url, timeout=5)
    assert got["broken"].status_code == 404
    for case, response in got.items():
        if case == "broken":
            continue
        assert response.status_code == 200, case
        assert int(response.headers["Content-Length"]) == len(response.content), case
        assert response.content == fault_images()[case].body, case
        assert ("X-Robots-Tag" in response.headers) == (case == "noai"), case
        expected_type = {"wrong_type": "text/html; charset=utf-8"}.get(
            case, "image/png" if urls[case].split("?")[0].endswith(".png") else "image/jpeg")
        assert response.headers["Content-Type"] == expected_type, case
    body = {case: r.content for case, r in got.items()}
    assert got["noai"].headers["X-Robots-Tag"] == "noai"

    truncated = _open(body["truncated"])  # the header parses; the pixels do not
    assert truncated.size == IMAGE_FAULT_SIZES["truncated"] and body["truncated"][:2] == b"\xff\xd8"
    with pytest.raises(OSError):
        truncated.load()
    assert len(body["bomb"]) < 300_000 and body["bomb"][16:24] == (20000).to_bytes(4, "big") * 2
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000_000)
    with pytest.raises(Image.DecompressionBombError):
        _open(body["bomb"])
    for case in ("wrong_type", "not_image_bytes"):
        with pytest.raises(UnidentifiedImageError):
            _open(body[case])
    assert b"<html" in body["wrong_type"]

    modes = {"ok": "RGB", "cmyk": "CMYK", "palette": "P", "rgba": "RGBA", "exif_rotated": "RGB",
             "exact_duplicate": "RGB", "near_duplicate_reencoded": "RGB", "near_duplicate_resized": "RGB",
             "tiny": "RGB", "noai": "RGB"}
    decoded = {}
    for case, mode in modes.items():
        image = _open(body[case])
        assert image.mode == mode, case
        oriented = ImageOps.exif_transpose(image)
        assert oriented.size == IMAGE_FAULT_SIZES[case], case
        decoded[case] = oriented.convert("RGB")
    assert _open(body["exif_rotated"]).size == EXIF_ROTATED_STORED_SIZE == (512, 384)
    assert _open(body["exif_rotated"]).getexif()[0x0112] == 6 and IMAGE_FAULT_SIZES["exif_rotated"] == (384, 512)
    assert "transparency" in _open(body["palette"]).info
    for case in ("palette", "rgba"):
        alpha = _open(body[case]).convert("RGBA").getchannel("A")
        w, h = alpha.size
        assert alpha.getpixel((1, 1)) == 0 and alpha.getpixel((w // 2, h // 2)) == 255, case
    assert min(IMAGE_FAULT_SIZES["tiny"]) < 64 <= min(IMAGE_FAULT_SIZES["ok"])
    assert decoded["exact_duplicate"].tobytes() == decoded["ok"].tobytes()
    assert body["exact_duplicate"][:4] == b"\x89PNG"
    hashes = {case: imagehash.phash(image) for case, image in decoded.items() if case != "tiny"}
    for case in ("near_duplicate_reencoded", "near_duplicate_resized"):
        assert decoded[case].tobytes() != decoded["ok"].tobytes()
        assert hashes[case] - hashes["ok"] <= 2, case
    distinct = [c for c in hashes if c == "ok" or "duplicate" not in c]
    assert min(hashes[a] - hashes[b] for a in distinct for b in distinct if a < b) >= 10

    started = time.perf_counter()
    slow = http.get(urls["slow_ok"], timeout=5)
    assert slow.status_code == 200 and time.perf_counter() - started >= SLOW_OK_DELAY_S
    flaky = [http.get(urls["flaky_500"], timeout=5) for _ in range(4)]
    assert [r.status_code for r in flaky] == [500, 503, 200, 200]
    assert flaky[1].headers["Retry-After"] == "1" and "Retry-After" not in flaky[0].headers
    assert _open(flaky[2].content).size == IMAGE_FAULT_SIZES["flaky_500"]
    limited = [http.get(urls["rate_limited"], timeout=5) for _ in range(2)]
    assert [r.status_code for r in limited] == [429, 200] and limited[0].headers["Retry-After"] == "1"
    demo.faults = Faults(image_faults=True)  # a fresh Faults restarts the sequences
    assert http.get(urls["rate_limited"], timeout=5).status_code == 429
    for case in ("slow_ok", "flaky_500", "rate_limited"):
        assert _open(fault_images()[case].body).convert("RGB").size == IMAGE_FAULT_SIZES[case]


def test_image_fault_bytes_are_deterministic() -> None:
    from pakfashion.demo import image_faults

    fresh = image_faults.fault_images.__wrapped__()  # type: ignore[attr-defined]
    assert {c: i.body for c, i in fresh.items()} == {c: i.body for c, i in image_faults.fault_images().items()}
    product = image_faults.image_faults_product(build_world().sites["demo_shop"])
    assert product == image_faults.image_faults_product(build_world().sites["demo_shop"])
    assert product.expected == "keep" and product.colour == "red" and product.garment == "kurta"


# Bulk images for the download benchmark -------------------------------------------------

def test_bulk_image_server() -> None:
    from pakfashion.demo.bulk import BulkImageServer, render_bulk_image

    with BulkImageServer(50, seed=3) as server:
        urls = server.urls()
        assert len(urls) == 50 and urls[7] == f"http://127.0.0.1:{server.port}/img/7.jpg"
        with requests.Session() as session:
            robots = session.get(f"{server.base_url}/robots.txt", timeout=5)
            assert robots.status_code == 200 and "Disallow" not in robots.text and "Crawl-delay" not in robots.text
            bodies = []
            for url in urls:
                response = session.get(url, timeout=5)
                assert response.status_code == 200 and response.headers["Content-Type"] == "image/jpeg"
                bodies.append(response.content)
            assert session.get(f"{server.base_url}/img/50.jpg", timeout=5).status_code == 404
        assert server.request_count == 52
        assert len(set(bodies)) == 50
        sizes = set()
        for body in bodies:
            assert 20_000 <= len(body) <= 100_000
            image = _open(body)
            image.load()
            assert image.format == "JPEG" and all(300 <= side <= 900 for side in image.size)
            sizes.add(image.size)
        assert len(sizes) == 50 and len({round(w / h, 1) for w, h in sizes}) > 10
        assert bodies[7] == render_bulk_image(3, 7) and bodies[7] != render_bulk_image(4, 7)


def test_bulk_cli_prints_only_the_base_url() -> None:
    process = subprocess.Popen([sys.executable, "-m", "pakfashion.demo.bulk", "--images", "20", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        base = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base)
        image = requests.get(f"{base}/img/19.jpg", timeout=5)
        assert image.status_code == 200 and 20_000 <= len(image.content) <= 100_000
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0 and out == "" and err == ""


# Products only one kind of evidence gives away -------------------------------------------

GIVE_AWAY = re.compile(
    r"\b(kids?|child(ren)?|girls?|boys?|baby|babies|infant|toddler|junior|teens?|little|school|playtime|twirl"
    r"|age|years?|\d+-\d+ ?(y|m|years)|footwear|shoes?|khussa|sandals?|chappal|heels?|sole|straps?|perfume"
    r"|parfum|fragrance|attar|notes|candle|wax|wick|burn|home|ceramic|coasters?|tray|plate)\b", re.I)


def _words_shown(product: DemoProduct) -> str:
    """Title, type, tags and option values: everything a shopper sees but the description."""
    shopify = product.shopify
    values = [v for option in shopify["options"] for v in option["values"]]
    return " ".join([shopify["title"], shopify["product_type"], *shopify["tags"], *values])


def _designs(world: Any) -> list[DemoProduct]:
    return [p for p in world.products() if p.title in DESIGN_TITLES]


def test_each_design_has_one_give_away_named_in_its_notes() -> None:
    world = build_world()
    designs = _designs(world)
    assert len(designs) == len(DESIGN_TITLES) == 30
    neutral = [p for p in designs if p.expected != "keep" and "type" not in p.notes]
    assert len(neutral) == 13
    for product in neutral:
        assert not GIVE_AWAY.search(_words_shown(product)), product.title
        evidence = product.notes.split(": ", 1)[1]
        body = pages.plain_text(product.shopify["body_html"])
        assert bool(GIVE_AWAY.search(body)) == ("description" in evidence), product.title
    by_evidence = {p.notes for p in neutral}
    assert {"collection", "URL", "description", "SKU"} <= {w for note in by_evidence for w in re.findall(r"\w+", note)}
    descriptions = [pages.plain_text(p.shopify["body_html"]) for p in neutral if "description" in p.notes]
    for phrase in ("your little one", "playtime", "school", "let her twirl", "little ones", "keeps them comfy",
                   "cushioned sole", "block heel", "straps", "every step", "top notes", "heart of", "base of",
                   "burn time", "coasters", "tray", "ceramic hot plate"):
        assert any(phrase in text.lower() for text in descriptions), phrase


def test_site_sku_and_handle_conventions() -> None:
    world = build_world()
    boutique = world.sites["demo_boutique"]
    line = [p for p in boutique.products if p.shopify["variants"][0]["sku"].startswith("FW")]
    assert len(line) == 8 and all(p.expected == "non_clothing" for p in line)
    assert sum(p.shopify["product_type"] == "Footwear" for p in line) == 6
    assert sum(not GIVE_AWAY.search(_words_shown(p) + p.shopify["body_html"]) for p in line) == 2
    assert all(re.fullmatch(r"FW\d{4}(-\d\d)?", v["sku"]) for p in line for v in p.shopify["variants"])
    shop = world.sites["demo_shop"]
    girls = [p for p in shop.products if "-kg-" in p.handle]
    assert len(girls) == 8 and all(p.expected == "children" for p in girls)
    assert all(p.handle.startswith("ss25-kg-") and v["sku"].startswith("KG") for p in girls for v in p.shopify["variants"])
    assert sum(p.shopify["product_type"] == "Kids" for p in girls) == 6
    assert sum(not GIVE_AWAY.search(_words_shown(p) + p.shopify["body_html"]) for p in girls) == 2
    for site, code, exceptions in ((shop, "DS", girls), (boutique, "DB", line)):
        others = [v["sku"] for p in site.products if p not in exceptions for v in p.shopify["variants"]]
        assert others and all(sku.startswith(code) for sku in others), site.name
    atelier = world.sites[ATELIER]
    assert all(v["sku"].startswith("AT") for p in atelier.products for v in p.shopify["variants"])


def test_adult_traps_are_kept() -> None:
    world = build_world()
    text = {p.title: f"{p.title} {pages.plain_text(p.shopify['body_html'])}".lower() for p in world.products()}
    expected = {p.title: p.expected for p in world.products()}
    for phrase in ("baby pink", "girls day out", "girls night out", "jewel embroidered lawn suit", "misty lilac",
                   "mughal era jacquard shalwar kameez", "pair it with heels and a clutch", "with the kids"):
        titles = [title for title, words in text.items() if phrase in words]
        assert titles and all(expected[t] == "keep" for t in titles), phrase


def test_atelier_kids_folder_page_and_breadcrumbs(demo: DemoServer, http: requests.Session) -> None:
    base = demo.base_url(ATELIER)
    product = next(p for p in _atelier(demo) if p.title == "Sunshine Angrakha")
    assert re.fullmatch(r"/kids/girls/sunshine-angrakha-AT\d{4}\.html", product.page_path)
    assert product.expected == "children" and not GIVE_AWAY.search(_words_shown(product) + product.shopify["body_html"])
    text = http.get(base + product.page_path, timeout=5).text
    crumbs = [node for block in re.findall(r'<script type="application/ld\+json">(.*?)</script>', text, re.S)
              for node in _nodes(_lenient_json(block)) if node.get("@type") == "BreadcrumbList"]
    assert [item["name"] for item in crumbs[0]["itemListElement"]] == ["Home", "Kids", "Girls", "Sunshine Angrakha"]
    for folder in ("/kids/girls/", "/kids/"):
        assert f'href="{product.page_path}"' in http.get(base + folder, timeout=5).text, folder
    adult = next(p for p in _atelier(demo) if p.garment == "kurta" and p.layout == "product" and p.expected == "keep")
    text = http.get(base + adult.page_path, timeout=5).text
    assert '"name": "Women"' in text or '"name":"Women"' in text
