"""The scale world: N products over 19 loopback retail sites, generated on demand.

The platform mix is the real site list's: 17 Shopify stores (`/products.json`) and 2 sites whose
products are only reachable as sitemap-listed HTML pages with JSON-LD (Salesforce Commerce Cloud-like),
the largest store holding about 27% of the products (Limelight alone lists about 27,000 of 100,000).
Every product, page and image is computed from `(seed, product number)` when it is asked for, so the
world costs no memory or disk however large it is: a 100,000-product world serves 300,000 distinct
JPEGs (300-900 px a side, 20-80 KB, about 3 per product, each with its own perceptual hash) without
holding one. Product images live on one CDN host (like cdn.shopify.com) with no Crawl-delay; each
site's robots.txt has the world's Crawl-delay, and every response waits `latency_s` first.

About 4% of the products are children's wear and 4% are not clothing, as on the real stores.

    python -m pakfashion.demo.scale --products 10000 sites conf/site   # write the 19 site configs
    python -m pakfashion.demo.scale --products 10000 run -- dvc repro   # serve while CMD runs
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from xml.sax.saxutils import escape

from PIL import Image, ImageChops

from pakfashion.demo.bulk import colour_field, draw_random_garment, encode_within
from pakfashion.demo.images import COLOURS
from pakfashion.demo.tracked import StorefrontHandler, TrackedHTTPServer

logger = logging.getLogger("pakfashion.demo")

PORT_ENV = "PAKFASHION_SCALE_PORT"
CDN_HOST = "127.0.2.1"
SITE_HOST = "127.0.1.{}"
MIN_SIDE, MAX_SIDE = 300, 900
MIN_BYTES, MAX_BYTES = 20_000, 80_000
SITEMAP_URLS = 10_000
"""Product URLs per sitemap file (the protocol allows 50,000)."""
FIRST_ID = 8_100_000_000_000
GRAIN_AMPLITUDE = 24

Platform = Literal["shopify", "sfcc"]
SHARES: tuple[tuple[Platform, float], ...] = (
    ("shopify", 27.0), ("shopify", 9.0), ("shopify", 8.0), ("sfcc", 7.0), ("shopify", 6.0), ("shopify", 5.0),
    ("shopify", 5.0), ("shopify", 4.0), ("shopify", 4.0), ("shopify", 3.5), ("shopify", 3.0), ("shopify", 3.0),
    ("sfcc", 3.0), ("shopify", 2.5), ("shopify", 2.5), ("shopify", 2.0), ("shopify", 2.0), ("shopify", 1.5),
    ("shopify", 1.0),
)
"""Each site's platform and share of the products (the real list's shape: one big store, a long tail)."""

FABRICS = ("Lawn", "Cambric", "Khaddar", "Chiffon", "Silk", "Linen", "Cotton", "Karandi", "Jacquard", "Organza")
STYLES = ("Embroidered", "Printed", "Dyed", "Jacquard", "Schiffli", "Block Printed", "Solid", "Festive")
GARMENTS = (("Kurta", "Kurta"), ("Kurti", "Kurti"), ("Shalwar Kameez", "2 Piece"), ("3 Piece Suit", "3 Piece"),
            ("Lehenga", "Lehenga"), ("Abaya", "Abaya"), ("Dupatta", "Dupatta"), ("Trousers", "Trousers"),
            ("Sharara", "Sharara"), ("Gharara", "Gharara"), ("Saree", "Saree"), ("Frock", "Frock"))
KIDS = (("Girls", "Frock"), ("Girls", "Kurti"), ("Boys", "Kurta Shalwar"), ("Kids", "Shalwar Kameez"))
NON_CLOTHING = (("Oud Perfume 100ml", "Fragrance"), ("Leather Handbag", "Bags"), ("Khussa", "Footwear"),
                ("Scented Candle", "Home"), ("Cushion Cover", "Home"), ("Clutch", "Bags"))
SIZES = ("XS", "S", "M", "L", "XL")
COLOUR_NAMES = tuple(sorted(COLOURS))

Kind = Literal["clothing", "kids", "non_clothing"]


@dataclass(frozen=True)
class ScaleSite:
    """One site of the scale world: products number `offset` .. `offset + count - 1` of the world."""

    name: str
    host: str
    platform: Platform
    count: int
    offset: int


@dataclass(frozen=True)
class ScaleProduct:
    """Everything the world says about one product, derived from `(seed, number)` alone."""

    number: int
    kind: Kind
    title: str
    product_type: str
    colour: str
    price: int
    image_sizes: tuple[tuple[int, int], ...]
    tags: tuple[str, ...]

    @property
    def id(self) -> int:
        """Shopify product id (unique in the world)."""
        return FIRST_ID + self.number

    @property
    def handle(self) -> str:
        """URL slug, unique in the world."""
        return "-".join(self.title.lower().replace("-", " ").split()) + f"-{self.number}"


@dataclass
class ScaleWorld:
    """`products` products over the 19 sites of `SHARES`, served on demand.

    Attributes:
        products: Products in the whole world.
        seed: Changes every title, price and image.
        crawl_delay_s: The robots.txt Crawl-delay of every site.
        latency_s: How long every response (pages, listings, images) waits before it is sent.
    """

    products: int
    seed: int = 0
    crawl_delay_s: float = 0.5
    latency_s: float = 0.02
    sites: list[ScaleSite] = field(init=False)

    def __post_init__(self) -> None:
        if self.products < len(SHARES):
            raise ValueError(f"the scale world needs at least {len(SHARES)} products (one per site)")
        total = sum(share for _, share in SHARES)
        counts = [max(1, math.floor(self.products * share / total)) for _, share in SHARES]
        counts[0] += self.products - sum(counts)
        self.sites, offset = [], 0
        for index, ((platform, _), count) in enumerate(zip(SHARES, counts)):
            self.sites.append(ScaleSite(f"scale{index + 1:02d}", SITE_HOST.format(index + 1), platform, count, offset))
            offset += count

    @cached_property
    def by_host(self) -> dict[str, ScaleSite]:
        """Sites by loopback address."""
        return {site.host: site for site in self.sites}

    def product(self, number: int) -> ScaleProduct:
        """Product `number` (0-based across the world)."""
        rng = random.Random(f"scale:{self.seed}:{number}")
        colour = rng.choice(COLOUR_NAMES)
        roll = rng.random()
        if roll < 0.04:
            who, garment = rng.choice(KIDS)
            kind: Kind = "kids"
            title, product_type, tags = f"{who} {rng.choice(FABRICS)} {garment} - {colour.title()}", "Kids", ("kids",)
        elif roll < 0.08:
            name, product_type = rng.choice(NON_CLOTHING)
            kind, title, tags = "non_clothing", f"{name} - {colour.title()}", (product_type.lower(),)
        else:
            garment, product_type = rng.choice(GARMENTS)
            kind, tags = "clothing", ("women", "unstitched" if rng.random() < 0.4 else "ready to wear")
            title = f"{rng.choice(STYLES)} {rng.choice(FABRICS)} {garment} - {colour.title()}"
        sizes = tuple((rng.randrange(MIN_SIDE, MAX_SIDE + 1), rng.randrange(MIN_SIDE, MAX_SIDE + 1))
                      for _ in range(rng.choice((2, 3, 4))))
        return ScaleProduct(number, kind, title, product_type, colour, 100 * rng.randrange(15, 250), sizes, tags)

    def site_products(self, site: ScaleSite, start: int, stop: int) -> list[ScaleProduct]:
        """The site's products `start` .. `stop - 1`, in listing order."""
        stop = min(stop, site.count)
        return [self.product(site.offset + i) for i in range(max(0, start), stop)]

    def kinds(self) -> dict[str, int]:
        """How many products of each kind the world holds (the ground truth for exclusions)."""
        return dict(Counter(self.product(n).kind for n in range(self.products)))

    def image_count(self) -> int:
        """Images in the whole world."""
        return sum(len(self.product(n).image_sizes) for n in range(self.products))


