"""Salesforce Commerce Cloud stores (Khaadi, Sapphire): sitemap product pages, SFRA markup, renditions.

SFCC has no public product API and its listing grids (``Search-UpdateGrid?cgid=&start=&sz=``, wanting
``X-Requested-With`` and a Referer) are not meant for robots, so the polite path is the sitemaps' product
pages. Each colour of a master product has its own page; they are read one by one and joined into one
product with its colours. A page's fields come from JSON-LD where it has them and from the storefront's
own markup (``h1.product-name``, ``span.value[content]``, the gallery) otherwise. Dynamic Imaging URLs are
upgraded to the original (no ``sw``/``sh``), and thumbnail, zoom and resized copies of one photo collapse
into one URL before any download.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from parsel import Selector

from pakfashion.config import Platform
from pakfashion.crawling.adapters import Adapter, page_products
from pakfashion.crawling.jsonld import extract_product
from pakfashion.crawling.pages import url_handle
from pakfashion.crawling.record import (
    ProductRecord,
    Variant,
    distinct,
    html_to_text,
)

log = logging.getLogger(__name__)

# What only SFCC storefronts carry: its pipeline and static paths, its session cookies, its request id.
SFCC_MARKERS = ("demandware.store", "demandware.static", "/dw/image/v2/", "dwanonymous_", "dwsid")
SFCC_HEADERS = ("x-dw-request-base-id",)
# Listing endpoints (grids, search, AJAX variation calls): never requested, whatever robots.txt says.
LISTING_ENDPOINT = re.compile(r"/on/demandware\.store/|Search-(?:UpdateGrid|Show)|Product-Variation", re.IGNORECASE)
# Dynamic Imaging's rendition parameters (width, height, scale mode, quality, crop, background).
RENDITION_PARAMS = frozenset({"sw", "sh", "sm", "sfrm", "q", "bgcolor", "strip", "cx", "cy", "cw", "ch"})
# A catalogue image: /-/Sites-<catalog>/<locale>/[dw<hash>/]<folders>/<file>.
_CATALOG_IMAGE = re.compile(r"/-/(?P<catalog>Sites-[^/]+)/[^/]+/(?:dw[0-9a-f]{6,}/)?(?P<rest>.+)$")
# Size folders, largest first; swatches are colour chips, not photos of the product.
SIZE_FOLDERS = ("original", "hi-res", "hires", "zoom", "xlarge", "large", "medium", "small", "thumbnail",
                "thumbnails", "thumb")
SWATCH_FOLDERS = ("swatch", "swatches")


def largest_rendition(url: str) -> str:
    """A Dynamic Imaging URL without its rendition parameters (the original size); others unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "/dw/image/" not in parts.path and "demandware.static" not in parts.path:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in RENDITION_PARAMS]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def _photo_key(url: str) -> tuple[str, int] | None:
    """(the photo's identity, its size rank: 0 largest) for a catalogue image; None for a swatch."""
    path = urlsplit(url).path
    match = _CATALOG_IMAGE.search(path)
    if match is None:
        return path.lower(), 0
    folders = [folder.lower() for folder in match["rest"].split("/")[:-1]]
    if any(folder in SWATCH_FOLDERS for folder in folders):
        return None
    rank = min((SIZE_FOLDERS.index(f) for f in folders if f in SIZE_FOLDERS), default=0)
    return f"{match['catalog']}/{match['rest'].rsplit('/', 1)[-1]}".lower(), rank


def collapse_renditions(urls: list[str]) -> list[str]:
    """One URL per photo, in first-seen order: the largest size folder's, without rendition parameters;
    colour swatches dropped."""
    best: dict[str, tuple[int, str]] = {}
    for url in urls:
        key = _photo_key(url)
        if key is None:
            continue
        photo, rank = key
        if photo not in best or rank < best[photo][0]:
            best[photo] = (rank, largest_rendition(url))
    return [url for _, url in best.values()]


def _first(sel: Selector, *queries: str) -> str:
    for query in queries:
        value = sel.css(query).get()
        if value and value.strip():
            return value.strip()
    return ""


