"""Response bodies for the demo sites: robots.txt, products JSON, sitemaps and HTML pages.

Pure functions of a `DemoSite` and the serving port, so the same world and port give
byte-identical bodies.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from pakfashion.demo.world import DemoProduct, DemoSite

MAX_LIMIT = 250
DEFAULT_LIMIT = 30
MAX_OFFSET = 25_000
"""Shopify refuses `page * limit` beyond this; crawlers must page some other way."""

OFFSITE_URL = "http://offsite.invalid/elsewhere.html"
"""Where the `moved-offsite` redirect trap points: a host that never resolves."""

_CONTROL_CHARS: tuple[tuple[str, bytes], ...] = (("\ue009", b"\t"), ("\ue00b", b"\x0b"), ("\ue001", b"\x01"))
"""Private-use placeholders that `products_page` swaps for raw control characters after encoding."""


def to_json(payload: Any) -> bytes:
    """Encode `payload` as compact UTF-8 JSON, as Shopify does."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def robots_txt(site: DemoSite, port: int) -> bytes:
    """Return a Shopify-like robots.txt with Crawl-delay and repeated Sitemap lines."""
    sitemap = f"Sitemap: {site.base_url(port)}/sitemap.xml"
    lines = ["# we use Shopify as our ecommerce platform", "", "User-agent: *"]
    lines += [f"Disallow: {prefix}" for prefix in site.disallowed_prefixes]
    lines += [f"Crawl-delay: {site.crawl_delay_s:g}", sitemap, "",
              "# Blocked crawlers", "User-agent: AhrefsBot", "Crawl-delay: 10", "Disallow: /",
              sitemap, ""]
    return "\n".join(lines).encode("utf-8")


def parse_paging(query: dict[str, list[str]]) -> tuple[int, int]:
    """Return (limit, page) from query parameters with Shopify defaults and clamping."""
    limit = int_param(query, "limit", DEFAULT_LIMIT)
    page = int_param(query, "page", 1)
    limit = DEFAULT_LIMIT if limit < 1 else min(limit, MAX_LIMIT)
    return limit, max(page, 1)


def int_param(query: dict[str, list[str]], name: str, default: int) -> int:
    """Return the first integer value of `name` in `query`, or `default`."""
    try:
        return int(query[name][0])
    except (KeyError, IndexError, ValueError):
        return default


def products_page(site: DemoSite, port: int, limit: int, page: int, control_chars: bool = False) -> bytes:
    """Return the `/products.json` body for one page (newest, i.e. highest id, first).

    With `control_chars`, every third product's `body_html` holds a raw tab, \\x0b and \\x01
    (invalid in strict JSON, accepted by `json.loads(..., strict=False)`), as in real catalogs.
    """
    rendered = _rendered_page(site.products, site.netloc(port), limit, page)
    if not control_chars:
        return to_json({"products": rendered})
    for product in rendered[::3]:
        placeholders = "".join(char for char, _ in _CONTROL_CHARS)
        product["body_html"] = product["body_html"].replace("</p>", placeholders + "</p>", 1)
    body = to_json({"products": rendered})
    for char, raw in _CONTROL_CHARS:
        body = body.replace(char.encode("utf-8"), raw)
    return body


def _rendered_page(products: list[DemoProduct], netloc: str, limit: int, page: int) -> list[dict[str, Any]]:
    """Return page `page` (1-based) of `limit` products, rendered for `netloc`."""
    start = (page - 1) * limit
    return [p.render(netloc) for p in products[start:start + limit]]


def collections_page(site: DemoSite, limit: int, page: int) -> bytes:
    """Return the `/collections.json` body for one page (the storefront's public shape)."""
    start = (page - 1) * limit
    items = [{
        "id": c.id, "title": c.title, "handle": c.handle,
        "description": f"<p>{html.escape(c.description)}</p>" if c.description else "",
        "published_at": c.published_at, "updated_at": c.updated_at, "image": None,
        "products_count": len(site.collection_products(c.handle)),
    } for c in site.collections[start:start + limit]]
    return to_json({"collections": items})


def collection_products_page(site: DemoSite, port: int, handle: str, limit: int, page: int) -> bytes | None:
    """Return the `/collections/<handle>/products.json` body for one page, or None if no such collection."""
    if site.collection(handle) is None:
        return None
    return to_json({"products": _rendered_page(site.collection_products(handle), site.netloc(port), limit, page)})


