"""The demo's Magento 2 store (demo_magento, 127.0.0.6): the public GraphQL ``products`` query over GET,
Luma-like HTML pages with JSON-LD, one ``sitemap.xml``, and the headers Magento's page cache sends.

GraphQL answers as Magento 2.4 does (Adobe's ``products`` query reference; the resolver's checks in
``Magento\\CatalogGraphQl``): a query needs ``search`` or ``filter`` ("'search' or 'filter' input argument is
required."), ``pageSize`` is capped ("Maximum pageSize is 300", the ``maxPageSize`` of Magento's input
limits), a page past the last is refused, and errors come as ``{"errors": [...], "data": {"products": null}}``
with HTTP 200. Sized and coloured garments are ``ConfigurableProduct``s (a ``size`` or ``color``
configurable option, one variant per value); a colourway's variants each carry the photo of their colour.
``media_gallery`` lists a product's photos out of order with their ``position``, and on some products a
disabled (hidden) image, as stores do.

How this store's GraphQL behaves is switched per server (:func:`switches`): off (404, the module disabled),
disallowed by robots.txt, whether ``search: ""`` lists the catalogue (Magento 2.3 answered it with an internal
error, magento/graphql-ce#720; here it does by default too, so a crawler's next form is exercised), a lower
``pageSize`` cap, fields an older schema lacks.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from weakref import WeakKeyDictionary
from xml.sax.saxutils import escape as xml_escape

from pakfashion.demo.pages import plain_text, to_json
from pakfashion.demo.responses import HTML, JSON, TEXT, XML, Response, Routes
from pakfashion.demo.world import DemoProduct, DemoSite, slugify

if TYPE_CHECKING:
    from pakfashion.demo.server import DemoServer

LISTING_PATH = "/graphql"
# Magento's maxPageSize (SearchCriteriaValidator; the input limits' default when enabled).
MAX_PAGE_SIZE = 300
DEFAULT_PAGE_SIZE = 20
STATIC = "/static/version1712345678/frontend/Magento/luma/en_US"
MEDIA = "/media/catalog/product"
URL_SUFFIX = ".html"
CURRENCY = "PKR"
# What Magento's full-page cache answers a cacheable GET with (GraphQL queries over GET included).
CACHEABLE = "max-age=86400, public, s-maxage=86400"
# Configurable attributes by the demo's Shopify option name: (attribute_code, label).
ATTRIBUTES = {"Size": ("size", "Size"), "Colour": ("color", "Color")}

GraphQlMode = Literal["on", "off", "disallowed"]


@dataclass
class MagentoSwitches:
    """How one server's Magento store answers; a test changes them on ``switches(server)``.

    Attributes:
        graphql: "on"; "off" (``/graphql`` is the store's 404 page: the GraphQL module disabled);
            "disallowed" (robots.txt disallows ``/graphql`` and every URL with a query, ``/*?``).
        empty_search: ``products(search: "")`` lists the catalogue (2.4); False answers it with 2.3's
            "Internal server error", so only ``filter: {price: {from: "0"}}`` lists it.
        max_page_size: The largest ``pageSize`` answered ("Maximum pageSize is N" past it).
        missing_fields: ProductInterface fields the store's (older) schema lacks: asking for one is a
            validation error, ``Cannot query field "uid" on type "ProductInterface".``
    """

    graphql: GraphQlMode = "on"
    empty_search: bool = False
    max_page_size: int = MAX_PAGE_SIZE
    missing_fields: frozenset[str] = field(default_factory=frozenset)


_SWITCHES: WeakKeyDictionary[DemoServer, MagentoSwitches] = WeakKeyDictionary()


def switches(server: DemoServer) -> MagentoSwitches:
    """The Magento switches of ``server`` (fresh ones, all defaults, for a new server)."""
    return _SWITCHES.setdefault(server, MagentoSwitches())


# -- the catalogue as Magento holds it --------------------------------------------------------------


def _option(product: DemoProduct) -> tuple[str, tuple[str, ...]]:
    """(option name, values) of the product's one Shopify option."""
    option = product.shopify["options"][0]
    return str(option["name"]), tuple(str(v) for v in option["values"])


def configurable_attribute(product: DemoProduct) -> tuple[str, str] | None:
    """(attribute_code, label) of a configurable product's option; None for a simple product (one value)."""
    name, values = _option(product)
    if len(values) < 2 and not product.colourway:
        return None
    return ATTRIBUTES.get(name, (slugify(name).replace("-", "_"), name))


def parent_sku(product: DemoProduct) -> str:
    """The product's own SKU (``MG0012``): its variants' SKUs without their option suffix."""
    variant = product.shopify["variants"][0]
    value = str(variant["option1"])
    suffix = "" if value == "Default Title" else "-" + slugify(value).upper()
    return str(variant["sku"]).removesuffix(suffix)


def entity_id(product: DemoProduct) -> int:
    """Magento's entity id: the running number of the SKU."""
    return int(re.sub(r"\D", "", parent_sku(product)))


def uid(entity: int) -> str:
    """A GraphQL ``uid``: the base64 of the entity id."""
    return base64.b64encode(str(entity).encode()).decode()


def uid_entity(item: dict[str, Any]) -> str:
    """The entity id behind an item's ``uid`` (the SKU's number where the item has no uid)."""
    if "uid" in item:
        return base64.b64decode(item["uid"]).decode()
    return re.sub(r"\D", "", str(item["sku"]))


def _price(product: DemoProduct) -> tuple[float, float]:
    """(final price, regular price): the lowest variant price, and its compare-at price when higher."""
    variants = product.shopify["variants"]
    final = min(float(v["price"]) for v in variants)
    regular = max([float(v["compare_at_price"]) for v in variants if v.get("compare_at_price")] or [final])
    return final, max(final, regular)


def _price_range(product: DemoProduct) -> dict[str, Any]:
    final, regular = _price(product)
    return {"minimum_price": {"final_price": {"value": final, "currency": CURRENCY},
                              "regular_price": {"value": regular, "currency": CURRENCY}}}


def _stock(available: bool) -> str:
    return "IN_STOCK" if available else "OUT_OF_STOCK"


def top_category(product: DemoProduct) -> str:
    """The product's top-level category: Women, Kids or Home & Fragrance."""
    if product.garment is None:
        return "Home & Fragrance"
    return "Kids" if product.expected == "children" else "Women"


def categories(product: DemoProduct) -> list[dict[str, str]]:
    """``categories``: the top-level category, then the product type's below it (where it has one)."""
    top = top_category(product)
    found = [{"name": top, "url_path": slugify(top)}]
    leaf = str(product.shopify["product_type"]).strip()
    if leaf:
        found.append({"name": leaf, "url_path": f"{slugify(top)}/{slugify(leaf)}"})
    return found


def _image(url: str, label: str, position: int, disabled: bool = False) -> dict[str, Any]:
    return {"url": url, "label": label, "position": position, "disabled": disabled}


def media_gallery(product: DemoProduct, netloc: str) -> list[dict[str, Any]]:
    """The product's photos, last first (``position`` gives the order), with a hidden swatch image on
    every third product (``disabled``: not shown on the product page)."""
    gallery = [_image(spec.url(netloc), product.title, position)
               for position, spec in enumerate(product.image_specs, start=1)]
    gallery.reverse()
    if entity_id(product) % 3 == 0:
        name = f"swatch-{parent_sku(product).lower()}.jpg"
        gallery.append(_image(f"http://{netloc}{MEDIA}/s/w/{name}", "swatch", 0, disabled=True))
    return gallery


def _variant(product: DemoProduct, index: int, variant: dict[str, Any], code: str,
             netloc: str) -> dict[str, Any]:
    """One ``ConfigurableVariant``: its attribute value and its simple product (a colour's photo)."""
    gallery = []
    if product.colourway and index < len(product.image_specs):
        gallery = [_image(product.image_specs[index].url(netloc), f"{product.title} {variant['title']}", 1)]
    price = float(variant["price"])
    return {
        "attributes": [{"code": code, "label": str(variant["title"]), "value_index": 5000 + index}],
        "product": {"sku": variant["sku"], "stock_status": _stock(bool(variant["available"])),
                    "media_gallery": gallery,
                    "price_range": {"minimum_price": {"final_price": {"value": price},
                                                      "regular_price": {"value": price}}}},
    }


def graphql_item(product: DemoProduct, netloc: str) -> dict[str, Any]:
    """The product as the ``products`` query's items give it (every field the demo's schema has)."""
    entity = entity_id(product)
    body = str(product.shopify["body_html"])
    attribute = configurable_attribute(product)
    item: dict[str, Any] = {
        "__typename": "SimpleProduct" if attribute is None else "ConfigurableProduct",
        "uid": uid(entity),
        "sku": parent_sku(product),
        "name": product.title,
        "url_key": product.handle,
        "url_suffix": URL_SUFFIX,
        # Only when "Use Canonical Link Meta Tag For Products" is on; relative, as Magento gives it.
        "canonical_url": f"{product.handle}{URL_SUFFIX}" if entity % 2 else None,
        "stock_status": _stock(any(v["available"] for v in product.shopify["variants"])),
        "description": {"html": body},
        "short_description": {"html": body.split("</p>", 1)[0] + "</p>" if "</p>" in body else ""},
        "price_range": _price_range(product),
        "media_gallery": media_gallery(product, netloc),
        "categories": categories(product),
    }
    if attribute is not None:
        code, label = attribute
        _, values = _option(product)
        item["configurable_options"] = [{"attribute_code": code, "label": label,
                                         "values": [{"label": value} for value in values]}]
        item["variants"] = [_variant(product, i, v, code, netloc)
                            for i, v in enumerate(product.shopify["variants"])]
    return item


# -- the products query ----------------------------------------------------------------------------


class GraphQlInputError(Exception):
    """A query the store refuses: its message and Magento's error category."""

    def __init__(self, message: str, category: str = "graphql-input") -> None:
        super().__init__(message)
        self.category = category


@dataclass(frozen=True)
class ProductsArgs:
    """The arguments of a ``products(...)`` query."""

    page_size: int
    current_page: int
    search: str | None
    price_from: float | None
    sort: tuple[str, str] | None


_PRODUCTS_ARGS = re.compile(r"\bproducts\s*\((?P<args>[^)]*)\)")
_INT_ARG = r"\b{name}\s*:\s*(-?\d+)"
_SEARCH = re.compile(r'\bsearch\s*:\s*"((?:[^"\\]|\\.)*)"')
_FILTER = re.compile(r"\bfilter\s*:\s*\{")
_PRICE_FROM = re.compile(r'^\s*price\s*:\s*\{\s*from\s*:\s*"(?P<value>\d+(?:\.\d+)?)"\s*\}\s*$')
_FILTER_FIELD = re.compile(r"^\s*(\w+)")
_SORT = re.compile(r"\bsort\s*:\s*\{\s*(\w+)\s*:\s*(ASC|DESC)\s*\}")
SORTABLE = ("name", "price", "position", "relevance")


def _braced(text: str, start: int) -> str:
    """The text inside the braces opened just before ``start`` (to their matching close)."""
    depth = 1
    for pos in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[pos], 0)
        if depth == 0:
            return text[start:pos]
    raise GraphQlInputError("Syntax Error: Expected }, found <EOF>", "graphql")


def _int_arg(args: str, name: str, default: int) -> int:
    """The integer argument ``name`` (``default`` when the query does not give it)."""
    found = re.search(_INT_ARG.format(name=name), args)
    return int(found.group(1)) if found else default


def parse_products_args(query: str) -> ProductsArgs:
    """The ``products`` arguments of a query (GraphQlInputError for what Magento refuses)."""
    found = _PRODUCTS_ARGS.search(query)
    if found is None:
        raise GraphQlInputError("Syntax Error: Unexpected <EOF>" if not query.strip() else
                                "This demo store answers only the products query.", "graphql")
    args = found["args"]
    search = _SEARCH.search(args)
    price_from = None
    filter_arg = _FILTER.search(args)
    if filter_arg is not None:
        body = _braced(args, filter_arg.end())
        price = _PRICE_FROM.match(body)
        if price is None:
            name = _FILTER_FIELD.match(body)
            raise GraphQlInputError(f'Field "{name.group(1) if name else ""}" is not defined by type '
                                    '"ProductAttributeFilterInput".', "graphql")
        price_from = float(price["value"])
    sort = _SORT.search(args)
    if sort is not None and sort.group(1) not in SORTABLE:
        raise GraphQlInputError(f'Field "{sort.group(1)}" is not defined by type "ProductAttributeSortInput".',
                                "graphql")
    return ProductsArgs(page_size=_int_arg(args, "pageSize", DEFAULT_PAGE_SIZE),
                        current_page=_int_arg(args, "currentPage", 1),
                        search=search.group(1) if search else None, price_from=price_from,
                        sort=(sort.group(1), sort.group(2)) if sort else None)


def _check_fields(query: str, missing: frozenset[str]) -> None:
    """GraphQlInputError for the first field the store's schema lacks."""
    for name in sorted(missing):
        if re.search(rf"(?<![\w$]){re.escape(name)}(?![\w])", query):
            raise GraphQlInputError(f'Cannot query field "{name}" on type "ProductInterface".', "graphql")


def _check_args(args: ProductsArgs, settings: MagentoSwitches) -> None:
    """The resolver's checks, in Magento's order."""
    if args.current_page < 1:
        raise GraphQlInputError("currentPage value must be greater than 0.")
    if args.page_size < 1:
        raise GraphQlInputError("pageSize value must be greater than 0.")
    if args.page_size > settings.max_page_size:
        raise GraphQlInputError(f"Maximum pageSize is {settings.max_page_size}")
    if args.search is None and args.price_from is None:
        raise GraphQlInputError("'search' or 'filter' input argument is required.")
    if args.search == "" and not settings.empty_search:
        raise GraphQlInputError("Internal server error", "internal")


def _matching(products: list[DemoProduct], args: ProductsArgs) -> list[DemoProduct]:
    """The products a query lists, in its sort order (ties by entity id, as Magento adds it)."""
    found = [p for p in products
             if (args.price_from is None or _price(p)[0] >= args.price_from)
             and (not args.search or args.search.lower() in p.title.lower())]
    found.sort(key=entity_id)
    field_name, direction = args.sort or ("position", "ASC")
    if field_name == "name":
        found.sort(key=lambda p: p.title.lower(), reverse=direction == "DESC")
    elif field_name == "price":
        found.sort(key=lambda p: _price(p)[0], reverse=direction == "DESC")
    return found


def _without(item: dict[str, Any], missing: frozenset[str]) -> dict[str, Any]:
    """The item without the fields the store's schema lacks."""
    return {k: v for k, v in item.items() if k not in missing}


def products_result(site: DemoSite, port: int, query: str, settings: MagentoSwitches) -> dict[str, Any]:
    """The ``data.products`` of a query (GraphQlInputError for one the store refuses)."""
    _check_fields(query, settings.missing_fields)
    args = parse_products_args(query)
    _check_args(args, settings)
    listed = _matching(site.products, args)
    total_pages = math.ceil(len(listed) / args.page_size)
    if args.current_page > total_pages and listed:
        raise GraphQlInputError(f"currentPage value {args.current_page} specified is greater than the "
                                f"{total_pages} page(s) available.")
    start = (args.current_page - 1) * args.page_size
    netloc = site.netloc(port)
    return {
        "total_count": len(listed),
        "items": [_without(graphql_item(p, netloc), settings.missing_fields)
                  for p in listed[start:start + args.page_size]],
        "page_info": {"current_page": args.current_page, "page_size": args.page_size, "total_pages": total_pages},
    }


def graphql_errors(err: GraphQlInputError) -> dict[str, Any]:
    """Magento's error body: a validation error has no ``data``; a resolver's has ``products: null``."""
    error: dict[str, Any] = {"message": str(err), "locations": [{"line": 1, "column": 2}],
                             "extensions": {"category": err.category}}
    if err.category == "graphql":
        return {"errors": [error]}
    return {"errors": [{**error, "path": ["products"]}], "data": {"products": None}}


# -- pages -----------------------------------------------------------------------------------------


def magento_headers(tags: str = "FPC") -> tuple[tuple[str, str], ...]:
    """What Magento's full-page cache adds to a response (developer mode shows the debug header)."""
    return (("X-Magento-Cache-Debug", "MISS"), ("X-Magento-Tags", tags), ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "SAMEORIGIN"))


def robots_txt(site: DemoSite, port: int, mode: GraphQlMode) -> bytes:
    """Magento's robots.txt: the store's Disallow lines (``/graphql`` and ``/*?`` too when disallowed),
    Crawl-delay, the sitemap."""
    rules = [*site.disallowed_prefixes, *(("/graphql", "/*?") if mode == "disallowed" else ())]
    lines = ["User-agent: *", *(f"Disallow: {rule}" for rule in rules),
             f"Crawl-delay: {site.crawl_delay_s:g}", "", f"Sitemap: {site.base_url(port)}/sitemap.xml", ""]
    return "\n".join(lines).encode("utf-8")


def document(site: DemoSite, title: str, head: str, body: str, page_class: str) -> bytes:
    """A Luma-like page: RequireJS from /static/version…, x-magento-init scripts, the page cache's storage."""
    esc = html.escape
    init = json.dumps({"*": {"Magento_PageCache/js/form-key-provider": {},
                             "mage/cookies": {"expires": None, "path": "\\/", "domain": ""}}})
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<title>{esc(title)}</title>
<link rel="stylesheet" type="text/css" media="all" href="{STATIC}/mage/calendar.css"/>
<script type="text/javascript" src="{STATIC}/requirejs/require.js"></script>
<script type="text/javascript" src="{STATIC}/requirejs-config.js"></script>
{head}
</head>
<body data-container="body" data-mage-init='{{"loaderAjax": {{}}, "loader": {{"icon": "{STATIC}/images/loader-2.gif"}}}}'
 class="{page_class} page-layout-1column">
<script type="text/x-magento-init">{init}</script>
<script>window.localStorage && window.localStorage.getItem('mage-cache-storage');</script>
<header class="page-header"><a class="logo" href="/">{esc(site.vendor)}</a>
<a href="/checkout/cart/">Cart</a> <a href="/customer/account/">My Account</a></header>
<main id="maincontent" class="page-main">
{body}
</main>
</body>
</html>
"""
    return page.encode("utf-8")


def product_url(product: DemoProduct, site: DemoSite, port: int) -> str:
    """The product page: ``/<url_key>.html``."""
    return f"{site.base_url(port)}/{product.handle}{URL_SUFFIX}"


def json_ld(product: DemoProduct, site: DemoSite, port: int) -> dict[str, Any]:
    """The product page's schema.org Product (the theme's markup: the parent SKU, one Offer)."""
    final, _ = _price(product)
    url = product_url(product, site, port)
    return {
        "@context": "https://schema.org", "@type": "Product", "name": product.title,
        "sku": parent_sku(product), "url": url,
        "description": plain_text(str(product.shopify["body_html"])),
        "image": [spec.url(site.netloc(port)) for spec in product.image_specs],
        "category": categories(product)[-1]["name"],
        "brand": {"@type": "Brand", "name": site.vendor},
        "offers": {"@type": "Offer", "url": url, "price": f"{final:.2f}", "priceCurrency": CURRENCY,
                   "availability": "https://schema.org/InStock"},
    }


def product_page(product: DemoProduct, site: DemoSite, port: int) -> bytes:
    """``/<url_key>.html``: canonical link, JSON-LD, the gallery and the price box."""
    esc = html.escape
    data = json_ld(product, site, port)
    script = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    head = (f'<link rel="canonical" href="{esc(data["url"])}"/>\n'
            f'<script type="application/ld+json">{script}</script>')
    images = "".join(f'<img src="{esc(src)}" alt="{esc(product.title)}"/>' for src in data["image"])
    body = (f'<h1 class="page-title"><span class="base" data-ui-id="page-title-wrapper">{esc(product.title)}'
            f'</span></h1>\n<div class="product-info-price"><span class="price">PKR {data["offers"]["price"]}'
            f'</span></div>\n<div class="product attribute sku"><div class="value">{esc(data["sku"])}</div></div>\n'
            f'<div class="gallery-placeholder">{images}</div>\n'
            f'<div class="product attribute description">{product.shopify["body_html"]}</div>')
    return document(site, f"{product.title} | {site.vendor}", head, body, "catalog-product-view")


def category_paths(site: DemoSite) -> dict[str, str]:
    """{``/<top>.html``: name} of the store's top-level categories."""
    names = sorted({top_category(p) for p in site.products})
    return {f"/{slugify(name)}{URL_SUFFIX}": name for name in names}


def category_page(site: DemoSite, port: int, name: str) -> bytes:
    """A category listing (no product data of its own)."""
    esc = html.escape
    tiles = "\n".join(f'<li class="product-item"><a href="/{p.handle}{URL_SUFFIX}">{esc(p.title)}</a></li>'
                      for p in site.products if top_category(p) == name)
    return document(site, f"{name} | {site.vendor}", "", f"<h1>{esc(name)}</h1>\n<ol>{tiles}</ol>",
                     "catalog-category-view")


def home_page(site: DemoSite, port: int) -> bytes:
    """The store front: its categories."""
    links = "".join(f'<li><a href="{path}">{html.escape(name)}</a></li>' for path, name in category_paths(site).items())
    return document(site, site.vendor, "", f"<ul class=\"navigation\">{links}</ul>", "cms-index-index")


def not_found_page(site: DemoSite) -> bytes:
    """Magento's CMS no-route page (what ``/graphql`` answers with the GraphQL module off)."""
    return document(site, f"404 Not Found | {site.vendor}", '<meta name="robots" content="NOINDEX,NOFOLLOW"/>',
                     "<h1>Whoops, our bad...</h1><p>The page you requested was not found.</p>", "cms-no-route")


def sitemap(site: DemoSite, port: int) -> bytes:
    """Magento's one ``sitemap.xml``: the category pages, every product page (with its images), a CMS page."""
    base, netloc = site.base_url(port), site.netloc(port)
    entries = [f"<url><loc>{base}{path}</loc><changefreq>daily</changefreq><priority>0.5</priority></url>"
               for path in category_paths(site)]
    for product in site.products:
        images = "".join(f"<image:image><image:loc>{xml_escape(spec.url(netloc))}</image:loc>"
                         f"<image:title>{xml_escape(product.title)}</image:title></image:image>"
                         for spec in product.image_specs)
        entries.append(f"<url><loc>{xml_escape(product_url(product, site, port))}</loc>"
                       f"<lastmod>{str(product.shopify['updated_at'])[:10]}</lastmod>"
                       f"<changefreq>daily</changefreq><priority>1.0</priority>{images}</url>")
    entries.append(f"<url><loc>{base}/about-us</loc><changefreq>weekly</changefreq><priority>0.25</priority></url>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">\n'
            + "\n".join(entries) + "\n</urlset>\n").encode("utf-8")


# -- routes ----------------------------------------------------------------------------------------


def routes(server: DemoServer) -> Routes:
    """demo_magento's routes; anything else is the store's own 404 page."""
    settings = switches(server)

    def page(status: int, body: bytes, content_type: str = HTML, tags: str = "FPC",
             cache: str = CACHEABLE) -> Response:
        return Response(status, body, content_type, (*magento_headers(tags), ("Cache-Control", cache)))

    def missing(site: DemoSite) -> Response:
        return page(404, not_found_page(site), cache="max-age=0, must-revalidate, no-cache, no-store")

    def graphql(site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        if settings.graphql == "off":
            return missing(site)
        try:
            result = {"data": {"products": products_result(site, server.port, params.get("query", [""])[0],
                                                            settings)}}
        except GraphQlInputError as err:
            return page(200, to_json(graphql_errors(err)), JSON, cache="no-cache")
        tags = ",".join(f"cat_p_{uid_entity(item)}" for item in result["data"]["products"]["items"])
        return page(200, to_json(result), JSON, tags=f"{tags},FPC" if tags else "FPC")

    def product_or_category(site: DemoSite, match: re.Match[str], params: dict[str, list[str]]) -> Response:
        name = category_paths(site).get(match.string)
        if name is not None:
            return page(200, category_page(site, server.port, name))
        product = next((p for p in site.products if p.handle == match["key"]), None)
        if product is None:
            return missing(site)
        return page(200, product_page(product, site, server.port), tags=f"cat_p_{entity_id(product)},FPC")

    return (
        (re.compile(r"/"), lambda site, m, p: page(200, home_page(site, server.port))),
        (re.compile(r"/robots\.txt"), lambda site, m, p: Response(
            200, robots_txt(site, server.port, settings.graphql), TEXT)),
        (re.compile(re.escape(LISTING_PATH)), graphql),
        (re.compile(r"/sitemap\.xml"), lambda site, m, p: page(200, sitemap(site, server.port), XML)),
        (re.compile(r"/(?P<key>[a-z0-9-]+)\.html"), product_or_category),
        (re.compile(re.escape(MEDIA) + r"/.+"), server.image_route),
        (re.compile(r"/.*"), lambda site, m, p: missing(site)),
    )