# SFRA's swatch buttons: aria-label "Select Color Red", data-url "...Product-Variation?dwvar_<master>_color=...".
_SELECTED_SWATCH = ("//button[.//span[contains(concat(' ', normalize-space(@class), ' '), ' selected ') and "
                    "contains(@class, 'color-value')]]")
_DWVAR = re.compile(r"[?&]dwvar_(?P<master>[^=&]+)_(?P<attribute>[A-Za-z0-9]+)=")


def _markup_colour(sel: Selector) -> str:
    """The colour the page shows: the selected swatch's label (or value code), or a displayed value."""
    label = sel.xpath(f"{_SELECTED_SWATCH}/@aria-label").get() or ""
    named = re.sub(r"^.*?\bcolou?r\b[:\s]*", "", label, flags=re.IGNORECASE).strip() if label else ""
    colour = named or _first(sel, '[data-attr="color"] .attr-display-value::text', ".color-value.selected::attr(title)",
                             ".color-value.selected::attr(data-attr-value)", ".swatch.selected::attr(title)")
    # A value code ("MUSTARD", "OFF_WHITE") reads as its name.
    return colour.replace("_", " ").title() if colour.isupper() else colour


def _variation_master(sel: Selector) -> str:
    """The master product id SFRA's variation URLs name (``dwvar_<master>_<attribute>=``), "" when none do."""
    for url in sel.xpath("//@data-url | //a/@href").getall():
        match = _DWVAR.search(url)
        if match:
            return match["master"]
    return ""


def _gallery(sel: Selector) -> list[str]:
    images = sel.css(".primary-images img, .product-carousel img, .pdp-gallery img, .product-images img, "
                     ".product-detail img[itemprop=image]")
    urls = [url for img in images for url in (img.attrib.get("src"), img.attrib.get("data-src"),
                                             img.attrib.get("data-zoom-image")) if url]
    return urls + sel.css(".thumbnails img::attr(src), .product-thumbnails img::attr(src)").getall()


def markup_product(html: str) -> dict[str, Any]:
    """What the SFRA storefront markup says about the page's product (values "" or [] where it is silent)."""
    sel = Selector(text=html)
    price = _first(sel, ".prices .sales .value::attr(content)", '[itemprop="price"]::attr(content)',
                   ".price .value::attr(content)", "span.value[content]::attr(content)")
    description = sel.css(".description-and-detail .content, .product-description, [itemprop=description]").get()
    return {
        "name": html_to_text(_first(sel, "h1.product-name", ".product-name", "h1")),
        "description": html_to_text(description or ""),
        "images": _gallery(sel),
        # The product's own block first: recommendation tiles and the mini cart carry data-pid too.
        "sku": _first(sel, ".product-detail[data-pid]::attr(data-pid)", ".product-id::text", "[data-pid]::attr(data-pid)"),
        "group_id": _first(sel, "[data-master-pid]::attr(data-master-pid)", "[data-masterid]::attr(data-masterid)",
                           "input.master-pid::attr(value)") or _variation_master(sel),
        "color": _markup_colour(sel),
        "prices": [price] if price else [],
        "breadcrumbs": [text for text in (html_to_text(t) for t in sel.css(".breadcrumb li a, .breadcrumb-item a")
                                          .getall()) if text],
    }


def read_sfcc_page(html: str, problems: list[str]) -> tuple[dict[str, Any], str] | None:
    """The page's product from JSON-LD where present, its gaps filled from the SFRA markup; images
    collapsed to one largest URL per photo. ``how``: ``jsonld``, ``open_graph`` or ``sfcc_markup``."""
    found = extract_product(html, problems)
    markup = markup_product(html)
    if found is None and not (markup["name"] and markup["images"]):
        return None
    product, how = found if found is not None else ({}, "sfcc_markup")
    merged = {**markup, **{key: value for key, value in product.items() if value not in ("", [], None)}}
    merged["images"] = collapse_renditions([*product.get("images", []), *markup["images"]])
    return merged, how


