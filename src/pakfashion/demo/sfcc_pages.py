"""The demo's Salesforce Commerce Cloud store (demo_sfcc, 127.0.0.4): master products with colour
variation pages, Dynamic Imaging renditions, and the grid endpoint robots.txt forbids.

As on the real SFCC retailers (Khaadi, Sapphire): every colour of a master product has its own page,
``/<category>/<MASTER>-<COLOUR>.html``, listed in a gzipped product sitemap; a page shows only its colour's
photos, as ``/dw/image/v2/<realm>/on/demandware.static/-/Sites-<catalog>/default/dw<hash>/images/hi-res/
<variant>_<n>.jpg?sw=&sh=`` renditions, with thumbnail and swatch copies beside them. The product's fields
are in the SFRA markup (``h1.product-name``, ``span.value[content]``, ``.primary-images``), and on some
pages in JSON-LD too. Which master a page belongs to is told differently from page to page (JSON-LD
``isVariantOf``, SFRA's ``dwvar_<master>_color`` variation URLs, or only the canonical link to the master's
page), as it is across real stores. The listing grid (``Search-UpdateGrid?cgid=&start=&sz=``) answers, but robots.txt disallows it.
"""

from __future__ import annotations

import html
import json
import random
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pakfashion.demo import atelier_pages
from pakfashion.demo.images import DrawSpec
from pakfashion.demo.pages import plain_text
from pakfashion.demo.responses import GZIP, HTML, TEXT, XML, Response, Routes
from pakfashion.demo.world import (
    GARMENTS,
    KIDS_TEMPLATES,
    SHOP_NON_CLOTHING,
    DemoProduct,
    DemoSite,
    ImageSpec,
    SiteBuilder,
    regular_products,
    slugify,
)

if TYPE_CHECKING:
    from pakfashion.demo.server import DemoServer

LISTING_PATH = None
REALM = "BKQK_PRD"
CATALOG = "Sites-demo-master-catalog"
IMAGE_ROOT = f"/dw/image/v2/{REALM}/on/demandware.static/-/{CATALOG}/default"
GRID_PATH = "/on/demandware.store/Sites-DemoSFCC-Site/en_PK/Search-UpdateGrid"
DISALLOWED = ("/on/demandware.store/", "/*Search-UpdateGrid", "/*?start=", "/*&sz=", "/private/")
PRODUCT_SITEMAP = atelier_pages.PRODUCT_SITEMAP
SCHEMA = atelier_pages.SCHEMA


@dataclass(frozen=True)
class VariationPage:
    """One colour of a master product: its own page, its own photos."""

    product: DemoProduct
    master_id: str
    variant_id: str
    colour: str | None
    folder: str
    specs: tuple[ImageSpec, ...]
    # How the page says which master it belongs to: "jsonld" (isVariantOf; data-master-pid too), "markup"
    # (only SFRA's variation URLs, dwvar_<master>_color), "canonical" (only its canonical link names the master's page).
    grouping: str
    jsonld: bool

    @property
    def path(self) -> str:
        return f"/{self.folder}/{self.variant_id}.html"

    @property
    def master_path(self) -> str:
        return f"/{self.folder}/{self.master_id}.html"


@dataclass
class SfccSite(DemoSite):
    """demo_sfcc: its products (ground truth) and their master ids."""

    masters: dict[int, str] = field(default_factory=dict)
    # variation_pages(), built on first use (every page request renders from them).
    _pages: list[VariationPage] | None = field(default=None, init=False, repr=False, compare=False)
    _by_path: dict[str, VariationPage] = field(default_factory=dict, init=False, repr=False, compare=False)


