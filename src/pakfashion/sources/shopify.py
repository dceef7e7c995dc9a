"""Shopify storefronts through their public ``/products.json`` (no HTML scraping needed)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from pakfashion.sources.record import (
    ProductRecord,
    Variant,
    html_to_text,
    parse_price,
    unique_image_urls,
)
from pakfashion.web import FetchError, HostBlockedError, PoliteClient

log = logging.getLogger(__name__)

SOURCE = "shopify_json"
# Shopify answers 400 past page*limit = 25,000.
SHOPIFY_PAGING_CAP = 25_000
MAX_BAD_PAGES_IN_A_ROW = 3


def products_page_url(base_url: str, *, page: int, limit: int) -> str:
    return f"{base_url.rstrip('/')}/products.json?limit={limit}&page={page}"


def parse_products_page(body: bytes, url: str) -> list[dict[str, Any]]:
    """The ``products`` list of a products.json page; FetchError with the reason when it isn't one."""
    try:
        # strict=False: real catalogs put raw control characters in body_html.
        data = json.loads(body.decode("utf-8", errors="replace"), strict=False)
    except json.JSONDecodeError as err:
        raise FetchError(f"{url}: not JSON ({err.msg} at char {err.pos})") from err
    if not isinstance(data, dict) or not isinstance(data.get("products"), list):
        raise FetchError(f"{url}: JSON without a 'products' list")
    return [p for p in data["products"] if isinstance(p, dict)]


def looks_like_shopify(client: PoliteClient, base_url: str) -> bool:
    """True when ``/products.json`` answers a Shopify-shaped JSON page."""
    url = products_page_url(base_url, page=1, limit=1)
    try:
        resp = client.get(url)
    except FetchError as err:
        log.info("not Shopify (%s)", err)
        return False
    if resp.status != 200:
        return False
    try:
        parse_products_page(resp.body, url)
    except FetchError:
        return False
    return True


def fetch_products_page(client: PoliteClient, url: str) -> list[dict[str, Any]]:
    """One products.json page's products; FetchError for a non-200 or malformed page."""
    resp = client.get(url)
    if resp.status != 200:
        raise FetchError(f"{url}: HTTP {resp.status}")
    return parse_products_page(resp.body, url)


def iter_shopify_products(
    client: PoliteClient, base_url: str, *, page_size: int, max_pages: int, errors: list[str]
) -> Iterator[dict[str, Any]]:
    """Yield raw products page by page until a short page, the page limit or Shopify's paging cap.

    A bad page is logged, appended to ``errors`` and skipped; three bad pages in a row end the
    listing. A block (HostBlockedError) propagates: the site is stopped, not fought.
    """
    failures_in_a_row = 0
    for page in range(1, max_pages + 1):
        if page * page_size > SHOPIFY_PAGING_CAP:
            log.warning("%s: reached Shopify's %d-product paging cap", base_url, SHOPIFY_PAGING_CAP)
            return
        url = products_page_url(base_url, page=page, limit=page_size)
        try:
            products = fetch_products_page(client, url)
        except HostBlockedError:
            raise
        except FetchError as err:
            log.error("skipping page %d: %s", page, err)
            errors.append(str(err))
            failures_in_a_row += 1
            if failures_in_a_row >= MAX_BAD_PAGES_IN_A_ROW:
                log.error("%s: %d bad pages in a row, stopping", base_url, failures_in_a_row)
                return
            continue
        failures_in_a_row = 0
        log.info("%s page %d: %d products", base_url, page, len(products))
        yield from products
        if len(products) < page_size:
            return
    log.warning("%s: stopped at crawl.max_pages=%d; raise it to crawl further", base_url, max_pages)


def _variants(raw: dict[str, Any]) -> list[Variant]:
    variants = []
    for item in raw.get("variants") or []:
        options = [str(item[k]) for k in ("option1", "option2", "option3") if item.get(k)]
        variants.append(
            Variant(
                title=str(item.get("title") or ""),
                price=parse_price(item.get("price")),
                compare_at_price=parse_price(item.get("compare_at_price")),
                available=item.get("available"),
                options=options,
            )
        )
    return variants


def _tags(value: Any) -> list[str]:
    # The public API gives a list; the admin API (and some themes) a comma-separated string.
    items = value.split(",") if isinstance(value, str) else (value or [])
    return [str(tag).strip() for tag in items if str(tag).strip()]


def normalise_shopify_product(raw: dict[str, Any], *, site: str, base_url: str, currency: str, crawled_at: str) -> ProductRecord:
    """Turn one products.json product into a :class:`ProductRecord`."""
    scheme = urlsplit(base_url).scheme or "https"
    variants = _variants(raw)
    prices = [v.price for v in variants if v.price is not None]
    options = {
        str(opt.get("name", "")): [str(v) for v in opt.get("values") or []]
        for opt in raw.get("options") or []
        if isinstance(opt, dict)
    }
    return ProductRecord(
        site=site,
        product_id=str(raw["id"]),
        product_url=f"{base_url.rstrip('/')}/products/{raw.get('handle', raw['id'])}",
        title=str(raw.get("title") or "").strip(),
        description=html_to_text(str(raw.get("body_html") or "")),
        category=str(raw.get("product_type") or "").strip(),
        tags=_tags(raw.get("tags")),
        price=min(prices) if prices else None,
        currency=currency,
        image_urls=unique_image_urls(
            [str(img.get("src") or "") for img in raw.get("images") or [] if isinstance(img, dict)],
            base_scheme=scheme,
        ),
        crawled_at=crawled_at,
        source=SOURCE,
        vendor=str(raw.get("vendor") or ""),
        options=options,
        variants=variants,
    )
