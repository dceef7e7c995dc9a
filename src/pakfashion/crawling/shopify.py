"""Shopify storefronts through their public ``/products.json`` (no HTML scraping needed)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pakfashion.crawling.record import (
    ProductRecord,
    Variant,
    distinct,
    html_to_text,
    parse_price,
    unique_image_urls,
)
from pakfashion.web import FetchError, HostBlockedError, PoliteClient
from pakfashion.web.frontier import Frontier
from pakfashion.web.robots import host_key

log = logging.getLogger(__name__)
T = TypeVar("T")

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


def get_json_list(client: PoliteClient, url: str, key: str) -> list[dict[str, Any]]:
    """The ``key`` list of a JSON page fetched now; FetchError when it isn't a 200 JSON listing."""
    resp = client.get(url)
    if resp.status != 200:
        raise FetchError(f"{url}: HTTP {resp.status}")
    return parse_json_list(resp.body, url, key)


def fetch_json_list(client: PoliteClient, url: str, key: str, frontier: Frontier) -> list[dict[str, Any]]:
    """A JSON listing page, from the frontier when a previous (killed) run already finished it."""
    done = frontier.get(url)
    if done is not None:
        return list(done[1])
    items = get_json_list(client, url, key)
    frontier.put(url, "ok", items)
    return items


def fetch_product_ids(client: PoliteClient, url: str, frontier: Frontier) -> list[str]:
    """The product ids of a ``products.json`` page; only the ids are kept in the frontier."""
    done = frontier.get(url)
    if done is not None:
        status, payload = done
        # "ok": the page was read whole by a listing of products (catalogues past the paging cap).
        return [str(item["id"]) for item in payload if "id" in item] if status == "ok" else list(payload)
    ids = [str(item["id"]) for item in get_json_list(client, url, "products") if item.get("id") is not None]
    frontier.put(url, "ids", ids)
    return ids


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
class ListingOutcome:
    """How one listing went."""

    pages: int = 0
    # Ended on a short page with no page lost.
    complete: bool = False
    # Stopped at Shopify's paging cap.
    capped: bool = False


@dataclass
class CataloguePaging:
    """Collections paged for their products because the catalogue is past the paging cap."""

    collections: list[dict[str, Any]]
    complete: bool
    # Collection handle → (product ids listed, how its listing went).
    members: dict[str, tuple[list[str], ListingOutcome]] = field(default_factory=dict)


@dataclass
class ShopifyCrawl:
    """Paging state shared by the listings of one site."""

    client: PoliteClient
    frontier: Frontier
    page_size: int
    max_pages: int
    errors: list[str] = field(default_factory=list)
    # Truncated or HTML-instead-of-JSON pages are usually transient (deploys, edge caches): re-read.
    rereads: int = 2
    # Set when the product listing had to page every collection (past the paging cap).
    catalogue: CataloguePaging | None = None

    def read_with_reread(self, url: str, read: Callable[[], T]) -> T:
        """``read()`` a listing page; a malformed body is read again (after a pause) before it counts as bad."""
        for attempt in range(self.rereads + 1):
            try:
                return read()
            except MalformedPageError as err:
                if attempt == self.rereads:
                    raise
                log.warning("%s; reading it again", err)
                self.client.throttle.back_off(host_key(url), _reread_pause_s(attempt))
        raise AssertionError("unreachable")

    def listing(
        self, listing_url: str, key: str = "products", outcome: ListingOutcome | None = None
    ) -> Iterator[dict[str, Any]]:
        """Items page by page until a short page; bad pages are logged, recorded and skipped.

        Three bad pages in a row end the listing. Stops at Shopify's 25,000-item paging cap; ``outcome``
        says how it ended. A block (HostBlockedError) propagates, the site is stopped, not fought.
        """
        outcome = outcome if outcome is not None else ListingOutcome()
        bad_pages = bad_in_a_row = 0
        for page in range(1, self.max_pages + 1):
            if page * self.page_size > SHOPIFY_PAGING_CAP:
                log.warning("%s: reached Shopify's %d-item paging cap", listing_url, SHOPIFY_PAGING_CAP)
                outcome.capped = True
                return
            url = listing_page_url(listing_url, page=page, limit=self.page_size)
            outcome.pages += 1
            try:
                items = self.read_with_reread(url, lambda: fetch_json_list(self.client, url, key, self.frontier))
            except HostBlockedError:
                raise
            except FetchError as err:
                log.error("skipping page %d: %s", page, err)
                self.errors.append(str(err))
                bad_pages += 1
                bad_in_a_row += 1
                if bad_in_a_row >= MAX_BAD_PAGES_IN_A_ROW:
                    log.error("%s: %d bad pages in a row, stopping this listing", listing_url, bad_in_a_row)
                    return
                continue
            bad_in_a_row = 0
            log.info("%s page %d: %d items", listing_url, page, len(items))
            yield from items
            if len(items) < self.page_size:
                outcome.complete = bad_pages == 0
                return
        log.warning("%s: stopped at crawl.max_pages=%d; raise it to crawl further", listing_url, self.max_pages)


def _reread_pause_s(attempt: int) -> float:
    return 0.5 * (2**attempt)


def iter_shopify_products(crawl: ShopifyCrawl, base_url: str) -> Iterator[dict[str, Any]]:
    """Every product of the store; past the 25,000 paging cap, collection by collection.

    Products listed in several collections come more than once: callers de-duplicate by id. Paging
    collections records their membership in ``crawl.catalogue``.
    """
    base = base_url.rstrip("/")
    products = ListingOutcome()
    yield from crawl.listing(f"{base}/products.json", outcome=products)
    if not products.capped:
        return
    listed = ListingOutcome()
    collections = list(crawl.listing(f"{base}/collections.json", "collections", outcome=listed))
    crawl.catalogue = CataloguePaging(collections, complete=listed.complete)
    handles = [str(c["handle"]) for c in collections if c.get("handle")]
    log.info("%s: paging %d collections to get past the cap", base, len(handles))
    for handle in handles:
        outcome, ids = ListingOutcome(), []
        for item in crawl.listing(f"{base}/collections/{handle}/products.json", outcome=outcome):
            ids.append(str(item.get("id")))
            yield item
        crawl.catalogue.members[handle] = (ids, outcome)


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
                sku=str(item.get("sku") or "").strip(),
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
        handle=str(raw.get("handle") or ""),
        skus=distinct(v.sku for v in variants),
    )