def paging_error(limit: int, page: int) -> bytes:
    """Return the Shopify-like 400 body for paging past 25,000 products."""
    message = (f"page * limit ({page * limit}) must be at most {MAX_OFFSET}; "
               "use since_id or a narrower collection")
    return to_json({"errors": {"page": [message]}})


def product_json(product: DemoProduct, site: DemoSite, port: int) -> bytes:
    """Return the `/products/<handle>.json` body."""
    return to_json({"product": product.render(site.netloc(port))})


def plain_text(body_html: str) -> str:
    """Return `body_html` as one line of plain text."""
    text = re.sub(r"<[^>]+>", " ", body_html)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def json_ld(product: DemoProduct, site: DemoSite, port: int) -> dict[str, Any]:
    """Return the schema.org `Product` object for a product page."""
    rendered = product.render(site.netloc(port))
    url = f"{site.base_url(port)}/products/{product.handle}"
    variants = rendered["variants"]
    return {
        "@context": "https://schema.org/",
        "@type": "Product",
        "name": rendered["title"],
        "url": url,
        "description": plain_text(rendered["body_html"]),
        "image": [_absolute(i["src"]) for i in rendered["images"]],
        "sku": variants[0]["sku"],
        "brand": {"@type": "Brand", "name": rendered["vendor"]},
        "category": rendered["product_type"],
        "offers": [{
            "@type": "Offer",
            "sku": v["sku"],
            "name": v["title"],
            "price": v["price"],
            "priceCurrency": "PKR",
            "availability": "https://schema.org/" + ("InStock" if v["available"] else "OutOfStock"),
            "url": f"{url}?variant={v['id']}",
        } for v in variants],
    }


def _absolute(src: str) -> str:
    """Return `src` with an explicit http: scheme."""
    return "http:" + src if src.startswith("//") else src


def product_page(product: DemoProduct, site: DemoSite, port: int) -> bytes:
    """Return the HTML product page with Open Graph tags and JSON-LD."""
    data = json_ld(product, site, port)
    script = json.dumps(data, ensure_ascii=False, indent=2).replace("</", "<\\/")
    esc = html.escape
    meta = [("og:type", "product"), ("og:title", data["name"]), ("og:url", data["url"]),
            ("og:description", data["description"]), ("og:site_name", site.vendor)]
    meta += [("og:image", src) for src in data["image"]]
    meta += [("og:price:amount", data["offers"][0]["price"]), ("og:price:currency", "PKR")]
    meta_html = "\n".join(f'<meta property="{k}" content="{esc(v)}">' for k, v in meta)
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{esc(data["name"])} &ndash; {esc(site.vendor)}</title>
<link rel="canonical" href="{esc(data["url"])}">
{meta_html}
<script type="application/ld+json">
{script}
</script>
</head>
<body>
<h1 class="product__title">{esc(data["name"])}</h1>
<div class="price">Rs.{esc(data["offers"][0]["price"])}</div>
<div class="product__description">{product.shopify["body_html"]}</div>
{"".join(f'<img src="{esc(src)}" alt="{esc(data["name"])}">' for src in data["image"])}
</body>
</html>
"""
    return page.encode("utf-8")


def home_page(site: DemoSite, port: int) -> bytes:
    """Return a store front page linking to every product."""
    links = "\n".join(f'<li><a href="/products/{p.handle}">{html.escape(p.title)}</a></li>'
                      for p in site.products)
    shop = site.name.replace("_", "-")
    page = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{html.escape(site.vendor)}</title>
<script>window.Shopify = window.Shopify || {{}}; Shopify.shop = "{shop}.myshopify.com";</script>
</head>
<body><h1>{html.escape(site.vendor)}</h1><ul>
{links}
</ul></body></html>
"""
    return page.encode("utf-8")


