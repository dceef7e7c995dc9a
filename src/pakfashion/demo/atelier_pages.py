"""Response bodies for the Salesforce Commerce Cloud-like atelier: no JSON API, only HTML pages.

Product pages carry a canonical link, Open Graph tags and schema.org JSON-LD in the shapes
real SFCC/Magento stores use (`Product`, `@graph`, `["Product"]`, `ProductGroup` with
`hasVariant`, CDATA-wrapped, a trailing comma, `AggregateOffer`, a broken block with only
Open Graph left). Pure functions of a `DemoSite` and the serving port, like `pages`.
"""

from __future__ import annotations

import gzip
import html
import json
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from pakfashion.demo.pages import plain_text
from pakfashion.demo.world import AtelierProduct, DemoProduct, DemoSite, slugify

CONTENT_PAGES: tuple[tuple[str, str], ...] = (
    ("/about-us.html", "About Us"), ("/stores.html", "Store Locator"), ("/faqs.html", "FAQs"),
)
"""Non-product pages listed in the content sitemap: (path, title)."""

CART_PATH = "/on/demandware.store/Sites-Atelier-Site/en_PK/Cart-Show"
"""The SFCC pipeline URL of the cart (robots-disallowed)."""

CATEGORY_PAGE_SIZE = 12
PRODUCT_SITEMAP = "/sitemap_0-product.xml.gz"
CONTENT_SITEMAP = "/sitemap_0-content.xml"
SCHEMA = "https://schema.org"


def robots_txt(site: DemoSite, port: int) -> bytes:
    """Return an SFCC-like robots.txt: wildcard rules, Crawl-delay and one Sitemap line."""
    lines = ["User-agent: *"]
    lines += [f"Disallow: {rule}" for rule in site.disallowed_prefixes]
    lines += [f"Crawl-delay: {site.crawl_delay_s:g}", "",
              f"Sitemap: {site.base_url(port)}/sitemap_index.xml", ""]
    return "\n".join(lines).encode("utf-8")


def _atelier(products: list[DemoProduct]) -> list[AtelierProduct]:
    """Return the atelier products of `products` (all of them, on the atelier site)."""
    return [p for p in products if isinstance(p, AtelierProduct)]


def _lastmod(product: DemoProduct) -> str:
    """Return the product's last modification date, "YYYY-MM-DD"."""
    return str(product.shopify["updated_at"])[:10]


def sitemap_index(site: DemoSite, port: int) -> bytes:
    """Return the sitemap index: the gzipped product urlset and the content urlset."""
    base = site.base_url(port)
    newest = max(_lastmod(p) for p in site.products)
    entries = "".join(f"<sitemap>\n<loc>{base}{path}</loc>\n<lastmod>{newest}</lastmod>\n</sitemap>\n"
                      for path in (PRODUCT_SITEMAP, CONTENT_SITEMAP))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            + entries + "</sitemapindex>\n").encode("utf-8")


def product_sitemap_xml(site: DemoSite, port: int, extra_paths: tuple[str, ...] = ()) -> bytes:
    """Return the (uncompressed) product urlset: every page, disallowed ones included, by SKU.

    Args:
        site: The atelier.
        port: Serving port.
        extra_paths: More page paths to list at the end (the redirect traps).
    """
    base = site.base_url(port)
    netloc = site.netloc(port)
    entries = []
    for product in sorted(_atelier([*site.products, *site.disallowed_products]), key=lambda p: p.sku):
        images = "".join(
            f"<image:image>\n<image:loc>{xml_escape(url)}</image:loc>\n"
            f"<image:title>{xml_escape(product.title)}</image:title>\n</image:image>\n"
            for url in product.image_urls(netloc))
        entries.append(f"<url>\n<loc>{base}{product.page_path}</loc>\n"
                       f"<lastmod>{_lastmod(product)}</lastmod>\n"
                       f"<changefreq>daily</changefreq>\n<priority>1.0</priority>\n{images}</url>\n")
    entries += [f"<url>\n<loc>{base}{path}</loc>\n<changefreq>daily</changefreq>\n</url>\n"
                for path in extra_paths]
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">\n'
            + "".join(entries) + "</urlset>\n").encode("utf-8")


def product_sitemap_gz(site: DemoSite, port: int, extra_paths: tuple[str, ...] = ()) -> bytes:
    """Return the product urlset gzip-compressed (mtime 0, so the bytes are reproducible)."""
    return gzip.compress(product_sitemap_xml(site, port, extra_paths), mtime=0)