def image_path(site: ScaleSite, product: ScaleProduct, index: int) -> str:
    """The CDN path of image `index` of `product`."""
    return f"/s/{site.name}/{product.number}_{index}.jpg"


def render_scale_image(world: ScaleWorld, number: int, index: int) -> bytes:
    """Image `index` of product `number`: its colour's garment on a grainy colour field, 20-80 KB.

    About 3 ms an image: the grain is cropped from one shared tile, the colour field is upscaled in
    8-pixel blocks, and the JPEG quality is read off `_BYTES_PER_PIXEL` for a random target size.
    """
    product = world.product(number)
    width, height = product.image_sizes[index]
    rng = random.Random(f"scale-image:{world.seed}:{number}:{index}")
    left, top = rng.randrange(MAX_SIDE - width + 1), rng.randrange(MAX_SIDE - height + 1)
    field = colour_field(rng, -(-width // 8), -(-height // 8)).resize((width, height), Image.Resampling.NEAREST)
    image = ImageChops.add(field, _grain().crop((left, top, left + width, top + height)),
                           offset=-(GRAIN_AMPLITUDE // 2))
    draw_random_garment(image, rng, product.colour)
    wanted = rng.uniform(24_000, 45_000) / (width * height)
    quality = min(_BYTES_PER_PIXEL, key=lambda row: abs(math.log(row[1] / wanted)))[0]
    return encode_within(image, quality, MIN_BYTES, MAX_BYTES, f"scale image {number}_{index}")


_BYTES_PER_PIXEL = ((10, 0.020), (20, 0.026), (30, 0.042), (40, 0.059), (50, 0.077), (60, 0.096), (70, 0.126),
                    (80, 0.184), (85, 0.238), (90, 0.321), (95, 0.469))
"""(JPEG quality, bytes per pixel) of these images, measured."""
_GRAIN: list[Image.Image] = []
_GRAIN_LOCK = threading.Lock()


def _grain() -> Image.Image:
    """One fixed MAX_SIDE-square tile of per-pixel grain; images crop it at random offsets."""
    with _GRAIN_LOCK:
        if not _GRAIN:
            noise = Image.frombytes("L", (MAX_SIDE, MAX_SIDE), random.Random("grain").randbytes(MAX_SIDE * MAX_SIDE))
            _GRAIN.append(noise.point(lambda v: v * GRAIN_AMPLITUDE // 255).convert("RGB"))
        return _GRAIN[0]


# responses ---------------------------------------------------------------------------------------


def robots_txt(world: ScaleWorld, site: ScaleSite, netloc: str) -> str:
    """Allow all, the world's Crawl-delay, and the sitemap index on the SFCC-like sites."""
    text = f"User-agent: *\nCrawl-delay: {world.crawl_delay_s:g}\nAllow: /\n"
    return text + (f"Sitemap: http://{netloc}/sitemap_index.xml\n" if site.platform == "sfcc" else "")


def shopify_json(world: ScaleWorld, site: ScaleSite, product: ScaleProduct, cdn: str) -> dict[str, Any]:
    """The product as Shopify's `/products.json` lists it."""
    vendor = site.name.title()
    variants = [{"id": product.id * 10 + i, "title": size, "option1": size, "price": f"{product.price}.00",
                 "available": True, "sku": f"{site.name.upper()}-{product.number}-{size}"}
                for i, size in enumerate(SIZES if product.kind != "non_clothing" else ("Default Title",))]
    images = [{"id": product.id * 10 + i, "position": i + 1, "width": w, "height": h,
               "src": f"http://{cdn}{image_path(site, product, i)}?v=1"} for i, (w, h) in enumerate(product.image_sizes)]
    return {"id": product.id, "title": product.title, "handle": product.handle, "vendor": vendor,
            "product_type": product.product_type, "tags": list(product.tags),
            "body_html": f"<p>{escape(product.title)} by {vendor}.</p>",
            "created_at": "2026-01-01T10:00:00+05:00", "updated_at": "2026-06-01T10:00:00+05:00",
            "variants": variants, "images": images, "options": [{"name": "Size", "position": 1}]}


def products_page(world: ScaleWorld, site: ScaleSite, query: dict[str, str], cdn: str) -> bytes:
    """`/products.json?limit=L&page=P` (at most 250 a page, as Shopify)."""
    limit = min(250, max(1, _int(query.get("limit"), 30)))
    page = max(1, _int(query.get("page"), 1))
    start = (page - 1) * limit
    products = [shopify_json(world, site, p, cdn) for p in world.site_products(site, start, start + limit)]
    return json.dumps({"products": products}).encode()


def sitemap_index(site: ScaleSite, netloc: str) -> bytes:
    """The SFCC-like sitemap index: one product sitemap per `SITEMAP_URLS` products."""
    parts = "".join(f"<sitemap><loc>http://{netloc}/sitemap_{k}-product.xml</loc></sitemap>"
                    for k in range(math.ceil(site.count / SITEMAP_URLS)))
    return f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="{_SITEMAP_NS}">{parts}</sitemapindex>'.encode()


def product_sitemap(world: ScaleWorld, site: ScaleSite, netloc: str, part: int) -> bytes | None:
    """Product sitemap `part`: the page URLs of `SITEMAP_URLS` products."""
    if not 0 <= part * SITEMAP_URLS < site.count:
        return None
    urls = "".join(f"<url><loc>http://{netloc}{_page_path(p)}</loc><changefreq>daily</changefreq></url>"
                   for p in world.site_products(site, part * SITEMAP_URLS, (part + 1) * SITEMAP_URLS))
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="{_SITEMAP_NS}">{urls}</urlset>'.encode()


def product_html(world: ScaleWorld, site: ScaleSite, product: ScaleProduct, netloc: str, cdn: str) -> bytes:
    """The SFCC-like product page: a canonical link and a schema.org Product in JSON-LD."""
    url = f"http://{netloc}{_page_path(product)}"
    data = {"@context": "https://schema.org", "@type": "Product", "name": product.title,
            "sku": f"{site.name.upper()}{product.number}", "description": f"{product.title}.",
            "brand": {"@type": "Brand", "name": site.name.title()}, "category": product.product_type,
            "image": [f"http://{cdn}{image_path(site, product, i)}" for i in range(len(product.image_sizes))],
            "offers": {"@type": "Offer", "price": product.price, "priceCurrency": "PKR", "url": url,
                       "availability": "https://schema.org/InStock"}}
    ld = json.dumps(data).replace("</", "<\\/")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8"><title>{escape(product.title)}</title>'
            f'<link rel="canonical" href="{url}"><script type="application/ld+json">{ld}</script></head>'
            f"<body><h1>{escape(product.title)}</h1><p>PKR {product.price:,}</p></body></html>").encode()


_SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


def _page_path(product: ScaleProduct) -> str:
    return f"/p/{product.handle}.html"


def _int(text: str | None, default: int) -> int:
    return int(text) if text and text.isdigit() else default


# server ------------------------------------------------------------------------------------------


class _ScaleHTTPServer(TrackedHTTPServer):
    block_on_close = False
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], scale: ScaleServer, site: ScaleSite | None) -> None:
        self.scale = scale
        self.site = site
        super().__init__(address, _ScaleHandler)


class _ScaleHandler(StorefrontHandler):
    """Answers one site's paths, or the CDN's images when `server.site` is None."""

    server: _ScaleHTTPServer

    def _answer(self, head: bool) -> None:
        scale, site = self.server.scale, self.server.site
        path, _, query_text = self.path.partition("?")
        query = dict(part.partition("=")[::2] for part in query_text.split("&") if part)
        time.sleep(scale.world.latency_s)
        try:
            body, content_type = scale.respond(site, path, query, self.headers.get("Host", ""))
        except Exception:  # a bug in the world must not kill the connection silently
            logger.exception("scale world error for %s", self.path)
            body, content_type = None, ""
        status = 200 if body is not None else 404
        if body is None:
            body, content_type = b"not found\n", "text/plain; charset=utf-8"
        scale.count(site.name if site else "cdn", status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Log nothing."""


class ScaleServer:
    """Serves a `ScaleWorld`: each site on its own 127.0.1.x address and the CDN on 127.0.2.1, one port.

    Attributes:
        world: The world served.
        requests: Requests answered, by site name ("cdn" for images) and status.
    """

    def __init__(self, world: ScaleWorld, *, port: int = 0) -> None:
        self.world = world
        self.requests: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()
        self._wanted_port = port
        self._httpds: list[_ScaleHTTPServer] = []

    @property
    def port(self) -> int:
        """The port every host listens on (0 before `start()`)."""
        return self._httpds[0].server_address[1] if self._httpds else 0

    def base_url(self, name: str) -> str:
        """E.g. "http://127.0.1.1:PORT" for site `name`."""
        host = next(site.host for site in self.world.sites if site.name == name)
        return f"http://{host}:{self.port}"

    def count(self, name: str, status: int) -> None:
        """Count one answered request."""
        with self._lock:
            self.requests[(name, status)] += 1

    def respond(self, site: ScaleSite | None, path: str, query: dict[str, str], netloc: str) -> tuple[bytes | None, str]:
        """The body and content type for `path` (None: 404)."""
        cdn = f"{CDN_HOST}:{self.port}"
        if site is None:
            return self._image(path), "image/jpeg"
        if path == "/robots.txt":
            return robots_txt(self.world, site, netloc).encode(), "text/plain; charset=utf-8"
        if site.platform == "shopify":
            if path == "/products.json":
                return products_page(self.world, site, query, cdn), "application/json"
            if path == "/collections.json":
                return b'{"collections": []}', "application/json"
            return None, ""
        if path == "/sitemap_index.xml":
            return sitemap_index(site, netloc), "application/xml"
        if path.startswith("/sitemap_") and path.endswith("-product.xml"):
            part = path[len("/sitemap_"):-len("-product.xml")]
            return (product_sitemap(self.world, site, netloc, int(part)) if part.isdigit() else None), "application/xml"
        if path.startswith("/p/") and path.endswith(".html"):
            number = path[:-5].rpartition("-")[2]
            if number.isdigit() and site.offset <= int(number) < site.offset + site.count:
                product = self.world.product(int(number))
                if _page_path(product) == path:
                    return product_html(self.world, site, product, netloc, cdn), "text/html; charset=utf-8"
        return None, ""

    def _image(self, path: str) -> bytes | None:
        if path == "/robots.txt":
            return b"User-agent: *\nAllow: /\n"
        site_name, _, name = path.removeprefix("/s/").partition("/")
        number, _, index = name.removesuffix(".jpg").partition("_")
        site = next((s for s in self.world.sites if s.name == site_name), None)
        if site is None or not (number.isdigit() and index.isdigit()) or not name.endswith(".jpg"):
            return None
        if not site.offset <= int(number) < site.offset + site.count:
            return None
        if int(index) >= len(self.world.product(int(number)).image_sizes):
            return None
        return render_scale_image(self.world, int(number), int(index))

    def start(self) -> ScaleServer:
        """Bind every host to one port (a free one when 0) and serve each in a daemon thread."""
        hosts: list[tuple[str, ScaleSite | None]] = [(CDN_HOST, None), *((s.host, s) for s in self.world.sites)]
        for _ in range(50):
            try:
                first = _ScaleHTTPServer((hosts[0][0], self._wanted_port), self, None)
                port = first.server_address[1]
                self._httpds = [first]
                self._httpds += [_ScaleHTTPServer((host, port), self, site) for host, site in hosts[1:]]
                break
            except OSError:
                self._close()
                if self._wanted_port:
                    raise
        else:
            raise OSError("no port free on every scale-world address")
        for httpd in self._httpds:
            threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                             name=f"scale-{httpd.site.name if httpd.site else 'cdn'}").start()
        return self

    def _close(self) -> None:
        for httpd in self._httpds:
            httpd.server_close()
        self._httpds = []

    def stop(self) -> None:
        """Stop serving and close every connection."""
        for httpd in self._httpds:
            httpd.shutdown()
            httpd.close_connections()
        self._close()

    def __enter__(self) -> ScaleServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def write_site_configs(world: ScaleWorld, directory: Path) -> list[str]:
    """Write one `conf/site/<name>.yaml` per site (the port read from $PAKFASHION_SCALE_PORT); return the names."""
    directory.mkdir(parents=True, exist_ok=True)
    for site in world.sites:
        (directory / f"{site.name}.yaml").write_text(
            f"# Scale world ({site.platform}, {site.count} products): python -m pakfashion.demo.scale\n"
            "defaults:\n  - /site_base@_here_\n  - _self_\n"
            f"name: {site.name}\nbrand: {site.name.title()}\n"
            f"base_url: http://{site.host}:${{oc.env:{PORT_ENV}}}\nplatform: auto\n")
    return [site.name for site in world.sites]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m pakfashion.demo.scale --products N (serve | sites DIR | run -- CMD)`."""
    parser = argparse.ArgumentParser(prog="python -m pakfashion.demo.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crawl-delay", type=float, default=0.5, help="robots.txt Crawl-delay, seconds")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds before every response")
    parser.add_argument("--port", type=int, default=0)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="print each site's base URL and serve until SIGINT/SIGTERM")
    commands.add_parser("sites", help="write the site configs into DIR").add_argument("directory", type=Path)
    commands.add_parser("run", help=f"serve while CMD runs with ${PORT_ENV} set").add_argument(
        "cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    world = ScaleWorld(args.products, seed=args.seed, crawl_delay_s=args.crawl_delay, latency_s=args.latency)
    if args.command == "sites":
        print(" ".join(write_site_configs(world, args.directory)))
        return 0
    with ScaleServer(world, port=args.port) as server:
        if args.command == "run":
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            if not cmd:
                parser.error("run needs a command after --")
            return subprocess.run(cmd, env={**os.environ, PORT_ENV: str(server.port)}, check=False).returncode
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        for site in world.sites:
            print(site.name, server.base_url(site.name), flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