def _group_key(record: ProductRecord, product: dict[str, Any]) -> str:
    """The master product a page belongs to: what the page says (JSON-LD ``isVariantOf``, the markup's
    ``data-master-pid``), else the other page its canonical link names, else its own id."""
    if product.get("group_id"):
        return str(product["group_id"])
    if product.get("fetched_url", record.product_url) != record.product_url:
        return url_handle(record.product_url)
    return record.product_id


def merge_variations(master: str, pages: list[tuple[ProductRecord, str]]) -> ProductRecord:
    """One product from its colour pages (record, colour): every colour's photos in page order, each
    photo's colour in ``image_colours``, the colours as the product's "Color" option."""
    first = pages[0][0]
    images: dict[str, str] = {}
    for record, colour in pages:
        for url in record.image_urls:
            images.setdefault(url, colour)
    colours = distinct(colour for _, colour in pages)
    prices = [record.price for record, _ in pages if record.price is not None]
    variants = [Variant(title=colour or record.title, price=record.price, compare_at_price=None, available=None,
                        options=[colour] if colour else [], sku=record.product_id) for record, colour in pages]
    return ProductRecord(
        site=first.site, product_id=master, product_url=first.product_url, title=first.title,
        description=next((r.description for r, _ in pages if r.description), ""), category=first.category,
        tags=distinct([*colours, *(tag for r, _ in pages for tag in r.tags)]), price=min(prices) if prices else None,
        currency=first.currency, image_urls=list(images), crawled_at=first.crawled_at, source=first.source,
        vendor=first.vendor, options={"Color": colours} if colours else {}, variants=variants,
        handle=url_handle(first.product_url) if first.product_url else master,
        skus=distinct([master, *(sku for r, _ in pages for sku in [r.product_id, *r.skus])]),
        breadcrumbs=first.breadcrumbs, image_colours=[colour.lower() for colour in images.values()],
    )


class SfccAdapter(Adapter):
    """SFCC: sitemap product pages (never its listing grids), colour pages joined into master products."""

    platform = Platform.sfcc

    def evidence(self) -> str:
        marker = self._marker()
        if not marker:
            return ""
        if not self._product_pages:
            log.warning("%s looks like SFCC (%s) but its sitemaps list no product pages", self.ctx.site.name, marker)
            return ""
        return f"SFCC ({marker}), product pages in the sitemaps"

    def _marker(self) -> str:
        """Where the site shows it runs SFCC: robots.txt (no request), else the home page's headers or HTML."""
        robots = self.ctx.client.robots.snapshot(self.ctx.site.base_url).text
        found = next((m for m in SFCC_MARKERS if m in robots), "")
        if found:
            return f"robots.txt names {found}"
        resp = self.ctx.home_page()
        if resp is None:
            return ""
        header = next((h for h in SFCC_HEADERS if resp.header(h)), "")
        if header:
            return f"response header {header}"
        body = resp.body[:1_000_000].decode("utf-8", errors="replace")
        return next((f"the home page names {m}" for m in SFCC_MARKERS if m in body), "")

    @functools.cached_property
    def _product_pages(self) -> list[str]:
        """The sitemaps' product pages but listing endpoints (counted once in ``refused_urls``)."""
        pages = self.ctx.pages
        urls = pages.product_page_urls()
        kept = [url for url in urls if not LISTING_ENDPOINT.search(url)]
        if len(kept) < len(urls):
            pages.refused_urls["listing_endpoint"] += len(urls) - len(kept)
        return kept

    def records(self) -> Iterator[ProductRecord]:
        self.ctx.pages.read_product = read_sfcc_page
        groups: dict[str, list[tuple[ProductRecord, str]]] = {}
        urls = self._product_pages
        for record, product in page_products(self.ctx, urls):
            key = _group_key(record, product)
            groups.setdefault(key, []).append((record, str(product.get("color") or "")))
        self.ctx.details["variation_pages"] = sum(len(pages) for pages in groups.values())
        self.ctx.details["master_products"] = len(groups)
        for master, pages in groups.items():
            yield merge_variations(master, pages)
