"""The one normalised product record every adapter emits (one line of products.jsonl)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from html import unescape
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from parsel import Selector

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Variant:
    title: str
    price: float | None
    compare_at_price: float | None
    available: bool | None
    options: list[str] = field(default_factory=list)
    sku: str = ""


@dataclass(frozen=True)
class ProductRecord:
    site: str
    product_id: str
    product_url: str
    title: str
    description: str
    category: str
    tags: list[str]
    price: float | None
    currency: str
    image_urls: list[str]
    crawled_at: str
    source: str
    vendor: str = ""
    options: dict[str, list[str]] = field(default_factory=dict)
    variants: list[Variant] = field(default_factory=list)
    # Evidence for the csv stage's classifier (defaults keep older products.jsonl loadable).
    # Shopify handle, or the last URL path segment without its extension on page-crawled sites.
    handle: str = ""
    # Distinct SKUs in order: Shopify variants' skus; JSON-LD sku / mpn / productID on pages.
    skus: list[str] = field(default_factory=list)
    # [{"handle", "title"}] of the signalled collections (crawl.collections) listing the product.
    collections: list[dict[str, str]] = field(default_factory=list)
    # Names of the page's JSON-LD BreadcrumbList items, in order.
    breadcrumbs: list[str] = field(default_factory=list)
    # The colour each image shows, lower case, aligned with image_urls ("" where the store does not say): Shopify's
    # images[].variant_ids, WooCommerce/Magento variation images, SFCC colour variation pages.
    image_colours: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def now_iso() -> str:
    """Now in UTC, to the second (``crawled_at``, the report's dates)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def json_objects(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON list (anything else, or a list of non-objects, gives none)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def distinct(values: Iterable[str]) -> list[str]:
    """Non-empty stripped values in first-seen order, without repeats."""
    return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed (script/style dropped)."""
    if not html or not html.strip():
        return ""
    texts = Selector(text=f"<div>{html}</div>").xpath(
        "//text()[not(ancestor::script) and not(ancestor::style)]"
    ).getall()
    return _SPACES.sub(" ", unescape(" ".join(texts))).strip()


def parse_price(value: Any) -> float | None:
    """A price given as "4,990.00", 4990, "" or None, as a float (None when absent or unparsable)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    cleaned = re.sub(r"[^\d.]", "", str(value))
    try:
        return float(cleaned) if cleaned else None
    except ValueError:
        return None


def normalise_image_url(url: str, *, base_scheme: str) -> str:
    """Give protocol-relative URLs (``//cdn...``) the site's scheme; drop fragments.

    A URL that does not parse is kept as it is: the download stage records it as ``bad_url``.
    """
    url = url.strip()
    if url.startswith("//"):
        url = f"{base_scheme}:{url}"
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


def resolve_url(base: str, url: str) -> str:
    """``url`` relative to ``base``, or as it is when it does not parse (downloads record it as bad_url)."""
    try:
        return urljoin(base, url)
    except ValueError:
        return url


def _same_file_key(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.lower()
    return f"{parts.netloc}{parts.path}".lower()


def unique_image_urls(urls: list[str], *, base_scheme: str) -> list[str]:
    """Normalised URLs in order, without repeats (the same file with another ``?v=`` counts once)."""
    return [url for url, _ in unique_images([(url, "") for url in urls], base_scheme=base_scheme)]


def unique_images(images: list[tuple[str, str]], *, base_scheme: str) -> list[tuple[str, str]]:
    """(normalised URL, colour) in order, without repeats of a file; a repeat may name the colour the
    first mention left out."""
    found: dict[str, tuple[str, str]] = {}
    for url, colour in images:
        if not url:
            continue
        normal = normalise_image_url(url, base_scheme=base_scheme)
        key = _same_file_key(normal)
        if key not in found:
            found[key] = (normal, colour)
        elif colour and not found[key][1]:
            found[key] = (found[key][0], colour)
    return list(found.values())
