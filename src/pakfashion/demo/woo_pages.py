"""The WooCommerce-like demo store (demo_woo): WordPress with WooCommerce and Yoast SEO, as real ones answer.

- ``/wp-json/wc/store/v1/products?per_page=N&page=P``: the Store API listing (newest first), the real
  product shape (prices as strings in minor units, images, categories, tags, attributes, variations),
  ``X-WP-Total`` / ``X-WP-TotalPages`` / ``Link`` headers; ``per_page`` past 100 answers 400
  ``rest_invalid_param``. Colourway products are ``variable`` with a ``Color`` attribute, one variation
  and one image per colour (the image's ``alt`` and ``name`` naming it); sized ones vary by ``Size``.
- ``/wp-json/`` (the REST index) and a 404 ``rest_no_route`` for any other ``/wp-json/`` route.
- ``/product/<slug>/`` pages with WooCommerce's Product JSON-LD and Yoast's breadcrumbs, Yoast's
  ``/sitemap_index.xml``, robots.txt with Crawl-delay, the site's Disallow rules and its Sitemap line.
- Images under ``/wp-content/uploads/``; every HTML page sends WordPress's ``Link: <…/wp-json/>;
  rel="https://api.w.org/"``.

Pure functions of a `DemoSite` and the port, as `pages` is, except for the faults the server applies.
"""

from __future__ import annotations

import html
import json
import math
import re
import zlib
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape as xml_escape

from pakfashion.demo import pages
from pakfashion.demo.responses import JSON, TEXT, XML, Response, Routes
from pakfashion.demo.world import DemoProduct, DemoSite, slugify

if TYPE_CHECKING:
    from pakfashion.demo.server import DemoServer

LISTING_PATH = "/wp-json/wc/store/v1/products"
DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100
MINOR_UNIT = 2
UNCATEGORIZED = {"id": 15, "name": "Uncategorized", "slug": "uncategorized"}
# Shopify option names the demo's catalogue uses, as a WooCommerce store names its global attributes.
ATTRIBUTE_NAMES = {"Colour": "Color"}
REST_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Robots-Tag", "noindex"),
    ("X-Content-Type-Options", "nosniff"),
    ("Access-Control-Expose-Headers", "X-WP-Total, X-WP-TotalPages, Link"),
    ("Access-Control-Allow-Headers", "Authorization, X-WP-Nonce, Content-Disposition, Content-MD5, Content-Type"),
    ("Allow", "GET"),
)
SITEMAPS = ("product-sitemap.xml", "product_cat-sitemap.xml", "page-sitemap.xml")
CONTENT_PAGES = ("", "about-us/", "contact/")
GENERATOR = "WooCommerce 9.4.2"


def _term_id(text: str, low: int = 100) -> int:
    """A stable WordPress term id for a name."""
    return low + zlib.crc32(text.encode()) % 9000


def _minor(price: str) -> str:
    """A Shopify price ("4990.00") as a Store API amount in minor units ("499000")."""
    return str(round(float(price) * 10**MINOR_UNIT))


def permalink(product: DemoProduct, site: DemoSite, port: int) -> str:
    """The product's page URL (WordPress permalinks end in a slash)."""
    return f"{site.base_url(port)}/product/{product.handle}/"


def parent_sku(product: DemoProduct) -> str:
    """The parent product's SKU: what its variations' SKUs share."""
    skus = [str(v["sku"]) for v in product.shopify["variants"]]
    common = skus[0]
    for sku in skus[1:]:
        while not sku.startswith(common):
            common = common[:-1]
    return common.rstrip("-") or skus[0]


def _attributes(product: DemoProduct) -> list[dict[str, Any]]:
    """The product's attributes: each Shopify option but "Title" (a product without options)."""
    out = []
    for position, option in enumerate(product.shopify["options"], start=1):
        values = [str(v) for v in option["values"]]
        if option["name"] == "Title":
            continue
        name = ATTRIBUTE_NAMES.get(option["name"], option["name"])
        out.append({
            "id": position, "name": name, "taxonomy": f"pa_{slugify(name)}", "has_variations": len(values) > 1,
            "terms": [{"id": _term_id(f"{name}:{v}"), "name": v, "slug": slugify(v), "default": False} for v in values],
        })
    return out


