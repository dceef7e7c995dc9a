"""Shopify storefronts through their public ``/products.json`` (no HTML scraping needed)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
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
    json_objects,
    parse_price,
    resolve_url,
    unique_images,
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


def sound_items(entries: list[Any], url: str, key: str) -> JsonPage:
    """The object entries of a listing that nest no deeper than MAX_DEPTH; the others are problems."""
    items = [entry for entry in entries if isinstance(entry, dict) and not too_deep(entry)]
    dropped = len(entries) - len(items)
    problems = [f"{url}: {dropped} of {len(entries)} {key} entries malformed (not objects, or nested "
                f"deeper than {MAX_DEPTH} levels), skipped"] if dropped else []
    return JsonPage(items, len(entries), problems)


def salvage_items(text: str, key: str | None, marker: str = "handle") -> list[dict[str, Any]]:
    """The whole ``{"id": ..., "<marker>": ...}`` objects of a listing whose JSON breaks somewhere.

    The listing is the page's ``key`` list, or with ``key=None`` the page itself (a top-level list, as
    WooCommerce's Store API answers). Each object is decoded on its own; past a broken one, decoding resumes
    at the next ``{"id"`` that decodes to an object with a ``marker`` key (Shopify products' handle:
    variants and images have none).
    """
    decoder = json.JSONDecoder(strict=False)
    opening = re.search(rf'"{re.escape(key)}"\s*:\s*\[', text) if key else re.match(r"\s*\[", text)
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
        if isinstance(item, dict) and marker in item and not too_deep(item):
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


# The key every whole item of a listing has (what salvaging broken JSON looks for), by listing key.
SALVAGE_MARKERS = {"products": "handle"}


def parse_json_list(body: bytes, url: str, key: str | None, *, marker: str | None = None) -> JsonPage:
    """The ``key`` list of a JSON page (``key=None``: the page is the list); MalformedPageError saying why
    when the page isn't one.

    Broken JSON is a MalformedPageError carrying the listing's whole items, those with a ``marker`` key
    (default: SALVAGE_MARKERS; :func:`salvage_items`); entries that are not objects, or nest too deep, are
    skipped and reported.
    """
    # utf-8-sig: a byte-order mark before the JSON is no syntax error.
    text = body.decode("utf-8-sig", errors="replace")
    try:
        # Control characters allowed (real catalogs put them in body_html); entries' depth is checked below.
        data = loads_limited(text, max_depth=None)
    except (json.JSONDecodeError, JsonTooDeepError) as err:
        why = f"{err.msg} at char {err.pos}" if isinstance(err, json.JSONDecodeError) else str(err)
        marker = marker or SALVAGE_MARKERS.get(key or "")
        salvaged = salvage_items(text, key, marker) if marker else []
        # The count of entries is unknown: a salvaged page is never taken for the last one.
        salvage = JsonPage(salvaged, listed=max(len(salvaged), SALVAGED_LISTED), problems=[
            f"{url}: broken JSON ({why}); kept the {len(salvaged)} whole products on it"]) if salvaged else None
        raise MalformedPageError(f"{url}: not JSON ({why})", salvage) from err
    entries = data if key is None else data.get(key) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise MalformedPageError(f"{url}: JSON without a {key!r} list" if key else f"{url}: JSON that is not a list")
    return sound_items(entries, url, key or "listing")


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

    def read_page(self, url: str, fetch: Callable[[], JsonPage]) -> JsonPage | None:
        """A listing page ``fetch``ed (read again while malformed); its whole products when re-reading did
        not mend broken JSON; None for a bad page (logged and recorded). A block propagates."""
        try:
            return self.read_with_reread(url, fetch)
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
        """Items page by page until a short page (:meth:`page_through`); stops at Shopify's 25,000-item
        paging cap. ``outcome`` says how it ended. A block (HostBlockedError) propagates."""
        outcome = outcome if outcome is not None else ListingOutcome()
        yield from self.page_through(
            listing_url, self._page_urls(listing_url, outcome),
            lambda url: self.read_page(url, lambda: fetch_json_list(self.client, url, key, self.frontier)),
            lambda _, listed: listed.listed < self.page_size, outcome)

    def _page_urls(self, listing_url: str, outcome: ListingOutcome) -> Iterator[str]:
        """The listing's page URLs up to crawl.max_pages, or to Shopify's paging cap (``outcome.capped``)."""
        for page in range(1, self.max_pages + 1):
            if page * self.page_size > SHOPIFY_PAGING_CAP:
                log.warning("%s: reached Shopify's %d-item paging cap", listing_url, SHOPIFY_PAGING_CAP)
                outcome.capped = True
                return
            yield listing_page_url(listing_url, page=page, limit=self.page_size)

    def page_through(
        self, listing_url: str, page_urls: Iterable[str], read: Callable[[str], JsonPage | None],
        is_last: Callable[[int, JsonPage], bool], outcome: ListingOutcome,
    ) -> Iterator[dict[str, Any]]:
        """Items of ``page_urls`` in order until ``is_last(page number, page)``; bad pages (``read`` gives
        None) are skipped, having been logged and recorded.

        Any platform's paged JSON listing: three bad pages in a row end it, and so does a page that only
        repeats earlier ones (a server ignoring the paging). A block (HostBlockedError) propagates, the site
        is stopped, not fought.
        """
        bad_pages = bad_in_a_row = 0
        seen: set[str] = set()
        for page, url in enumerate(page_urls, start=1):
            outcome.pages += 1
            listed = read(url)
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
            if is_last(page, listed):
                outcome.complete = bad_pages == 0
                return
        if not outcome.capped:
            log.warning("%s: stopped at crawl.max_pages=%d; raise it to crawl further", listing_url, self.max_pages)


def _item_key(item: dict[str, Any]) -> str:
    """What tells a listing's items apart: an id (Magento's uid), a handle or a SKU, else the item itself."""
    key = item.get("id") or item.get("uid") or item.get("handle") or item.get("sku")
    return str(key or json.dumps(item, sort_keys=True, default=str))


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
    for item in json_objects(raw.get("variants")):
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


_COLOUR_OPTION = re.compile(r"colou?r|shade", re.IGNORECASE)


def variant_colours(raw: dict[str, Any]) -> dict[str, str]:
    """Variant id → its colour, from the product's "Color"/"Colour"/"Shade" option ({} when it has none)."""
    names = [str(opt.get("name") or "") for opt in json_objects(raw.get("options"))]
    slot = next((i for i, name in enumerate(names) if _COLOUR_OPTION.search(name)), None)
    if slot is None or slot > 2:
        return {}
    key = f"option{slot + 1}"
    return {str(v["id"]): str(v[key]).strip() for v in json_objects(raw.get("variants"))
            if v.get("id") is not None and v.get(key)}


