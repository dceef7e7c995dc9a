"""Shopify storefronts through their public ``/products.json`` (no HTML scraping needed)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
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
from pakfashion.web.frontier import Frontier
from pakfashion.web.robots import host_key

log = logging.getLogger(__name__)

SOURCE = "shopify_json"
# Shopify answers 400 past page*limit = 25,000.
SHOPIFY_PAGING_CAP = 25_000
MAX_BAD_PAGES_IN_A_ROW = 3


class MalformedPageError(FetchError):
    """A page arrived but is not the JSON listing it should be (truncated, HTML, wrong shape)."""


def listing_page_url(listing_url: str, *, page: int, limit: int) -> str:
    """A page of a JSON listing: ``<base>/products.json`` or ``<base>/collections/<c>/products.json``."""
    return f"{listing_url}?limit={limit}&page={page}"


def parse_json_list(body: bytes, url: str, key: str) -> list[dict[str, Any]]:
    """The ``key`` list of a JSON page; FetchError saying why when the page isn't one."""
    try:
        # strict=False: real catalogs put raw control characters in body_html.
        data = json.loads(body.decode("utf-8", errors="replace"), strict=False)
    except json.JSONDecodeError as err:
        raise MalformedPageError(f"{url}: not JSON ({err.msg} at char {err.pos})") from err
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise MalformedPageError(f"{url}: JSON without a {key!r} list")
    return [item for item in data[key] if isinstance(item, dict)]


def fetch_json_list(client: PoliteClient, url: str, key: str, frontier: Frontier) -> list[dict[str, Any]]:
    """A JSON listing page, from the frontier when a previous (killed) run already finished it."""
    done = frontier.get(url)
    if done is not None:
        return list(done[1])
    resp = client.get(url)
    if resp.status != 200:
        raise FetchError(f"{url}: HTTP {resp.status}")
    items = parse_json_list(resp.body, url, key)
    frontier.put(url, "ok", items)
    return items


def looks_like_shopify(client: PoliteClient, base_url: str) -> bool:
    """True when ``/products.json`` answers a Shopify-shaped JSON page."""
    url = listing_page_url(f"{base_url.rstrip('/')}/products.json", page=1, limit=1)
    try:
        resp = client.get(url)
        if resp.status == 200:
            parse_json_list(resp.body, url, "products")
            return True
    except HostBlockedError:
        raise
    except FetchError as err:
        log.info("not Shopify: %s", err)
    return False


@dataclass
class ShopifyCrawl:
    """Paging state shared by the listings of one site."""

    client: PoliteClient
    frontier: Frontier
    page_size: int
    max_pages: int
    errors: list[str] = field(default_factory=list)
    # Set when the last listing stopped at Shopify's paging cap.
    capped: bool = False
    # Truncated or HTML-instead-of-JSON pages are usually transient (deploys, edge caches): re-read.
    rereads: int = 2

    def _fetch_with_reread(self, url: str, key: str) -> list[dict[str, Any]]:
        """A listing page; a malformed body is read again (after a pause) before it counts as bad."""
        for attempt in range(self.rereads + 1):
            try:
                return fetch_json_list(self.client, url, key, self.frontier)
            except MalformedPageError as err:
                if attempt == self.rereads:
                    raise
                log.warning("%s; reading it again", err)
                self.client.throttle.back_off(host_key(url), _reread_pause_s(attempt))
        raise AssertionError("unreachable")

    def listing(self, listing_url: str, key: str = "products") -> Iterator[dict[str, Any]]:
        """Items page by page until a short page; bad pages are logged, recorded and skipped.

        Three bad pages in a row end the listing. Stops at Shopify's 25,000-item paging cap and
        sets ``capped``; a block (HostBlockedError) propagates, the site is stopped, not fought.
        """
        self.capped = False
        bad_in_a_row = 0
        for page in range(1, self.max_pages + 1):
            if page * self.page_size > SHOPIFY_PAGING_CAP:
                log.warning("%s: reached Shopify's %d-item paging cap", listing_url, SHOPIFY_PAGING_CAP)
                self.capped = True
                return
            url = listing_page_url(listing_url, page=page, limit=self.page_size)
            try:
                items = self._fetch_with_reread(url, key)
            except HostBlockedError:
                raise
            except FetchError as err:
                log.error("skipping page %d: %s", page, err)
                self.errors.append(str(err))
                bad_in_a_row += 1
                if bad_in_a_row >= MAX_BAD_PAGES_IN_A_ROW:
                    log.error("%s: %d bad pages in a row, stopping this listing", listing_url, bad_in_a_row)
                    return
                continue
            bad_in_a_row = 0
            log.info("%s page %d: %d items", listing_url, page, len(items))
            yield from items
            if len(items) < self.page_size:
                return
        log.warning("%s: stopped at crawl.max_pages=%d; raise it to crawl further", listing_url, self.max_pages)


def _reread_pause_s(attempt: int) -> float:
    return 0.5 * (2**attempt)


def iter_shopify_products(crawl: ShopifyCrawl, base_url: str) -> Iterator[dict[str, Any]]:
    """Every product of the store; past the 25,000 paging cap, collection by collection.

    Products listed in several collections come more than once: callers de-duplicate by id.
    """
    base = base_url.rstrip("/")
    yield from crawl.listing(f"{base}/products.json")
    if not crawl.capped:
        return
    handles = [str(c.get("handle")) for c in crawl.listing(f"{base}/collections.json", "collections") if c.get("handle")]
    log.info("%s: paging %d collections to get past the cap", base, len(handles))
    for handle in handles:
        yield from crawl.listing(f"{base}/collections/{handle}/products.json")


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