def _variations(product: DemoProduct, attributes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One variation per Shopify variant of a product that varies (its first attribute's term)."""
    if not attributes or not attributes[0]["has_variations"]:
        return []
    name = attributes[0]["name"]
    return [{"id": v["id"], "attributes": [{"name": name, "value": slugify(str(v["option1"]))}]}
            for v in product.shopify["variants"]]


def _prices(product: DemoProduct, variable: bool) -> dict[str, Any]:
    """The Store API ``prices`` object (amounts in minor units)."""
    variants = product.shopify["variants"]
    amounts = sorted(int(_minor(v["price"])) for v in variants)
    compare = variants[0]["compare_at_price"]
    price = str(amounts[0])
    return {
        "price": price, "regular_price": _minor(compare) if compare else price, "sale_price": price,
        "price_range": {"min_amount": str(amounts[0]), "max_amount": str(amounts[-1])}
        if variable and amounts[0] != amounts[-1] else None,
        "currency_code": "PKR", "currency_symbol": "₨", "currency_minor_unit": MINOR_UNIT,
        "currency_decimal_separator": ".", "currency_thousand_separator": ",", "currency_prefix": "₨ ",
        "currency_suffix": "",
    }


def _image(image: dict[str, Any], src: str, alt: str) -> dict[str, Any]:
    """A Store API image: the upload, its thumbnail size, srcset, name (the file's) and alt text."""
    stem, _, ext = src.rsplit("/", 1)[-1].rpartition(".")
    thumbnail = src.replace(f"{stem}.{ext}", f"{stem}-300x300.{ext}")
    width = image["width"]
    return {"id": image["id"], "src": src, "thumbnail": thumbnail, "srcset": f"{src} {width}w, {thumbnail} 300w",
            "sizes": f"(max-width: {width}px) 100vw, {width}px", "name": stem, "alt": alt}


def _images(product: DemoProduct, site: DemoSite, port: int) -> list[dict[str, Any]]:
    """The product's images; a colourway's alt text names each image's colour, others the product's title."""
    rendered = product.render(site.netloc(port))
    alts = [f"{product.title} - {colour.title()}" for colour in product.colourway] or [product.title]
    return [_image(image, image["src"], alts[i] if i < len(alts) else "") for i, image in enumerate(rendered["images"])]


def _terms(names: list[str], base: str, kind: str) -> list[dict[str, Any]]:
    """Category or tag references: id, name, slug and archive link."""
    return [{"id": _term_id(f"{kind}:{name}"), "name": name, "slug": slugify(name),
             "link": f"{base}/{kind}/{slugify(name)}/"} for name in names]


def _categories(product: DemoProduct, base: str) -> list[dict[str, Any]]:
    """The product's category, or WooCommerce's default one when the catalogue has none."""
    product_type = str(product.shopify["product_type"])
    if not product_type:
        return [{**UNCATEGORIZED, "link": f"{base}/product-category/uncategorized/"}]
    return _terms([product_type], base, "product-category")


def _short_description(body_html: str) -> str:
    """The first paragraph of a description (what WooCommerce shows beside the gallery)."""
    first = re.match(r"\s*<p>.*?</p>", body_html, re.DOTALL)
    return first.group(0).strip() if first else ""


def store_product(product: DemoProduct, site: DemoSite, port: int) -> dict[str, Any]:
    """One product as the Store API lists it."""
    base, link = site.base_url(port), permalink(product, site, port)
    attributes = _attributes(product)
    variations = _variations(product, attributes)
    variable = bool(variations)
    prices = _prices(product, variable)
    body = str(product.shopify["body_html"])
    return {
        "id": product.id, "name": html.escape(product.title, quote=False), "slug": product.handle, "parent": 0,
        "type": "variable" if variable else "simple", "variation": "", "permalink": link,
        "sku": parent_sku(product), "short_description": _short_description(body), "description": body,
        "on_sale": prices["regular_price"] != prices["price"], "prices": prices,
        "price_html": f'<span class="woocommerce-Price-amount amount"><bdi>₨ {int(prices["price"]) // 10**MINOR_UNIT:,}</bdi></span>',
        "average_rating": "0", "review_count": 0, "images": _images(product, site, port),
        "categories": _categories(product, base), "tags": _terms(list(product.shopify["tags"]), base, "product-tag"),
        "brands": [], "attributes": attributes, "variations": variations, "grouped_products": [],
        "has_options": variable, "is_purchasable": True,
        "is_in_stock": any(v["available"] for v in product.shopify["variants"]), "is_on_backorder": False,
        "low_stock_remaining": None, "sold_individually": False,
        "add_to_cart": {"text": "Select options" if variable else "Add to cart", "description": "",
                        "url": link if variable else f"?add-to-cart={product.id}", "minimum": 1, "maximum": 9999,
                        "multiple_of": 1},
        "extensions": {},
    }


def rest_error(status: int, code: str, message: str, **data: Any) -> Response:
    """A WordPress REST API error response."""
    body = pages.to_json({"code": code, "message": message, "data": {"status": status, **data}})
    return Response(status, body, JSON, REST_HEADERS)


def listing(site: DemoSite, port: int, params: dict[str, list[str]], *, control_chars: bool = False) -> Response:
    """``GET /wp-json/wc/store/v1/products?per_page=N&page=P`` (``control_chars``: raw control characters
    in the descriptions, valid only to a lenient JSON parser)."""
    per_page = pages.int_param(params, "per_page", DEFAULT_PER_PAGE)
    page = pages.int_param(params, "page", 1)
    for name, value, low, high in (("per_page", per_page, 1, MAX_PER_PAGE), ("page", page, 1, None)):
        if value < low or (high is not None and value > high):
            limit = f"between {low} (inclusive) and {high} (inclusive)" if high else f"greater than or equal to {low}"
            return rest_error(400, "rest_invalid_param", f"Invalid parameter(s): {name}",
                              params={name: f"{name} must be {limit}"})
    total = len(site.products)
    total_pages = math.ceil(total / per_page)
    chosen = site.products[(page - 1) * per_page:page * per_page]
    body = pages.to_json([store_product(product, site, port) for product in chosen])
    if control_chars:
        body = body.replace(b"</p>", b"\t\x0b\x01</p>")
    url = f"{site.base_url(port)}{LISTING_PATH}?per_page={per_page}"
    links = [f'<{url}&page={page - 1}>; rel="prev"'] if 1 < page <= total_pages + 1 else []
    links += [f'<{url}&page={page + 1}>; rel="next"'] if page < total_pages else []
    headers = (("X-WP-Total", str(total)), ("X-WP-TotalPages", str(total_pages)),
               *(("Link", value) for value in links), *REST_HEADERS)
    return Response(200, body, JSON, headers)


def robots_txt(site: DemoSite, port: int) -> bytes:
    """WordPress's robots.txt as Yoast writes it: the site's Disallow rules, Crawl-delay, the sitemap index."""
    lines = ["# START YOAST BLOCK", "# ---------------------------", "User-agent: *"]
    lines += [f"Disallow: {prefix}" for prefix in site.disallowed_prefixes]
    if "/wp-admin/" in site.disallowed_prefixes:
        lines.append("Allow: /wp-admin/admin-ajax.php")
    lines += [f"Crawl-delay: {site.crawl_delay_s:g}", "", f"Sitemap: {site.base_url(port)}/sitemap_index.xml",
              "# ---------------------------", "# END YOAST BLOCK", ""]
    return "\n".join(lines).encode("utf-8")


def api_link(site: DemoSite, port: int) -> tuple[str, str]:
    """The header every WordPress page sends: where its REST API is."""
    return ("Link", f'<{site.base_url(port)}/wp-json/>; rel="https://api.w.org/"')


def product_json_ld(product: DemoProduct, site: DemoSite, port: int) -> dict[str, Any]:
    """WooCommerce's Product JSON-LD: the demo's schema.org Product at the product's permalink."""
    data = pages.json_ld(product, site, port)
    link = permalink(product, site, port)
    offers = [{**offer, "url": link, "seller": {"@type": "Organization", "name": site.vendor, "url": site.base_url(port)}}
              for offer in data["offers"]]
    return {**data, "@id": f"{link}#product", "url": link, "sku": parent_sku(product), "offers": offers}


def breadcrumbs_json_ld(product: DemoProduct, site: DemoSite, port: int) -> dict[str, Any]:
    """Yoast's graph for a product page: the page and its breadcrumbs (Home, the category, the product)."""
    link, base = permalink(product, site, port), site.base_url(port)
    crumbs = [("Home", f"{base}/")]
    crumbs += [(c["name"], c["link"]) for c in _categories(product, base) if c["slug"] != UNCATEGORIZED["slug"]]
    crumbs.append((product.title, ""))
    items = [{"@type": "ListItem", "position": i, "name": name, **({"item": url} if url else {})}
             for i, (name, url) in enumerate(crumbs, start=1)]
    return {"@context": "https://schema.org", "@graph": [
        {"@type": ["WebPage", "ItemPage"], "@id": link, "url": link, "name": f"{product.title} - {site.vendor}",
         "breadcrumb": {"@id": f"{link}#breadcrumb"}},
        {"@type": "BreadcrumbList", "@id": f"{link}#breadcrumb", "itemListElement": items},
    ]}


def _script(data: dict[str, Any], css_class: str) -> str:
    text = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return f'<script type="application/ld+json" class="{css_class}">{text}</script>'


def document(site: DemoSite, port: int, title: str, head: str, body_class: str, body: str) -> bytes:
    """A page of the store's WordPress theme: its REST API link and generator in the head."""
    page = f"""<!doctype html>
<html lang="en-US">
<head>
<meta charset="UTF-8">
<title>{html.escape(title)}</title>
<link rel="https://api.w.org/" href="{site.base_url(port)}/wp-json/">
<meta name="generator" content="{GENERATOR}">
{head}
</head>
<body class="{body_class}">
{body}
</body>
</html>
"""
    return page.encode("utf-8")


def product_page(product: DemoProduct, site: DemoSite, port: int) -> bytes:
    """A product page as a WooCommerce theme renders it, with Yoast's graph and WooCommerce's Product JSON-LD."""
    esc = html.escape
    data = product_json_ld(product, site, port)
    link = permalink(product, site, port)
    price = float(product.shopify["variants"][0]["price"])
    body_html = product.shopify["body_html"]
    gallery = "".join(f'<div class="woocommerce-product-gallery__image"><img src="{esc(src)}" alt="{esc(data["name"])}">'
                      "</div>" for src in data["image"])
    head = (f'<link rel="canonical" href="{esc(link)}">\n<meta property="og:type" content="product">\n'
            f'<meta property="og:title" content="{esc(product.title)}">\n<meta property="og:url" content="{esc(link)}">\n'
            + _script(breadcrumbs_json_ld(product, site, port), "yoast-schema-graph"))
    body = (f'<div id="product-{product.id}" class="product type-product post-{product.id} status-publish instock">\n'
            f'<div class="woocommerce-product-gallery">{gallery}</div>\n'
            f'<h1 class="product_title entry-title">{esc(product.title)}</h1>\n'
            f'<p class="price"><span class="woocommerce-Price-amount amount"><bdi>₨ {price:,.0f}</bdi></span></p>\n'
            f'<div class="woocommerce-product-details__short-description">{_short_description(body_html)}</div>\n'
            f'<div class="woocommerce-Tabs-panel woocommerce-Tabs-panel--description">{body_html}</div>\n'
            f'</div>\n{_script(data, "wc-jsonld")}')
    body_class = f"product-template-default single single-product postid-{product.id} woocommerce woocommerce-page"
    return document(site, port, f"{product.title} - {site.vendor}", head, body_class, body)


def home_page(site: DemoSite, port: int) -> bytes:
    """The shop's front page, linking to every product."""
    links = "\n".join(f'<li class="product"><a href="{permalink(p, site, port)}">{html.escape(p.title)}</a></li>'
                      for p in site.products)
    body = f'<h1>{html.escape(site.vendor)}</h1>\n<ul class="products">\n{links}\n</ul>'
    return document(site, port, site.vendor, "", "home woocommerce-page", body)


def _urlset(entries: list[str]) -> bytes:
    """A Yoast sitemap (its stylesheet, the image namespace) of ``<url>`` entries."""
    return ('<?xml version="1.0" encoding="UTF-8"?><?xml-stylesheet type="text/xsl" href="/main-sitemap.xsl"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">\n'
            + "".join(entries) + "</urlset>\n").encode("utf-8")


def sitemap_index(site: DemoSite, port: int) -> bytes:
    """Yoast's ``/sitemap_index.xml``: products, product categories and pages."""
    base = site.base_url(port)
    latest = max((str(p.shopify["updated_at"]) for p in site.products), default="2026-01-01T00:00:00+05:00")
    entries = "".join(f"  <sitemap><loc>{base}/{name}</loc><lastmod>{latest}</lastmod></sitemap>\n" for name in SITEMAPS)
    return ('<?xml version="1.0" encoding="UTF-8"?><?xml-stylesheet type="text/xsl" href="/main-sitemap.xsl"?>\n'
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            f"{entries}</sitemapindex>\n").encode("utf-8")


def product_sitemap(site: DemoSite, port: int, extra_paths: tuple[str, ...] = ()) -> bytes:
    """``/product-sitemap.xml``: the shop page, then every product page with its images (and ``extra_paths``)."""
    base = site.base_url(port)
    entries = [f"  <url><loc>{base}/shop/</loc></url>\n"]
    for product in site.products:
        images = "".join(f"<image:image><image:loc>{xml_escape(image['src'])}</image:loc></image:image>"
                         for image in _images(product, site, port))
        entries.append(f"  <url><loc>{permalink(product, site, port)}</loc>"
                       f"<lastmod>{product.shopify['updated_at']}</lastmod>{images}</url>\n")
    entries += [f"  <url><loc>{base}{path}</loc></url>\n" for path in extra_paths]
    return _urlset(entries)


def category_sitemap(site: DemoSite, port: int) -> bytes:
    """``/product_cat-sitemap.xml``: the product category archives."""
    base = site.base_url(port)
    links = dict.fromkeys(c["link"] for p in site.products for c in _categories(p, base))
    return _urlset([f"  <url><loc>{xml_escape(link)}</loc></url>\n" for link in links])


def page_sitemap(site: DemoSite, port: int) -> bytes:
    """``/page-sitemap.xml``: the site's pages."""
    return _urlset([f"  <url><loc>{site.base_url(port)}/{path}</loc></url>\n" for path in CONTENT_PAGES])


class _WooRoutes:
    """The demo_woo route handlers, reading the server's port and faults on every request."""

    def __init__(self, server: DemoServer) -> None:
        self.server = server

    def robots(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        return Response(200, robots_txt(site, self.server.port), TEXT)

    def home(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        return Response(200, home_page(site, self.server.port), headers=(api_link(site, self.server.port),))

    def listing(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        return listing(site, self.server.port, params, control_chars=self.server.faults.control_chars)

    def product_json(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        product = next((p for p in site.products if p.id == int(match["id"])), None)
        if product is None:
            return rest_error(404, "woocommerce_rest_product_invalid_id", "Invalid product ID.")
        return Response(200, pages.to_json(store_product(product, site, self.server.port)), JSON, REST_HEADERS)

    def rest_index(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        base = site.base_url(self.server.port)
        index = {"name": site.vendor, "description": "", "url": base, "home": base, "gmt_offset": "5",
                 "namespaces": ["oembed/1.0", "wc/store", "wc/store/v1", "wp/v2", "yoast/v1"], "routes": {}}
        return Response(200, pages.to_json(index), JSON, REST_HEADERS)

    def no_route(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        return rest_error(404, "rest_no_route", "No route was found matching the URL and request method.")

    def product_page(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        product, port = site.product(match["slug"]), self.server.port
        if product is None:
            return Response(404, pages.not_found_page(), headers=(api_link(site, port),))
        if not match.string.endswith("/"):
            location = permalink(product, site, port)
            return Response(301, pages.redirect_page(location), headers=(("Location", location),))
        headers = (api_link(site, port), ("Link", f"<{site.base_url(port)}/?p={product.id}>; rel=shortlink"))
        return Response(200, product_page(product, site, port), headers=headers)

    def sitemap_index(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        return _sitemap(sitemap_index(site, self.server.port))

    def product_sitemap(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        extra = pages.trap_entry_paths(site) if self.server.faults.redirect_traps else ()
        return _sitemap(product_sitemap(site, self.server.port, extra))

    def category_sitemap(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        return _sitemap(category_sitemap(site, self.server.port))

    def page_sitemap(self, site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        return _sitemap(page_sitemap(site, self.server.port))


def _sitemap(body: bytes) -> Response:
    """A Yoast sitemap response (sitemaps are kept out of search results)."""
    return Response(200, body, XML, (("X-Robots-Tag", "noindex, follow"),))


def routes(server: DemoServer) -> Routes:
    """demo_woo's routes, first match wins (DemoServer answers 404 for any other path)."""
    woo = _WooRoutes(server)
    return (
        (re.compile(r"/"), woo.home),
        (re.compile(r"/robots\.txt"), woo.robots),
        (re.compile(re.escape(LISTING_PATH)), woo.listing),
        (re.compile(re.escape(LISTING_PATH) + r"/(?P<id>\d+)"), woo.product_json),
        (re.compile(r"/wp-json/?"), woo.rest_index),
        (re.compile(r"/wp-json/.*"), woo.no_route),
        (re.compile(r"/product/(?P<slug>[^/]+)/?"), woo.product_page),
        (re.compile(r"/sitemap_index\.xml"), woo.sitemap_index),
        (re.compile(r"/product-sitemap\.xml"), woo.product_sitemap),
        (re.compile(r"/product_cat-sitemap\.xml"), woo.category_sitemap),
        (re.compile(r"/page-sitemap\.xml"), woo.page_sitemap),
        (re.compile(r"/wp-content/uploads/.+"), server.image_route),
    )