def _image_colour(image: Any, colours: dict[str, str], featured: dict[str, str]) -> str:
    """The colour an image shows: that of the variants its ``variant_ids`` (or their ``featured_image``) name,
    when they agree on one."""
    if not isinstance(image, dict):
        return ""
    ids = image.get("variant_ids") if isinstance(image.get("variant_ids"), list) else []
    named = {colours[str(i)] for i in ids if str(i) in colours}
    named |= {featured[str(image.get("id"))]} if str(image.get("id")) in featured else set()
    return named.pop() if len(named) == 1 else ""


def image_colours(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """(image URL, the colour it shows or "") for ``images[]`` in order (``src``, or the URL itself as some
    themes list it; never other JSON): which image shows which colour, from ``images[].variant_ids`` and
    the variants' ``featured_image``."""
    colours = variant_colours(raw)
    featured = {str(v["featured_image"].get("id")): colours[str(v.get("id"))] for v in json_objects(raw.get("variants"))
                if isinstance(v.get("featured_image"), dict) and str(v.get("id")) in colours}
    entries = raw.get("images") if isinstance(raw.get("images"), list) else []
    pairs = [(entry.get("src") if isinstance(entry, dict) else entry, _image_colour(entry, colours, featured))
             for entry in entries]
    return [(src, colour) for src, colour in pairs if isinstance(src, str) and src]


def normalise_shopify_product(raw: dict[str, Any], *, site: str, base_url: str, currency: str, crawled_at: str) -> ProductRecord:
    """Turn one products.json product into a :class:`ProductRecord`."""
    if not isinstance(raw.get("id"), (int, str)) or isinstance(raw["id"], bool) or raw["id"] == "":
        raise ValueError(f"no product id (id={raw.get('id')!r:.40})")
    scheme = urlsplit(base_url).scheme or "https"
    variants = _variants(raw)
    images = unique_images([(resolve_url(base_url, src), colour) for src, colour in image_colours(raw)],
                           base_scheme=scheme)
    prices = [v.price for v in variants if v.price is not None]
    options = {
        str(opt.get("name", "")): [str(v) for v in opt["values"]] if isinstance(opt.get("values"), list) else []
        for opt in json_objects(raw.get("options"))
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
        image_urls=[url for url, _ in images],
        crawled_at=crawled_at,
        source=SOURCE,
        vendor=str(raw.get("vendor") or ""),
        options=options,
        variants=variants,
        handle=str(raw.get("handle") or ""),
        skus=distinct(v.sku for v in variants),
        image_colours=[colour.lower() for _, colour in images] if any(colour for _, colour in images) else [],
    )
