"""Tests for the loopback demo retail world (`pakfashion.demo`)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator

import pytest
import requests
from PIL import Image, ImageStat

from pakfashion.demo import COLOURS, DemoProduct, DemoServer, Faults, build_world, running_demo
from pakfashion.demo import pages
from pakfashion.demo.images import draw_garment, nearest_colour

pytestmark = pytest.mark.network

UA = "pakfashion-test/1.0 (+https://example.invalid/bot)"


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
    assert len(world.products()) >= 72
    for name, site in world.sites.items():
        labels = [p.expected for p in site.products]
        assert len(site.products) >= 36, name
        assert labels.count("children") >= 4, name
        assert labels.count("non_clothing") >= 3, name
        assert labels.count("no_image") >= 1, name
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
    for name in demo.world.sites:
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
    for name, site in demo.world.sites.items():
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
    assert checked >= 50


def test_broken_image_404(demo: DemoServer, http: requests.Session) -> None:
    broken = [(p, s) for p in demo.world.products() for s in p.image_specs if s.broken]
    assert broken
    for product, spec in broken:
        netloc = demo.world.sites[product.site].netloc(demo.port)
        assert http.get(_absolute(spec.url(netloc)), timeout=5).status_code == 404


def test_identical_image_pair(demo: DemoServer, http: requests.Session) -> None:
    for name, site in demo.world.sites.items():
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
