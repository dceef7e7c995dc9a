"""Sitemaps (robots.txt ``Sitemap:`` lines, indexes, gzip) down to the product page URLs."""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass

from parsel import Selector


@dataclass(frozen=True)
class SitemapDocument:
    """One sitemap file: child sitemaps (an index) and page URLs (a urlset)."""

    sitemaps: list[str]
    pages: list[str]


def decompress(body: bytes) -> bytes:
    """Gunzip ``.xml.gz`` bodies (servers often send them without Content-Encoding)."""
    if body[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"corrupt gzip sitemap: {err}") from err
    return body


def parse_sitemap(body: bytes) -> SitemapDocument:
    """Parse a sitemap index or urlset; namespaces ignored, whitespace in <loc> trimmed."""
    sel = Selector(body=decompress(body), type="xml")
    sel.remove_namespaces()
    return SitemapDocument(
        sitemaps=[loc.strip() for loc in sel.xpath("//sitemap/loc/text()").getall() if loc.strip()],
        pages=[loc.strip() for loc in sel.xpath("//url/loc/text()").getall() if loc.strip()],
    )


def is_product_sitemap(url: str) -> bool:
    """Child sitemaps worth reading for products (Shopify/SFCC/Magento/WooCommerce naming)."""
    name = url.rsplit("/", 1)[-1].lower()
    skip = ("blog", "page", "collection", "categor", "article", "content", "store", "video", "brand")
    return "product" in name or not any(word in name for word in skip)


def product_urls(pages: list[str], pattern: str) -> list[str]:
    """Page URLs matching the site's product URL pattern, in order, without repeats."""
    matcher = re.compile(pattern)
    return list(dict.fromkeys(url for url in pages if matcher.search(url)))