def content_sitemap(site: DemoSite, port: int) -> bytes:
    """Return the urlset of non-product pages."""
    base = site.base_url(port)
    entries = "".join(f"<url>\n<loc>{base}{path}</loc>\n<changefreq>weekly</changefreq>\n</url>\n"
                      for path, _ in CONTENT_PAGES)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            + entries + "</urlset>\n").encode("utf-8")


def category_path(product: DemoProduct) -> str:
    """Return the category page a product is listed on, e.g. "/women/kurta/".

    A page filed under a category folder (e.g. "/kids/girls/x-AT0027.html") is listed on that folder.
    """
    folder = product.page_path.rsplit("/", 1)[0] if isinstance(product, AtelierProduct) else ""
    if folder and folder != "/private":
        return f"{folder}/"
    if product.expected == "children":
        return "/kids/"
    if product.garment is None:
        return "/fragrances/"
    return f"/women/{slugify(product.garment)}/"


def categories(site: DemoSite) -> dict[str, list[AtelierProduct]]:
    """Return {category path: products}; a parent ("/women/", "/kids/") lists its subcategories' products."""
    out: dict[str, list[AtelierProduct]] = {}
    for product in _atelier(site.products):
        for path in _category_trail(category_path(product)):
            out.setdefault(path, []).append(product)
    return dict(sorted(out.items()))


def _category_trail(path: str) -> list[str]:
    """Return a category path and its parents, outermost first: "/women/kurta/" → ["/women/", "/women/kurta/"]."""
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[:depth]) + "/" for depth in range(1, len(parts) + 1)]


def _price_value(product: AtelierProduct, amount: int) -> int | str:
    """Return `amount` as the product's JSON-LD price type."""
    return f"{amount}.00" if product.price_type == "string" else amount


def _image_value(product: AtelierProduct, urls: list[str]) -> Any:
    """Return the JSON-LD `image` value in the product's image form."""
    if product.image_form == "string":
        return urls[0]
    if product.image_form == "list":
        return urls
    objects = [{"@type": "ImageObject", "url": url} for url in urls]
    return objects[0] if len(objects) == 1 else objects


def _availability(available: bool) -> str:
    """Return the schema.org availability URL."""
    return f"{SCHEMA}/" + ("InStock" if available else "OutOfStock")


def _offer(product: AtelierProduct, url: str) -> dict[str, Any]:
    """Return the product's `offers` value: an Offer, or an AggregateOffer for that layout."""
    variants = product.shopify["variants"]
    if product.layout == "aggregate":
        return {"@type": "AggregateOffer", "lowPrice": _price_value(product, product.price),
                "highPrice": _price_value(product, product.price + 1000), "priceCurrency": "PKR",
                "offerCount": len(variants)}
    return {"@type": "Offer", "url": url, "price": _price_value(product, product.price),
            "priceCurrency": "PKR", "itemCondition": f"{SCHEMA}/NewCondition",
            "availability": _availability(any(v["available"] for v in variants))}


def _product_node(product: AtelierProduct, site: DemoSite, port: int) -> dict[str, Any]:
    """Return the schema.org Product object (without @context/@type) for most layouts."""
    url = product.url(site.netloc(port))
    node: dict[str, Any] = {
        "name": product.title,
        "description": plain_text(product.shopify["body_html"]),
        "url": url,
        "sku": product.sku,
        "mpn": product.sku,
        "image": _image_value(product, product.image_urls(site.netloc(port))),
        "brand": {"@type": "Brand", "name": site.vendor},
        "category": product.shopify["product_type"] or (product.garment or "").title(),
    }
    if product.colour:
        node["color"] = product.colour.title()
    node["offers"] = _offer(product, url)
    return node


def _breadcrumbs(product: AtelierProduct, site: DemoSite, port: int) -> dict[str, Any]:
    """Return the BreadcrumbList for a product page (Home > Women > Kurta > product)."""
    base = site.base_url(port)
    trail = [("Home", f"{base}/")]
    trail += [(path.strip("/").rsplit("/", 1)[-1].replace("-", " ").title(), f"{base}{path}")
              for path in _category_trail(category_path(product))]
    trail.append((product.title, product.url(site.netloc(port))))
    return {"@type": "BreadcrumbList", "itemListElement": [
        {"@type": "ListItem", "position": i, "name": name, "item": item}
        for i, (name, item) in enumerate(trail, start=1)]}