class _SfccBuilder(SiteBuilder):
    """Products with SFCC Dynamic Imaging URLs named after the colour variant; ``masters`` maps each
    product id to its master id."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.masters: dict[int, str] = {}

    def next_number(self) -> tuple[int, int]:
        number, product_id = super().next_number()
        self.masters[product_id] = master_id(self.code, number)
        return number, product_id

    def image_spec(self, number: int, index: int, draw: DrawSpec, broken: bool = False) -> ImageSpec:
        token = f"dw{self.rng.getrandbits(32):08x}"
        variant = f"{master_id(self.code, number)}-{draw.colour.upper()}"
        path = f"{IMAGE_ROOT}/{token}/images/hi-res/{variant}_{index}.jpg"
        return ImageSpec(path=path, version=0, absolute=True, draw=draw, broken=broken, query="sw=800&sh=1200")

    def draw_spec(self, *args: Any, **kwargs: Any) -> DrawSpec:
        return replace(super().draw_spec(*args, **kwargs), fmt="JPEG")


def master_id(code: str, number: int) -> str:
    """A master product id in the style of real SFCC catalogues, e.g. ``KD-26-0003``."""
    return f"{code}-26-{number:04d}"


def sfcc_site(seed: int, used_ids: set[int], extra: int = 0) -> SfccSite:
    """demo_sfcc: 8 single-colour garments (`extra` more), 3 colourways, a children's set and a fragrance."""
    b = _SfccBuilder(random.Random(f"{seed}:demo_sfcc"), "demo_sfcc", "KD", "Demo SFCC", used_ids)
    kurta, dupatta, suit = (next(g for g in GARMENTS if g.name == name) for name in ("kurta", "dupatta", "3-piece suit"))
    products = [
        *regular_products(b, 8 + extra),
        b.colourway(kurta, ("red", "navy", "mustard")),
        b.colourway(dupatta, ("pink", "teal")),
        b.colourway(suit, ("green", "maroon")),
        b.kids(KIDS_TEMPLATES[0], "yellow"),
        b.non_clothing(SHOP_NON_CLOTHING[0]),
    ]
    return SfccSite("demo_sfcc", "127.0.0.4", products, disallowed_prefixes=list(DISALLOWED),
                    vendor="Demo SFCC", platform="sfcc_variants", masters=b.masters)


def _folder(product: DemoProduct) -> str:
    if product.expected == "children":
        return "kids-girls"
    if product.garment is None:
        return "fragrances"
    return slugify(str(product.shopify["product_type"]) or "women")


def variation_pages(site: SfccSite) -> list[VariationPage]:
    """Every colour page of every product, in catalogue order (a non-clothing product has one, no colour)."""
    if site._pages is None:
        site._pages = _build_variation_pages(site)
        site._by_path = {page.path: page for page in site._pages}
    return site._pages


def page_at(site: SfccSite, path: str) -> VariationPage | None:
    """The variation page served at ``path``, or None."""
    variation_pages(site)
    return site._by_path.get(path)


def _build_variation_pages(site: SfccSite) -> list[VariationPage]:
    pages = []
    for number, product in enumerate(site.products):
        master = site.masters[product.id]
        colours: tuple[str | None, ...] = product.colourway or ((product.colour,) if product.garment else (None,))
        for colour in colours:
            specs = tuple(spec for spec in product.image_specs
                          if colour is None or not product.colourway or spec.draw.colour == colour)
            variant = f"{master}-{colour.upper()}" if colour else master
            grouping = ("jsonld", "markup", "canonical")[number % 3]
            pages.append(VariationPage(product, master, variant, colour, _folder(product), specs, grouping,
                                       jsonld=grouping == "jsonld" or number % 2 == 0))
    return pages


def _rendition(url: str, query: str) -> str:
    return url.split("?", 1)[0] + f"?{query}"


def _thumbnail(url: str) -> str:
    return _rendition(url.replace("/images/hi-res/", "/images/thumbnail/"), "sw=120&sh=160")


def _swatch(page: VariationPage, netloc: str) -> str:
    return f"http://{netloc}{IMAGE_ROOT}/dw00000000/images/swatch/{page.variant_id}_swatch.jpg?sw=30&sh=30"


