"""Shopify storefronts through their public ``/products.json`` (no HTML scraping needed)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pakfashion.common.jsontext import (
    MAX_DEPTH,
    JsonTooDeepError,
    loads_limited,
    too_deep,
)
from pakfashion.crawling.record import (
    ProductRecord,
    Variant,
    distinct,
    html_to_text,
    parse_price,
    resolve_url,
    unique_image_urls,
)
from pakfashion.web import FetchError, HostBlockedError, PoliteClient, Response
from pakfashion.web.frontier import Frontier
from pakfashion.web.robots import host_key

log = logging.getLogger(__name__)
T = TypeVar("T")

SOURCE = "shopify_json"
# Shopify answers 400 past page*limit = 25,000.
SHOPIFY_PAGING_CAP = 25_000
MAX_BAD_PAGES_IN_A_ROW = 3
# What a salvaged page counts as listing: it is never taken for the short, last page.
SALVAGED_LISTED = 1_000_000


class MalformedPageError(FetchError):
    """A page arrived but is not the JSON listing it should be (truncated, HTML, wrong shape).

    ``salvage`` holds the whole products of a broken listing, used once re-reading did not mend it.
    """

    def __init__(self, message: str, salvage: JsonPage | None = None) -> None:
        super().__init__(message)
        self.salvage = salvage


def listing_page_url(listing_url: str, *, page: int, limit: int) -> str:
    """A page of a JSON listing: ``<base>/products.json`` or ``<base>/collections/<c>/products.json``."""
    return f"{listing_url}?limit={limit}&page={page}"


@dataclass(frozen=True)
class JsonPage:
    """The items of one JSON listing page, how many entries it listed, and what was wrong with it."""

    items: list[dict[str, Any]]
    # Entries in the page's list, sound or not: a page is "short" (the last) by this, not by ``items``.
    listed: int
    problems: list[str] = field(default_factory=list)

    def to_frontier(self) -> dict[str, Any]:
        return {"items": self.items, "listed": self.listed, "problems": self.problems}

    @classmethod
    def from_frontier(cls, payload: Any) -> JsonPage:
        # Frontiers written before pages kept their counts hold the item list alone.
        if isinstance(payload, list):
            return cls(payload, len(payload))
        return cls(payload["items"], payload["listed"], payload.get("problems", []))


def _sound_items(entries: list[Any], url: str, key: str) -> JsonPage:
    """The object entries of a listing that nest no deeper than MAX_DEPTH; the others are problems."""
    items = [entry for entry in entries if isinstance(entry, dict) and not too_deep(entry)]
    dropped = len(entries) - len(items)
    problems = [f"{url}: {dropped} of {len(entries)} {key} entries malformed (not objects, or nested "
                f"deeper than {MAX_DEPTH} levels), skipped"] if dropped else []
    return JsonPage(items, len(entries), problems)


def salvage_items(text: str, key: str) -> list[dict[str, Any]]:
    """The whole ``{"id": ..., "handle": ...}`` objects of a listing whose JSON breaks somewhere.

    Each object of the ``key`` list is decoded on its own; past a broken one, decoding resumes at the next
    ``{"id"`` that decodes to an object with a handle (variants and images have none).
    """
    decoder = json.JSONDecoder(strict=False)
    opening = re.search(rf'"{re.escape(key)}"\s*:\s*\[', text)
    if opening is None:
        return []
    items, pos = [], opening.end()
    while pos < len(text):
        pos = _ITEM_GAP.match(text, pos).end()
        if pos >= len(text) or text[pos] == "]":
            break
        try:
            item, end = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError):
            item, end = None, pos + 1
        if isinstance(item, dict) and "handle" in item and not too_deep(item):
            items.append(item)
            pos = end
            continue
        found = _ITEM_START.search(text, end)
        if found is None:
            break
        pos = found.start()
    return items


_ITEM_GAP = re.compile(r"[\s,]*")
_ITEM_START = re.compile(r'\{\s*"id"\s*:')


def parse_json_list(body: bytes, url: str, key: str) -> JsonPage:
    """The ``key`` list of a JSON page; MalformedPageError saying why when the page isn't one.

    Broken JSON is a MalformedPageError carrying the listing's whole products (:func:`salvage_items`);
    entries that are not objects, or nest too deep, are skipped and reported.
    """
    # utf-8-sig: a byte-order mark before the JSON is no syntax error.
    text = body.decode("utf-8-sig", errors="replace")
    try:
        # Control characters allowed (real catalogs put them in body_html); entries' depth is checked below.
        data = loads_limited(text, max_depth=None)
    except (json.JSONDecodeError, JsonTooDeepError) as err:
        why = f"{err.msg} at char {err.pos}" if isinstance(err, json.JSONDecodeError) else str(err)
        salvaged = salvage_items(text, key) if key == "products" else []
        # The count of entries is unknown: a salvaged page is never taken for the last one.
        salvage = JsonPage(salvaged, listed=max(len(salvaged), SALVAGED_LISTED), problems=[
            f"{url}: broken JSON ({why}); kept the {len(salvaged)} whole products on it"]) if salvaged else None
        raise MalformedPageError(f"{url}: not JSON ({why})", salvage) from err
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise MalformedPageError(f"{url}: JSON without a {key!r} list")
    return _sound_items(data[key], url, key)


def get_json_list(client: PoliteClient, url: str, key: str) -> JsonPage:
    """The ``key`` list of a JSON page fetched now; FetchError when it isn't a 200 JSON listing."""
    resp = client.get(url)
    if resp.status != 200:
        raise FetchError(f"{url}: HTTP {resp.status}")
    return parse_json_list(resp.body, url, key)


def fetch_json_list(client: PoliteClient, url: str, key: str, frontier: Frontier) -> JsonPage:
    """A JSON listing page, from the frontier when a previous (killed) run already finished it."""
    done = frontier.get(url)
    if done is not None:
        return JsonPage.from_frontier(done[1])
    page = get_json_list(client, url, key)
    frontier.put(url, "ok", page.to_frontier())
    return page


def fetch_product_ids(client: PoliteClient, url: str, frontier: Frontier) -> list[str]:
    """The product ids of a ``products.json`` page; only the ids are kept in the frontier."""
    done = frontier.get(url)
    if done is not None:
        status, payload = done
        # "ok": the page was read whole by a listing of products (catalogues past the paging cap).
        if status == "ok":
            return [str(item["id"]) for item in JsonPage.from_frontier(payload).items if "id" in item]
        return list(payload)
    page = get_json_list(client, url, "products")
    if page.problems:
        # Membership counts only from whole pages: a damaged one leaves the collection incomplete.
        raise MalformedPageError("; ".join(page.problems))
    ids = [str(item["id"]) for item in page.items if item.get("id") is not None]
    frontier.put(url, "ids", ids)
    return ids


# Response headers only Shopify's storefront sends.
SHOPIFY_HEADERS = ("x-shopid", "x-shopify-stage", "x-sorting-hat-shopid", "x-shardid", "x-storefront-renderer-rendered")
# The comment Shopify puts at the top of every store's generated robots.txt.
SHOPIFY_ROBOTS_COMMENT = re.compile(r"^#.*\bshopify\b", re.IGNORECASE | re.MULTILINE)


def shopify_signal(resp: Response | None, robots_text: str) -> str:
    """The Shopify marker among a response's headers or robots.txt's comments, "" when there is none."""
    for name in SHOPIFY_HEADERS:
        if resp is not None and resp.header(name):
            return f"response header {name}"
    if resp is not None and "shopify" in resp.header("powered-by").lower():
        return "response header powered-by: Shopify"
    if SHOPIFY_ROBOTS_COMMENT.search(robots_text):
        return "robots.txt comment naming Shopify"
    return ""


def looks_like_json_listing(resp: Response) -> bool:
    """Whether a response is meant as JSON (then a parse error is a broken listing, not another platform)."""
    return ("json" in resp.content_type or resp.body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")
            or b'"products"' in resp.body[:65536])


def shopify_evidence(shop: ShopifyCrawl, base_url: str) -> str:
    """Why the site is taken for Shopify ("" when it is not): ``/products.json`` answers a product listing,
    or, when that page is malformed even when read again, the store's headers or robots.txt say Shopify."""
    url = listing_page_url(f"{base_url.rstrip('/')}/products.json", page=1, limit=1)
    seen: list[Response] = []

    def probe() -> JsonPage:
        resp = shop.client.get(url)
        seen.append(resp)
        if resp.status != 200:
            raise FetchError(f"{url}: HTTP {resp.status}")
        if not looks_like_json_listing(resp):
            raise FetchError(f"{url}: not a JSON listing ({resp.content_type or 'no content type'})")
        return parse_json_list(resp.body, url, "products")

    try:
        shop.read_with_reread(url, probe)
        return "products.json listing"
    except MalformedPageError as err:
        if err.salvage is not None:
            shop.errors.append(f"{err} (whole products on it: the platform detected by them)")
            return "products.json listing (broken JSON, whole products on it)"
        signal = shopify_signal(seen[-1] if seen else None, shop.client.robots.snapshot(base_url).text)
        if signal:
            log.warning("%s; taking the site for Shopify by its %s", err, signal)
            shop.errors.append(f"{err} (platform detected by {signal})")
            return f"{signal} (products.json malformed)"
        log.info("not Shopify: %s", err)
    except HostBlockedError:
        raise
    except FetchError as err:
        log.info("not Shopify: %s", err)
    return ""


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

    def _listing_page(self, url: str, key: str) -> JsonPage | None:
        """A listing page; its whole products when re-reading did not mend broken JSON; None for a bad
        page (logged and recorded). A block propagates."""
        try:
            return self.read_with_reread(url, lambda: fetch_json_list(self.client, url, key, self.frontier))
        except HostBlockedError:
            raise
        except MalformedPageError as err:
            if err.salvage is not None:
                log.warning("%s; keeping its %d whole products", err, len(err.salvage.items))
                self.frontier.put(url, "ok", err.salvage.to_frontier())
                return err.salvage
            failure: FetchError = err
        except FetchError as err:
            failure = err
        log.error("skipping a page: %s", failure)
        self.errors.append(str(failure))
        return None

    def listing(
        self, listing_url: str, key: str = "products", outcome: ListingOutcome | None = None
    ) -> Iterator[dict[str, Any]]:
        """Items page by page until a short page; bad pages are logged, recorded and skipped.

        Three bad pages in a row end the listing. Stops at Shopify's 25,000-item paging cap; ``outcome``
        says how it ended. A block (HostBlockedError) propagates, the site is stopped, not fought.
        """
        outcome = outcome if outcome is not None else ListingOutcome()
        bad_pages = bad_in_a_row = 0
        seen: set[str] = set()
        for page in range(1, self.max_pages + 1):
            if page * self.page_size > SHOPIFY_PAGING_CAP:
                log.warning("%s: reached Shopify's %d-item paging cap", listing_url, SHOPIFY_PAGING_CAP)
                outcome.capped = True
                return
            url = listing_page_url(listing_url, page=page, limit=self.page_size)
            outcome.pages += 1
            listed = self._listing_page(url, key)
            if listed is None:
                bad_pages += 1
                bad_in_a_row += 1
                if bad_in_a_row >= MAX_BAD_PAGES_IN_A_ROW:
                    log.error("%s: %d bad pages in a row, stopping this listing", listing_url, bad_in_a_row)
                    return
                continue
            bad_in_a_row = 0
            self.errors.extend(listed.problems)
            bad_pages += bool(listed.problems)
            log.info("%s page %d: %d items", listing_url, page, len(listed.items))
            ids = {_item_key(item) for item in listed.items}
            if page > 1 and listed.items and ids <= seen:
                log.error("%s page %d only repeats earlier pages (the server ignores paging): stopping", listing_url, page)
                self.errors.append(f"{url}: repeats earlier pages; the listing was stopped there")
                return
            seen |= ids
            yield from listed.items
            if listed.listed < self.page_size:
                outcome.complete = bad_pages == 0
                return
        log.warning("%s: stopped at crawl.max_pages=%d; raise it to crawl further", listing_url, self.max_pages)


def _item_key(item: dict[str, Any]) -> str:
    return str(item.get("id") or item.get("handle") or json.dumps(item, sort_keys=True, default=str)[:200])


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


def _objects(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON list (anything else, or a list of non-objects, gives none)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _variants(raw: dict[str, Any]) -> list[Variant]:
    variants = []
    for item in _objects(raw.get("variants")):
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
    # The public API gives a list; the admin API (and some themes) a comma-separated string; a broken
    # store a lone number.
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list):
        items = [tag for tag in value if isinstance(tag, (str, int, float))]
    else:
        items = [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []
    return [str(tag).strip() for tag in items if str(tag).strip()]


def _image_sources(value: Any) -> list[str]:
    """``images[].src`` (some themes list the URLs themselves); URLs only, never other JSON."""
    entries = value if isinstance(value, list) else []
    sources = [entry.get("src") if isinstance(entry, dict) else entry for entry in entries]
    return [source for source in sources if isinstance(source, str) and source]


def normalise_shopify_product(raw: dict[str, Any], *, site: str, base_url: str, currency: str, crawled_at: str) -> ProductRecord:
    """Turn one products.json product into a :class:`ProductRecord`."""
    if not isinstance(raw.get("id"), (int, str)) or isinstance(raw["id"], bool) or raw["id"] == "":
        raise ValueError(f"no product id (id={raw.get('id')!r:.40})")
    scheme = urlsplit(base_url).scheme or "https"
    variants = _variants(raw)
    prices = [v.price for v in variants if v.price is not None]
    options = {
        str(opt.get("name", "")): [str(v) for v in opt["values"]] if isinstance(opt.get("values"), list) else []
        for opt in _objects(raw.get("options"))
    }
    return ProductRecord(
        site=site,
        product_id=str(raw["id"]),
        product_url=f"{base_url.rstrip('/')}/products/{raw.get('handle') or raw['id']}",
        title=str(raw.get("title") or "").strip(),
        description=html_to_text(str(raw.get("body_html") or "")),
        category=str(raw.get("product_type") or "").strip(),
        tags=_tags(raw.get("tags")),
        price=min(prices) if prices else None,
        currency=currency,
        image_urls=unique_image_urls([resolve_url(base_url, src) for src in _image_sources(raw.get("images"))],
                                     base_scheme=scheme),
        crawled_at=crawled_at,
        source=SOURCE,
        vendor=str(raw.get("vendor") or ""),
        options=options,
        variants=variants,
        handle=str(raw.get("handle") or ""),
        skus=distinct(v.sku for v in variants),
    )