def sitemap_index(site: DemoSite, port: int) -> bytes:
    """Return the sitemap index pointing at the products sitemap."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"  <sitemap><loc>{site.base_url(port)}/sitemap_products_1.xml</loc></sitemap>\n"
        "</sitemapindex>\n"
    ).encode("utf-8")


def products_sitemap(site: DemoSite, port: int, extra_paths: tuple[str, ...] = ()) -> bytes:
    """Return the products sitemap with lastmod and image entries (and `extra_paths` at the end)."""
    base = site.base_url(port)
    netloc = site.netloc(port)
    entries = []
    for product in site.products:
        images = "".join(
            f"<image:image><image:loc>{xml_escape(_absolute(spec.url(netloc)))}</image:loc>"
            f"<image:title>{xml_escape(product.title)}</image:title></image:image>"
            for spec in product.image_specs)
        entries.append(f"  <url><loc>{base}/products/{product.handle}</loc>"
                       f"<lastmod>{product.shopify['updated_at']}</lastmod>"
                       f"<changefreq>daily</changefreq>{images}</url>\n")
    entries += [f"  <url><loc>{base}{path}</loc><changefreq>daily</changefreq></url>\n"
                for path in extra_paths]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">\n'
        + "".join(entries) + "</urlset>\n"
    ).encode("utf-8")


def not_found_page() -> bytes:
    """Return the 404 HTML body."""
    return (b"<!doctype html><html><head><title>404 Not Found</title></head>"
            b"<body><h1>404 Page Not Found</h1><p>The page you requested does not exist.</p>"
            b"</body></html>")


def error_page(status: int, message: str) -> bytes:
    """Return a small HTML error body."""
    text = html.escape(f"{status} {message}")
    page = f"<!doctype html><html><head><title>{text}</title></head><body><h1>{text}</h1></body></html>"
    return page.encode("utf-8")


def redirect_traps(site: DemoSite, port: int) -> dict[str, tuple[int, str]]:
    """Return {path: (status, Location)} of the redirect-trap pages of `site`.

    `loop-a` and `loop-b` redirect to each other forever (one relative, one absolute
    Location); `moved-offsite` answers 301 to `OFFSITE_URL`. Shopify sites use
    `/products/<name>`, the atelier `/<name>.html`.
    """
    if site.platform == "shopify":
        prefix, suffix = "/products/", ""
    else:
        prefix, suffix = "/", ".html"
    loop_a, loop_b = f"{prefix}loop-a{suffix}", f"{prefix}loop-b{suffix}"
    return {
        loop_a: (302, loop_b),
        loop_b: (302, f"{site.base_url(port)}{loop_a}"),
        f"{prefix}moved-offsite{suffix}": (301, OFFSITE_URL),
    }


def trap_entry_paths(site: DemoSite) -> tuple[str, ...]:
    """Return the redirect-trap paths a sitemap lists (`loop-b` is only reached by redirect)."""
    return tuple(path for path in redirect_traps(site, 0) if "loop-b" not in path)


def redirect_page(location: str) -> bytes:
    """Return the small HTML body of a redirect."""
    href = html.escape(location)
    return (f'<!doctype html><html><head><title>Moved</title></head><body>'
            f'<p>Moved to <a href="{href}">{href}</a>.</p></body></html>').encode("utf-8")


def captcha_page() -> bytes:
    """Return a bot-challenge page (Cloudflare + reCAPTCHA style), served with status 200."""
    return b"""<!DOCTYPE html>
<html lang="en-US">
<head>
<title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="robots" content="noindex,nofollow">
</head>
<body>
<div class="main-wrapper" role="main">
<div class="main-content">
<h1>Please verify you are a human</h1>
<p>Checking if the site connection is secure. This process is automatic.</p>
<div id="cf-chl-widget-a1b2c" class="cf-chl-widget"></div>
<form id="challenge-form" action="/?__cf_chl_f_tk=demo" method="POST">
<div class="g-recaptcha" data-sitekey="6LdDemoKeyDemoKeyDemoKeyDemoKey"></div>
</form>
<noscript>Enable JavaScript and cookies to continue</noscript>
</div>
</div>
<script>window._cf_chl_opt = {cvId: "3", cType: "managed"};</script>
<script src="/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray=demo"></script>
</body>
</html>
"""


def maintenance_page() -> bytes:
    """Return the HTML a store serves instead of JSON while in maintenance (status 200)."""
    return (b"<!doctype html><html><head><title>We'll be back soon</title></head>"
            b"<body><h1>Store temporarily unavailable</h1>"
            b"<p>We are performing scheduled maintenance and will be back shortly.</p></body></html>")