def _json_ld(page: VariationPage, site: SfccSite, port: int) -> str:
    netloc = site.netloc(port)
    product = page.product
    node: dict[str, Any] = {
        "@context": SCHEMA, "@type": "Product", "name": product.title, "sku": page.variant_id,
        "mpn": page.variant_id, "brand": {"@type": "Brand", "name": site.vendor},
        "description": plain_text(product.shopify["body_html"]),
        "image": [_rendition(spec.url(netloc), "sw=1200&sh=1800") for spec in page.specs],
        "offers": {"@type": "Offer", "url": f"http://{netloc}{page.path}", "priceCurrency": "PKR",
                   "price": f"{_price(product)}.00", "availability": "http://schema.org/InStock"},
    }
    if page.colour:
        node["color"] = page.colour.title()
    if page.grouping == "jsonld":
        node["isVariantOf"] = {"@type": "ProductGroup", "productGroupID": page.master_id,
                               "variesBy": "https://schema.org/color"}
    return json.dumps(node, ensure_ascii=False).replace("</", "<\\/")


def _price(product: DemoProduct) -> int:
    return int(float(product.shopify["variants"][0]["price"]))


def _swatches(page: VariationPage, pages: list[VariationPage], netloc: str) -> str:
    """The colour swatches: SFRA's buttons, whose Product-Variation URLs name the master
    (``dwvar_<master>_color``), or, on a "canonical" page, a custom theme's plain links to each colour page."""
    esc = html.escape
    siblings = [p for p in pages if p.master_id == page.master_id and p.colour]
    variation = GRID_PATH.replace("Search-UpdateGrid", "Product-Variation")

    def swatch(p: VariationPage) -> str:
        chip = (f'<span data-attr-value="{p.colour.upper()}" class="color-value swatch-circle swatch-value'
                f'{" selected" if p.variant_id == page.variant_id else ""} selectable" style="background-image: url({esc(_swatch(p, netloc))})">'
                "</span>")
        if page.grouping == "canonical":
            return f'<a class="swatch-link" href="{p.path}" title="{esc(p.colour.title())}">{chip}</a>'
        return (f'<button class="color-attribute" aria-label="Select Color {esc(p.colour.title())}" '
                f'data-url="{variation}?dwvar_{p.master_id}_color={p.colour.upper()}&amp;pid={p.variant_id}'
                f'&amp;quantity=1">{chip}</button>')

    buttons = "".join(swatch(p) for p in siblings if p.colour)
    if not buttons:
        return ""
    return f'<div class="attribute"><span class="color non-input-label">Color:</span>{buttons}</div>'


def product_page(page: VariationPage, site: SfccSite, port: int) -> bytes:
    """The SFRA-style page of one colour variation."""
    esc = html.escape
    netloc = site.netloc(port)
    product = page.product
    canonical = f"http://{netloc}{page.master_path if page.grouping == 'canonical' else page.path}"
    head = f'<link rel="canonical" href="{esc(canonical)}">'
    if page.jsonld:
        head += f'\n<script type="application/ld+json">{_json_ld(page, site, port)}</script>'
    slides = "".join(
        f'<div class="carousel-item"><img src="{esc(spec.url(netloc))}" class="d-block img-fluid" '
        f'alt="{esc(product.title)}" data-zoom-image="{esc(_rendition(spec.url(netloc), "sw=2000&sh=3000"))}">'
        f'</div>' for spec in page.specs)
    thumbs = "".join(f'<img src="{esc(_thumbnail(spec.url(netloc)))}" alt="">' for spec in page.specs)
    master = f' data-master-pid="{page.master_id}"' if page.grouping == "jsonld" else ""
    trail = {"kids-girls": "Kids / Girls", "fragrances": "Fragrances"}.get(page.folder, "Women / " + page.folder)
    crumbs = "".join(f'<li class="breadcrumb-item"><a href="/">{esc(name.strip())}</a></li>'
                     for name in ["Home", *trail.split("/")])
    sizes = "".join(f'<option value="{esc(v["title"])}">{esc(v["title"])}</option>'
                    for v in product.shopify["variants"] if not product.colourway)
    body = f"""<ol class="breadcrumb">{crumbs}</ol>
<div class="product-detail product-wrapper" data-pid="{page.variant_id}"{master}>
<div class="primary-images"><div class="carousel-inner">{slides}</div>
<div class="thumbnails">{thumbs}</div></div>
<h1 class="product-name">{esc(product.title)}</h1>
<div class="product-number">Product # <span class="product-id">{page.variant_id}</span></div>
<div class="prices"><div class="price"><span class="sales">
<span class="value" content="{_price(product)}.00">PKR {_price(product):,}</span></span></div></div>
{_swatches(page, variation_pages(site), netloc)}
<select class="custom-select select-size">{sizes}</select>
<div class="description-and-detail"><div class="description"><div class="content value">
{product.shopify["body_html"]}</div></div></div>
</div>"""
    return atelier_pages.document(site, port, f"{product.title} | {site.vendor}", head, body)