def _group(product: AtelierProduct, site: DemoSite, port: int) -> dict[str, Any]:
    """Return a ProductGroup whose variants (one per size) each have an image and an offer."""
    netloc = site.netloc(port)
    url = product.url(netloc)
    urls = product.image_urls(netloc)
    variants = [{
        "@type": "Product",
        "name": f"{product.title} - {v['title']}",
        "sku": v["sku"],
        "size": v["title"],
        "image": urls[i % len(urls)],
        "offers": {"@type": "Offer", "url": url, "price": _price_value(product, product.price),
                   "priceCurrency": "PKR", "availability": _availability(v["available"])},
    } for i, v in enumerate(product.shopify["variants"])]
    return {
        "@context": SCHEMA, "@type": "ProductGroup", "name": product.title,
        "description": plain_text(product.shopify["body_html"]), "url": url,
        "productGroupID": product.sku, "variesBy": f"{SCHEMA}/size", "image": urls,
        "brand": {"@type": "Brand", "name": site.vendor},
        "category": product.shopify["product_type"] or (product.garment or "").title(),
        "color": (product.colour or "").title(), "hasVariant": variants,
    }


def json_ld(product: AtelierProduct, site: DemoSite, port: int) -> dict[str, Any]:
    """Return the JSON-LD document of a product page (the `og_only` layout's broken block aside)."""
    if product.layout == "group":
        return _group(product, site, port)
    node = _product_node(product, site, port)
    if product.layout == "graph":
        return {"@context": SCHEMA, "@graph": [
            _breadcrumbs(product, site, port),
            {"@type": "Product", "@id": f"{node['url']}#product", **node}]}
    kind: Any = ["Product"] if product.layout == "type_list" else "Product"
    return {"@context": SCHEMA, "@type": kind, **node}


def json_ld_text(product: AtelierProduct, site: DemoSite, port: int) -> str:
    """Return the text inside the product's `<script type="application/ld+json">`."""
    if product.layout == "og_only":
        # An unrendered template: not JSON even to lenient parsers.
        return ('{\n  "@context": "https://schema.org",\n  "@type": "Product",\n'
                f'  "name": {json.dumps(product.title)},\n'
                '  "image": [${product.images}],\n'
                '  "offers": {"@type": "Offer", "price": ${product.price}, "priceCurrency": "PKR"\n')
    text = json.dumps(json_ld(product, site, port), ensure_ascii=False, indent=2).replace("</", "<\\/")
    if product.layout == "cdata":
        return f"//<![CDATA[\n{text}\n//]]>"
    if product.layout == "trailing_comma":
        return text[:-2] + ",\n}"
    return text


def _organization(site: DemoSite, port: int) -> str:
    """Return the site-wide Organization JSON-LD block."""
    data = {"@context": SCHEMA, "@type": "Organization", "name": site.vendor,
            "url": f"{site.base_url(port)}/", "logo": f"{site.base_url(port)}/images/logo.svg"}
    return json.dumps(data, ensure_ascii=False)


def _header(site: DemoSite) -> str:
    """Return the store header with navigation links."""
    return (f'<header><a class="logo" href="/">{html.escape(site.vendor)}</a><nav>'
            '<a href="/women/">Women</a> <a href="/kids/">Kids</a> <a href="/fragrances/">Fragrances</a> '
            f'<a href="{CART_PATH}">Bag</a></nav></header>')


