"""Sitemaps (robots.txt ``Sitemap:`` lines, indexes, gzip) down to the product page URLs."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from lxml import etree

# Sitemaps need no DTD; a document declaring entities (billion laughs, external entities) is refused.
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
# A bare "&" in a URL (``?a=1&b=2``) that real sitemaps write unescaped; XML's own references are kept.
_BARE_AMPERSAND = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)")


@dataclass(frozen=True)
class SitemapDocument:
    """One sitemap file: child sitemaps (an index) and page URLs (a urlset).

    ``error`` says why the document stopped early (broken XML); what was read before it is kept.
    """

    sitemaps: list[str]
    pages: list[str]
    error: str = ""


def decompress(body: bytes, *, max_bytes: int) -> bytes:
    """Gunzip ``.xml.gz`` bodies (servers often send them without Content-Encoding), inflating at most
    ``max_bytes`` (ValueError past it: a gzip bomb costs no more memory than the cap)."""
    if body[:2] != b"\x1f\x8b":
        return body
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        inflated = inflater.decompress(body, max_bytes + 1)
    except zlib.error as err:
        raise ValueError(f"corrupt gzip sitemap: {err}") from err
    if len(inflated) > max_bytes:
        raise ValueError(f"gzip sitemap inflates past the {max_bytes}-byte cap (web.max_response_bytes); refused")
    return inflated


def parse_sitemap(body: bytes, *, max_bytes: int) -> SitemapDocument:
    """Parse a sitemap index or urlset; namespaces ignored, whitespace in <loc> trimmed.

    Entities are never expanded and the network never read. Raises ValueError for a document that is
    refused whole (corrupt or oversized gzip, entity declarations, not XML at all); XML that breaks
    part-way keeps the URLs before the break and says where it broke in ``error`` (no recovery mode:
    it would request URLs cut short or with parts dropped).
    """
    xml = decompress(body, max_bytes=max_bytes)
    if _ENTITY_DECLARATION.search(xml):
        raise ValueError("sitemap declares XML entities (<!ENTITY>): refused, sitemaps need none")
    # What real sitemaps get wrong and a strict parser would stop at: a byte-order mark or blank lines
    # before the XML declaration, and bare ampersands in URLs.
    xml = _BARE_AMPERSAND.sub(b"&amp;", xml.removeprefix(b"\xef\xbb\xbf").lstrip())
    parser = etree.XMLPullParser(events=("end",), resolve_entities=False, no_network=True, load_dtd=False,
                                 huge_tree=False, remove_comments=True, remove_pis=True)
    sitemaps: list[str] = []
    pages: list[str] = []
    error = ""
    try:
        parser.feed(xml)
        parser.close()
    except etree.XMLSyntaxError as err:
        error = f"broken XML at line {err.position[0]}, column {err.position[1]}: {err.msg}"
    for _, element in parser.read_events():
        if etree.QName(element).localname != "loc" or element.getparent() is None:
            continue
        loc = (element.text or "").strip()
        parent = etree.QName(element.getparent()).localname
        if loc and parent in ("url", "sitemap"):
            (pages if parent == "url" else sitemaps).append(loc)
    if error and not (sitemaps or pages):
        raise ValueError(f"not a sitemap ({error})")
    return SitemapDocument(sitemaps, pages, error)


def is_product_sitemap(url: str) -> bool:
    """Child sitemaps worth reading for products (Shopify/SFCC/Magento/WooCommerce naming)."""
    name = url.rsplit("/", 1)[-1].lower()
    skip = ("blog", "page", "collection", "categor", "article", "content", "store", "video", "brand")
    return "product" in name or not any(word in name for word in skip)


def product_urls(pages: list[str], pattern: str) -> list[str]:
    """Page URLs matching the site's product URL pattern, in order, without repeats."""
    matcher = re.compile(pattern)
    return list(dict.fromkeys(url for url in pages if matcher.search(url)))