def product_sitemap(site: SfccSite, port: int) -> bytes:
    """Every variation page, gzipped, as SFCC generates it."""
    import gzip

    base = site.base_url(port)
    entries = "".join(f"<url>\n<loc>{base}{page.path}</loc>\n<changefreq>daily</changefreq>\n</url>\n"
                      for page in variation_pages(site))
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
           + entries + "</urlset>\n")
    return gzip.compress(xml.encode("utf-8"), mtime=0)


def grid_page(site: SfccSite, port: int, params: dict[str, list[str]]) -> bytes:
    """The listing grid a browser's "load more" calls: answered, but robots.txt disallows it."""
    tiles = "".join(f'<div class="product-tile" data-pid="{page.variant_id}"><a href="{page.path}">'
                    f"{html.escape(page.product.title)}</a></div>" for page in variation_pages(site)[:24])
    return f'<div class="row product-grid">{tiles}</div>'.encode()


def home_page(site: SfccSite, port: int) -> bytes:
    """The store front: featured products and the grid's "load more" link."""
    tiles = "".join(f'<a href="{page.path}">{html.escape(page.product.title)}</a>'
                    for page in variation_pages(site)[:6])
    more = f'<button class="more" data-url="{GRID_PATH}?cgid=women-kurta&amp;start=24&amp;sz=24">More</button>'
    return atelier_pages.document(site, port, site.vendor, "", f"<h1>{site.vendor}</h1>{tiles}{more}")


def routes(server: DemoServer) -> Routes:
    """demo_sfcc's routes (its sitemap index and content pages are the atelier's)."""

    def page_of(site: DemoSite, path: str) -> VariationPage | None:
        assert isinstance(site, SfccSite)
        return page_at(site, path)

    def product(site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        page = page_of(site, match.string)
        if page is None:
            return Response(404, atelier_pages.not_found_page(site, server.port))
        assert isinstance(site, SfccSite)
        return Response(200, product_page(page, site, server.port), HTML)

    def sitemap(site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        assert isinstance(site, SfccSite)
        return Response(200, product_sitemap(site, server.port), GZIP)

    def grid(site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        assert isinstance(site, SfccSite)
        return Response(200, grid_page(site, server.port, params), HTML)

    def home(site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        assert isinstance(site, SfccSite)
        return Response(200, home_page(site, server.port), HTML)

    return (
        (re.compile(r"/"), home),
        (re.compile(r"/robots\.txt"), lambda site, m, p: Response(200, atelier_pages.robots_txt(site, server.port), TEXT)),
        (re.compile(r"/sitemap_index\.xml"), lambda site, m, p: Response(
            200, atelier_pages.sitemap_index(site, server.port), XML)),
        (re.compile(re.escape(PRODUCT_SITEMAP)), sitemap),
        (re.compile(r"/sitemap_0-content\.xml"), lambda site, m, p: Response(
            200, atelier_pages.content_sitemap(site, server.port), XML)),
        (re.compile(re.escape(GRID_PATH)), grid),
        (re.compile(r"/[a-z0-9-]+/[A-Z]{2}-26-\d{4}(?:-[A-Z]+)?\.html"), product),
        (re.compile(r"/dw/image/v2/.+"), server.image_route),
    )