def document(site: DemoSite, port: int, title: str, head: str, body: str) -> bytes:
    """Return a complete HTML page."""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
{head}
<script type="application/ld+json">{_organization(site, port)}</script>
</head>
<body>
{_header(site)}
<main>
{body}
</main>
<footer><a href="/about-us.html">About Us</a> <a href="/stores.html">Stores</a> <a href="/faqs.html">FAQs</a></footer>
</body>
</html>
"""
    return page.encode("utf-8")


def product_page(product: AtelierProduct, site: DemoSite, port: int) -> bytes:
    """Return the HTML product page: canonical link, Open Graph tags, JSON-LD, markup."""
    netloc = site.netloc(port)
    url = product.url(netloc)
    urls = product.image_urls(netloc)
    esc = html.escape
    description = plain_text(product.shopify["body_html"])
    meta = [("og:type", "product"), ("og:title", product.title), ("og:url", url),
            ("og:description", description), ("og:site_name", site.vendor)]
    meta += [("og:image", src) for src in urls]
    meta += [("product:price:amount", f"{product.price}.00"), ("product:price:currency", "PKR")]
    head = f'<link rel="canonical" href="{esc(url)}">\n' + "\n".join(
        f'<meta property="{k}" content="{esc(v)}">' for k, v in meta)
    head += f'\n<script type="application/ld+json">\n{json_ld_text(product, site, port)}\n</script>'
    if product.layout not in ("graph", "og_only"):  # a @graph carries its own; og_only has no JSON-LD left
        crumbs = json.dumps({"@context": SCHEMA, **_breadcrumbs(product, site, port)}, ensure_ascii=False)
        head += '\n<script type="application/ld+json">' + crumbs.replace("</", "<\\/") + "</script>"
    category = category_path(product)
    images = "".join(f'<img class="d-block img-fluid" src="{esc(src)}" alt="{esc(product.title)}">'
                     for src in urls)
    sizes = "".join(f'<option value="{esc(v["sku"])}">{esc(v["title"])}</option>'
                    for v in product.shopify["variants"])
    body = f"""<nav class="breadcrumb"><a href="/">Home</a> / <a href="{category}">{esc(category)}</a></nav>
<div class="product-detail product-wrapper" data-pid="{product.sku}">
<div class="primary-images">{images}</div>
<h1 class="product-name">{esc(product.title)}</h1>
<div class="product-number">SKU: <span>{product.sku}</span></div>
<div class="prices"><span class="sales">
<span class="value" content="{product.price}.00">PKR {product.price:,}</span></span></div>
<select class="select-size">{sizes}</select>
<div class="description-and-detail"><div class="content">{product.shopify["body_html"]}</div></div>
</div>"""
    return document(site, port, f"{product.title} | {site.vendor}", head, body)


def _tile(product: AtelierProduct) -> str:
    """Return a category-page product tile."""
    esc = html.escape
    return (f'<div class="product-tile" data-pid="{product.sku}"><a class="link" href="{product.page_path}">'
            f'{esc(product.title)}</a> <span class="price">PKR {product.price:,}</span></div>')


def category_page(site: DemoSite, port: int, path: str, start: int, size: int) -> bytes | None:
    """Return a category page listing products `start`..`start+size`, or None if no such category.

    A "More" link (`?start=N&sz=M`, robots-disallowed) follows when more products remain.
    """
    listed = categories(site).get(path)
    if listed is None:
        return None
    size = size if 0 < size <= 96 else CATEGORY_PAGE_SIZE
    start = max(start, 0)
    tiles = "\n".join(_tile(p) for p in listed[start:start + size])
    more = (f'\n<a class="more" href="{path}?start={start + size}&amp;sz={size}">More</a>'
            if start + size < len(listed) else "")
    head = f'<link rel="canonical" href="{site.base_url(port)}{path}">'
    heading = html.escape(path.strip("/").replace("/", " / ").title())
    body = f'<h1>{heading}</h1>\n<div class="product-grid">\n{tiles}\n</div>{more}'
    return document(site, port, f"{path.strip('/').title()} | {site.vendor}", head, body)


def home_page(site: DemoSite, port: int) -> bytes:
    """Return the store front: category links and a few featured products."""
    links = "\n".join(f'<li><a href="{path}">{html.escape(path)}</a></li>' for path in categories(site))
    featured = "\n".join(_tile(p) for p in _atelier(site.products)[:8])
    body = f"<h1>{html.escape(site.vendor)}</h1>\n<ul class=\"categories\">\n{links}\n</ul>\n{featured}"
    head = f'<link rel="canonical" href="{site.base_url(port)}/">'
    return document(site, port, site.vendor, head, body)


def content_page(site: DemoSite, port: int, title: str) -> bytes:
    """Return a non-product content page."""
    body = f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(site.vendor)}: Pakistani fashion since 1999.</p>"
    return document(site, port, f"{title} | {site.vendor}", "", body)


def cart_page(site: DemoSite, port: int) -> bytes:
    """Return the (empty) shopping bag page served by the SFCC pipeline URLs."""
    return document(site, port, f"Bag | {site.vendor}", '<meta name="robots" content="noindex">',
                     "<h1>Your shopping bag is empty</h1>")


def not_found_page(site: DemoSite, port: int) -> bytes:
    """Return the atelier's 404 page."""
    return document(site, port, f"Page Not Found | {site.vendor}", '<meta name="robots" content="noindex">',
                     "<h1>Sorry, this page cannot be found.</h1>")
