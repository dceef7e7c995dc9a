"""Magento 2 stores through their public GraphQL ``products`` query, else their sitemaps' product pages.

The query goes over GET (``/graphql?query=…``, cacheable, as Magento serves storefront queries), page by
page (``pageSize``, ``currentPage``; ``page_info.total_pages`` says where it ends). Magento wants ``search`` or
``filter`` in every products query ("Each query must contain a search or filter attribute, or both",
Adobe's ``products`` query reference); the forms that list the whole catalogue are tried in turn:

1. ``search: ""``: since 2.4 an empty term is no search at all (``SearchCriteriaBuilder``: ``$isSearch =
   !empty($args['search'])``), so the catalogue's visible products are listed, in a stable order (Magento
   adds the entity id as the last sort key). 2.3 answered it with an internal error (magento/graphql-ce#720).
2. ``filter: {price: {from: "0"}}``: every priced product, on 2.3 and 2.4 alike.

Pages are sorted by name. A store answering "Maximum pageSize is N" (input limits, 300 by default) is
asked with N; fields an older schema lacks (``Cannot query field "uid"``) are left out of the query. Which
form worked, and what was adjusted, is in crawl.json's ``platform_details``.

The detection probe is page 1 of the listing, kept in the frontier, so detection costs no request of its
own. Where GraphQL is off (404), disallowed by robots.txt (Magento's robots.txt often disallows ``/*?``)
or broken, but the site shows Magento's markers (``X-Magento-*`` headers, ``text/x-magento-init``,
``/static/version…``, ``Magento_*`` modules), the products come from the sitemaps' product pages (JSON-LD).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlencode, urlsplit

from pakfashion.common.errors import describe
from pakfashion.common.jsontext import JsonTooDeepError, loads_limited
from pakfashion.config import Platform
from pakfashion.crawling.adapters import Adapter, CrawlContext, page_records
from pakfashion.crawling.record import (
    ProductRecord,
    Variant,
    distinct,
    html_to_text,
    json_objects,
    now_iso,
    parse_price,
    resolve_url,
    unique_images,
)
from pakfashion.crawling.shopify import (
    SALVAGED_LISTED,
    JsonPage,
    ListingOutcome,
    MalformedPageError,
    ShopifyCrawl,
    looks_like_json_listing,
    salvage_items,
    sound_items,
)
from pakfashion.web import FetchError, HostBlockedError, Response

log = logging.getLogger(__name__)

SOURCE = "magento_graphql"
GRAPHQL_PATH = "/graphql"
# Magento's default product URL suffix, where the store does not say (url_suffix left out of the query).
DEFAULT_URL_SUFFIX = ".html"
# The fields of a product the query asks for (ConfigurableProduct's options and variants included).
ITEM_FIELDS = (
    "__typename uid sku name url_key url_suffix canonical_url stock_status description{html} "
    "short_description{html} price_range{minimum_price{final_price{value currency} "
    "regular_price{value currency}}} media_gallery{url label position disabled} categories{name url_path} "
    "... on ConfigurableProduct{configurable_options{attribute_code label values{label}} "
    "variants{attributes{code label} product{sku stock_status media_gallery{url label position disabled} "
    "price_range{minimum_price{final_price{value} regular_price{value}}}}}}"
)
# Scalar fields an older schema may lack (uid came in 2.4.2, url_suffix in 2.3.4): left out when refused.
OPTIONAL_FIELDS = frozenset({"uid", "url_suffix", "canonical_url", "stock_status"})
# The forms of a products query that list the whole catalogue, tried in this order.
LISTING_FORMS: dict[str, str] = {"empty_search": 'search:""', "price_from_zero": 'filter:{price:{from:"0"}}'}
SORT = "sort:{name:ASC}"
# Codes of the configurable attribute whose values are colours.
COLOUR_CODES = frozenset({"color", "colour", "colors", "colours"})
_UNKNOWN_FIELD = re.compile(r'Cannot query field "(\w+)" on type')
_PAGE_SIZE_CAP = re.compile(r"Maximum pageSize is (\d+)")
_SORT_REFUSED = re.compile(r"ProductAttributeSortInput|ProductSortInput|\bsort\b")
# Response headers and page markup only Magento storefronts carry.
MAGENTO_HEADERS = ("x-magento-cache-debug", "x-magento-tags", "x-magento-cache-id")
MAGENTO_COOKIES = re.compile(r"X-Magento-Vary|mage-cache-sessid|mage-messages|private_content_version")
MAGENTO_MARKUP = re.compile(r"text/x-magento-init|mage-cache-storage|data-mage-init|/static/version\d+/|"
                            r"\bMagento_[A-Z][A-Za-z]+")
MARKUP_BYTES = 1_000_000
# OpenSearch's max_result_window: Magento before 2.4.7 lists no more products than this in one query.
SEARCH_RESULT_WINDOW = 10_000
# Statuses a GraphQL server answers with a JSON body (errors included).
GRAPHQL_STATUSES = frozenset({200, 400})
# Adjustments of one form (page size, left-out fields, no sort) before it counts as refused.
MAX_ADJUSTMENTS = len(OPTIONAL_FIELDS) + 3


_QUERY_PARAM = re.compile(r"\?query=[^\s:]*")
_CURRENT_PAGE = re.compile(r"currentPage%3A(\d+)")


def page_label(url: str) -> str:
    """A GraphQL GET URL as a report line names it: the query elided, its page number said."""
    page = _CURRENT_PAGE.search(url)
    return _QUERY_PARAM.sub("?query=…", url) + (f" (page {page.group(1)})" if page else "")


class GraphQlError(FetchError):
    """The endpoint answered GraphQL ``errors`` instead of products."""

    def __init__(self, url: str, messages: list[str]) -> None:
        super().__init__(f"{page_label(url)}: GraphQL errors: {'; '.join(messages)[:500]}")
        self.messages = messages


class GraphQlUnavailable(FetchError):
    """No form of the products query lists the catalogue (the last response, if any, is kept)."""

    def __init__(self, message: str, response: Response | None) -> None:
        super().__init__(message)
        self.response = response


@dataclass(frozen=True)
class GraphQlPage(JsonPage):
    """A page of the products query: its items and, from ``page_info``, how many pages there are."""

    total_count: int | None = None
    total_pages: int | None = None

    def to_frontier(self) -> dict[str, Any]:
        return {**super().to_frontier(), "total_count": self.total_count, "total_pages": self.total_pages}

    @classmethod
    def from_frontier(cls, payload: Any) -> GraphQlPage:
        page = JsonPage.from_frontier(payload)
        return cls(page.items, page.listed, page.problems, payload.get("total_count"), payload.get("total_pages"))


@dataclass(frozen=True)
class GraphQlListing:
    """How this store's catalogue is listed: the query form and what was adjusted for the store."""

    form: str
    page_size: int
    omitted: tuple[str, ...] = ()
    sorted_by_name: bool = True

    def query(self, page: int) -> str:
        """The products query for page ``page`` (1-based), compact."""
        fields = ITEM_FIELDS
        for name in self.omitted:
            fields = re.sub(rf"(?<=[\s{{]){re.escape(name)}(?=[\s}}])\s?", "", fields)
        arguments = [LISTING_FORMS[self.form], f"pageSize:{self.page_size}", f"currentPage:{page}"]
        arguments += [SORT] if self.sorted_by_name else []
        return (f"{{products({','.join(arguments)}){{total_count "
                f"page_info{{current_page page_size total_pages}} items{{{fields}}}}}}}")

    def url(self, base: str, page: int) -> str:
        """The GET URL of page ``page`` on the store at ``base``."""
        return f"{base}{GRAPHQL_PATH}?{urlencode({'query': self.query(page)})}"

    def adjusted(self, messages: list[str]) -> GraphQlListing | None:
        """The listing changed as the store's errors ask (a smaller page, a field left out, no sort), or
        None when they ask for nothing this listing can change."""
        text = " ".join(messages)
        cap = _PAGE_SIZE_CAP.search(text)
        if cap and 0 < int(cap.group(1)) < self.page_size:
            return replace(self, page_size=int(cap.group(1)))
        unknown = {m.group(1) for m in _UNKNOWN_FIELD.finditer(text)}
        if unknown and unknown <= OPTIONAL_FIELDS - set(self.omitted):
            return replace(self, omitted=(*self.omitted, *sorted(unknown)))
        if self.sorted_by_name and _SORT_REFUSED.search(text) and not unknown:
            return replace(self, sorted_by_name=False)
        return None


@dataclass(frozen=True)
class SitemapFallback:
    """GraphQL does not list the store, but it shows Magento: its sitemaps' product pages are read."""

    marker: str
    reason: str


def _error_messages(data: dict[str, Any]) -> list[str]:
    """The messages of a GraphQL answer's ``errors``."""
    errors = data.get("errors")
    entries = errors if isinstance(errors, list) else [errors] if errors else []
    return [str(e.get("message") if isinstance(e, dict) else e)[:300] for e in entries]


def _count(value: Any) -> int | None:
    """A count from the answer (None unless a whole number of 0 or more)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_graphql_page(body: bytes, url: str) -> GraphQlPage:
    """The items of a products query's answer.

    Raises:
        MalformedPageError: not JSON (carrying the whole items before the break), or no products in it.
        GraphQlError: GraphQL ``errors`` and no products.
    """
    where = page_label(url)
    text = body.decode("utf-8-sig", errors="replace")
    try:
        data = loads_limited(text, max_depth=None)
    except (json.JSONDecodeError, JsonTooDeepError) as err:
        why = f"{err.msg} at char {err.pos}" if isinstance(err, json.JSONDecodeError) else str(err)
        salvaged = salvage_items(text, "items", "sku")
        salvage = GraphQlPage(salvaged, max(len(salvaged), SALVAGED_LISTED), [
            f"{where}: broken JSON ({why}); kept the {len(salvaged)} whole products on it"]) if salvaged else None
        raise MalformedPageError(f"{where}: not JSON ({why})", salvage) from err
    if not isinstance(data, dict):
        raise MalformedPageError(f"{where}: JSON that is not a GraphQL answer")
    messages = _error_messages(data)
    products = data.get("data", {}).get("products") if isinstance(data.get("data"), dict) else None
    if not isinstance(products, dict) or not isinstance(products.get("items"), list):
        if messages:
            raise GraphQlError(url, messages)
        raise MalformedPageError(f"{where}: GraphQL answer without data.products.items")
    page = sound_items(products["items"], where, "items")
    problems = page.problems + ([f"{where}: GraphQL errors beside the products: {'; '.join(messages)[:500]}"]
                                if messages else [])
    info = products.get("page_info") if isinstance(products.get("page_info"), dict) else {}
    return GraphQlPage(page.items, page.listed, problems, _count(products.get("total_count")),
                       _count(info.get("total_pages")))


def graphql_answer(resp: Response, url: str, *, probing: bool) -> GraphQlPage:
    """A response read as a products query's answer.

    A probe takes a body that is not JSON for another platform's page (FetchError); a listing page takes
    it for a broken answer, read again (MalformedPageError).
    """
    if resp.status not in GRAPHQL_STATUSES:
        raise FetchError(f"{page_label(url)}: HTTP {resp.status}")
    if not looks_like_json_listing(resp):
        why = f"{page_label(url)}: not a GraphQL answer ({resp.content_type or 'no content type'}, HTTP {resp.status})"
        raise FetchError(why) if probing or resp.status != 200 else MalformedPageError(why)
    return parse_graphql_page(resp.body, url)


def magento_marker(resp: Response | None, where: str) -> str:
    """The Magento marker among a response's headers, cookies or markup ("" when there is none)."""
    if resp is None:
        return ""
    header = next((name for name in MAGENTO_HEADERS if resp.header(name)), "")
    if header:
        return f"{where}'s header {header}"
    cookie = MAGENTO_COOKIES.search(resp.header("set-cookie"))
    if cookie:
        return f"{where}'s cookie {cookie.group(0)}"
    markup = MAGENTO_MARKUP.search(resp.body[:MARKUP_BYTES].decode("utf-8", errors="replace"))
    return f"{where} names {markup.group(0)}" if markup else ""


class MagentoAdapter(Adapter):
    """The GraphQL products query page by page; the sitemaps' product pages where GraphQL is unusable."""

    platform = Platform.magento

    def __init__(self, ctx: CrawlContext) -> None:
        super().__init__(ctx)
        settings = ctx.settings
        # Shopify's paging machinery (re-reads, salvage, bad pages in a row), on GraphQL pages.
        self.paging = ShopifyCrawl(ctx.client, ctx.frontier, page_size=settings.magento_page_size,
                                   max_pages=settings.max_pages, errors=ctx.errors)
        self.outcome = ListingOutcome()
        self.products = 0
        self._total_pages: int | None = None
        self._total_count: int | None = None
        self._last_response: Response | None = None
        self._state_key = f"magento-listing:{ctx.site.base_url}"

    # -- detection -------------------------------------------------------------------------------

    def evidence(self) -> str:
        choice = self._choice()
        if isinstance(choice, GraphQlListing):
            return f"GraphQL products query ({choice.form})"
        if isinstance(choice, SitemapFallback):
            return f"Magento {choice.marker}; GraphQL unusable ({choice.reason[:200]}): sitemap product pages"
        return ""

    def _choice(self) -> GraphQlListing | SitemapFallback | None:
        """How the store is listed: remembered in the frontier, else probed (and remembered)."""
        done = self.ctx.frontier.get(self._state_key)
        if done is not None:
            status, payload = done
            self.ctx.details.update(payload["details"])
            return GraphQlListing(**payload["listing"]) if status == "graphql" else SitemapFallback(**payload["listing"])
        choice = self._probe()
        if choice is not None:
            details = self._details_of(choice)
            self.ctx.details.update(details)
            status = "graphql" if isinstance(choice, GraphQlListing) else "sitemap"
            self.ctx.frontier.put(self._state_key, status, {"listing": asdict(choice), "details": details})
        return choice

    def _details_of(self, choice: GraphQlListing | SitemapFallback) -> dict[str, Any]:
        """What crawl.json's platform_details say of how the store is listed."""
        if isinstance(choice, SitemapFallback):
            return {**self.ctx.details, "listing": "sitemap", "magento_marker": choice.marker,
                    "graphql_unusable": choice.reason}
        return {**self.ctx.details, "listing": "graphql", "graphql_form": choice.form,
                "page_size": choice.page_size, "graphql_omitted_fields": list(choice.omitted),
                "sorted_by": "name" if choice.sorted_by_name else "store default"}

    def _probe(self) -> GraphQlListing | SitemapFallback | None:
        """Page 1 of each listing form in turn; Magento's markers where none lists products."""
        try:
            return self._graphql_listing()
        except HostBlockedError:
            raise
        except FetchError as err:
            failure = err
        response = failure.response if isinstance(failure, GraphQlUnavailable) else self._last_response
        marker = magento_marker(response, "the GraphQL answer")
        # A plain 404 without markers is a site without /graphql: no request more for the home page.
        if not marker and not (response is not None and response.status in (404, 410)):
            marker = magento_marker(self.ctx.home_page(), "the home page")
        if not marker:
            log.info("not Magento: %s", failure)
            return None
        reason = page_label(str(failure))
        log.warning("%s: Magento (%s), but GraphQL is unusable (%s): reading the sitemaps' product pages",
                    self.ctx.site.name, marker, reason)
        if isinstance(failure, MalformedPageError):
            self.ctx.errors.append(f"{reason} (platform detected by {marker})")
        return SitemapFallback(marker, reason)

    def _graphql_listing(self) -> GraphQlListing:
        """The first listing form whose page 1 lists products, adjusted to the store's limits.

        Raises:
            GraphQlUnavailable: every form answered GraphQL errors.
            FetchError: the endpoint is not there, not allowed, or not GraphQL (a block propagates).
        """
        refused: dict[str, str] = {}
        # What one form learnt of the store (its page size cap, its schema) holds for the next.
        listing = GraphQlListing(next(iter(LISTING_FORMS)), self.ctx.settings.magento_page_size)
        for form in LISTING_FORMS:
            listing, refusal = self._try_form(replace(listing, form=form))
            if refusal is None:
                if refused:
                    self.ctx.details["graphql_forms_refused"] = refused
                return listing
            refused[form] = refusal
        raise GraphQlUnavailable(f"{self.ctx.base}{GRAPHQL_PATH}: no products query form answered: {refused}",
                                 self._last_response)

    def _try_form(self, listing: GraphQlListing) -> tuple[GraphQlListing, str | None]:
        """``listing`` as adjusted until its page 1 lists products (None), or why the store refuses it."""
        for _ in range(MAX_ADJUSTMENTS):
            try:
                self._first_page(listing)
                return listing, None
            except GraphQlError as err:
                adjusted = listing.adjusted(err.messages)
                if adjusted is None:
                    return listing, "; ".join(err.messages)[:300]
                log.info("%s: %s; asking again with %s", self.ctx.site.name, err, adjusted)
                listing = adjusted
        return listing, f"still refused after {MAX_ADJUSTMENTS} adjustments"

    def _first_page(self, listing: GraphQlListing) -> None:
        """Page 1 of ``listing`` into the frontier (its whole products when re-reading left it broken)."""
        url = listing.url(self.ctx.base, 1)
        try:
            self.paging.read_with_reread(url, lambda: self._fetch(url, probing=True))
        except MalformedPageError as err:
            if err.salvage is None:
                raise
            # The listing reports the page's loss (its problems) when it reads it from the frontier.
            log.warning("%s; the platform detected by its %d whole products", err, len(err.salvage.items))
            self.ctx.frontier.put(url, "ok", err.salvage.to_frontier())

    def _fetch(self, url: str, *, probing: bool = False) -> GraphQlPage:
        """A page of the products query, from the frontier when a previous (killed) run finished it."""
        done = self.ctx.frontier.get(url)
        if done is not None:
            return GraphQlPage.from_frontier(done[1])
        # Refused, disallowed or failing after retries: no answer to look for markers in.
        self._last_response = None
        resp = self.ctx.client.get(url)
        self._last_response = resp
        page = graphql_answer(resp, url, probing=probing)
        self.ctx.frontier.put(url, "ok", page.to_frontier())
        return page

    # -- listing ---------------------------------------------------------------------------------

    def records(self) -> Iterator[ProductRecord]:
        choice = self._choice()
        if not isinstance(choice, GraphQlListing):
            yield from self._sitemap_records()
            return
        site, base = self.ctx.site, self.ctx.base
        for raw in self._items(choice):
            try:
                record = normalise_magento_product(raw, site=site.name, base_url=base, currency=site.currency,
                                                   crawled_at=now_iso())
            except Exception as err:  # noqa: BLE001 (one product's shape must not cost the others)
                self.ctx.errors.append(f"product {str(raw.get('sku'))[:40]!r}: malformed ({describe(err)})")
                continue
            self.products += 1
            yield record
        self._check_total()

    def _sitemap_records(self) -> Iterator[ProductRecord]:
        """The products of the sitemaps' product pages (JSON-LD, else Open Graph)."""
        self.ctx.details.setdefault("listing", "sitemap")
        urls = self.ctx.pages.product_page_urls()
        if not urls:
            self.ctx.errors.append(f"{self.ctx.base}: GraphQL unusable and the sitemaps list no product pages")
        for record in page_records(self.ctx, urls):
            self.products += 1
            yield record

    def _items(self, listing: GraphQlListing) -> Iterator[dict[str, Any]]:
        """Every item of the listing, page by page (a killed run resumes from its frontier)."""
        listing_url = f"{self.ctx.base}{GRAPHQL_PATH}"
        yield from self.paging.page_through(
            listing_url, self._page_urls(listing), self._read_page,
            lambda page, listed: self._is_last(page, listed, listing), self.outcome)

    def _page_urls(self, listing: GraphQlListing) -> Iterator[str]:
        """Page URLs up to the last page the store counts (as far as crawl.max_pages)."""
        for page in range(1, self.paging.max_pages + 1):
            if self._total_pages is not None and page > self._total_pages:
                return
            yield listing.url(self.ctx.base, page)

    def _read_page(self, url: str) -> JsonPage | None:
        """A listing page (None when lost); what it says of the page count is kept for the next ones."""
        page = self.paging.read_page(url, lambda: self._fetch(url))
        if isinstance(page, GraphQlPage) and page.total_pages is not None:
            self._total_pages = max(page.total_pages, self._total_pages or 0)
            self._total_count = page.total_count if page.total_count is not None else self._total_count
        return page

    def _is_last(self, page: int, listed: JsonPage, listing: GraphQlListing) -> bool:
        """The last page the store counts; a short page where no page said how many there are."""
        if self._total_pages is not None:
            return page >= self._total_pages
        return listed.listed < listing.page_size

    def _check_total(self) -> None:
        """Say where the store counts more products than were listed (and where its search engine caps them)."""
        if self._total_count is None:
            return
        if self._total_count == SEARCH_RESULT_WINDOW:
            self.ctx.errors.append(
                f"{self.ctx.base}{GRAPHQL_PATH}: the store counts exactly {SEARCH_RESULT_WINDOW} products, its "
                "search engine's result window (Magento before 2.4.7, ACSD-62332): products past it may be missing")
        if self.products < self._total_count:
            log.warning("%s: the store counts %d products, %d were listed", self.ctx.site.name,
                        self._total_count, self.products)

    def report(self) -> dict[str, Any]:
        requests = self.ctx.client.stats.get("requests", 0)
        report: dict[str, Any] = {"products_listed": self.products, "site_requests": requests,
                                  "requests_per_product": round(requests / self.products, 3) if self.products else None}
        if self.ctx.details.get("listing") == "graphql":
            report.update(graphql_pages=self.outcome.pages, total_count=self._total_count,
                          listing_complete=self.outcome.complete)
        return report


# -- one product -----------------------------------------------------------------------------------


def _html(value: Any) -> str:
    """The text of a ``ComplexTextValue`` (``{html}``)."""
    return html_to_text(str(value.get("html") or "")) if isinstance(value, dict) else ""


def gallery_urls(value: Any) -> list[str]:
    """``media_gallery`` URLs in ``position`` order, disabled (hidden) images left out."""
    entries = [(entry.get("position"), index, entry.get("url")) for index, entry in enumerate(json_objects(value))
               if not entry.get("disabled") and isinstance(entry.get("url"), str) and entry.get("url")]
    entries.sort(key=lambda e: (e[0] if isinstance(e[0], (int, float)) and not isinstance(e[0], bool)
                                else float("inf"), e[1]))
    return [str(url) for _, _, url in entries]


def deepest_category(value: Any) -> str:
    """The name of the most specific category (the longest ``url_path``; the first of equals)."""
    named = [c for c in json_objects(value) if str(c.get("name") or "").strip()]
    if not named:
        return ""
    best = max(named, key=lambda c: (str(c.get("url_path") or "").count("/") + 1 if c.get("url_path") else 0))
    return str(best["name"]).strip()


def _final_price(price_range: Any) -> tuple[float | None, float | None, str]:
    """(final price, regular price, currency) of a ``price_range``'s minimum price."""
    minimum = price_range.get("minimum_price") if isinstance(price_range, dict) else None
    minimum = minimum if isinstance(minimum, dict) else {}
    final = minimum.get("final_price") if isinstance(minimum.get("final_price"), dict) else {}
    regular = minimum.get("regular_price") if isinstance(minimum.get("regular_price"), dict) else {}
    return parse_price(final.get("value")), parse_price(regular.get("value")), str(final.get("currency") or "")


def configurable_options(raw: dict[str, Any]) -> dict[str, list[str]]:
    """{option label: value labels} of a ConfigurableProduct."""
    return {str(opt.get("label") or opt.get("attribute_code") or ""): [
        str(v.get("label")) for v in json_objects(opt.get("values")) if v.get("label") is not None]
        for opt in json_objects(raw.get("configurable_options"))}


def _variant(entry: dict[str, Any]) -> Variant:
    """One ``ConfigurableVariant``: its attribute values, SKU, price and stock."""
    product = entry.get("product") if isinstance(entry.get("product"), dict) else {}
    labels = [str(a.get("label")) for a in json_objects(entry.get("attributes")) if a.get("label") is not None]
    final, regular, _ = _final_price(product.get("price_range"))
    stock = product.get("stock_status")
    return Variant(title=" / ".join(labels), price=final,
                   compare_at_price=regular if regular is not None and final is not None and regular > final else None,
                   available=stock == "IN_STOCK" if isinstance(stock, str) else None,
                   options=labels, sku=str(product.get("sku") or "").strip())


def colour_code(raw: dict[str, Any]) -> str:
    """The attribute code of a configurable product's colour option ("" when it has none)."""
    for option in json_objects(raw.get("configurable_options")):
        code = str(option.get("attribute_code") or "")
        if code.lower() in COLOUR_CODES or str(option.get("label") or "").lower() in COLOUR_CODES:
            return code
    return ""


def variant_images(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """(image URL, colour) of every colour variant's own photos, in variant order."""
    code = colour_code(raw)
    if not code:
        return []
    found = []
    for entry in json_objects(raw.get("variants")):
        colour = next((str(a.get("label")) for a in json_objects(entry.get("attributes"))
                       if a.get("code") == code and a.get("label") is not None), "")
        product = entry.get("product") if isinstance(entry.get("product"), dict) else {}
        found += [(url, colour) for url in gallery_urls(product.get("media_gallery"))]
    return found


def product_url(raw: dict[str, Any], base_url: str) -> str:
    """``canonical_url`` (relative to the store), else ``<url_key><url_suffix>``, else the catalog URL by id."""
    base = base_url.rstrip("/") + "/"
    canonical = raw.get("canonical_url")
    if isinstance(canonical, str) and canonical.strip():
        return resolve_url(base, canonical.strip())
    key = str(raw.get("url_key") or "").strip()
    if key:
        suffix = raw.get("url_suffix")
        return f"{base}{key}{suffix if isinstance(suffix, str) else DEFAULT_URL_SUFFIX}"
    entity = _entity_id(raw.get("uid"))
    return f"{base}catalog/product/view/id/{entity}" if entity else ""


def _entity_id(uid: Any) -> str:
    """The entity id inside a ``uid`` (base64 of the id), "" when it is not one."""
    try:
        decoded = base64.b64decode(str(uid), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""
    return decoded if decoded.isdigit() else ""


def _images(raw: dict[str, Any], base_url: str) -> list[tuple[str, str]]:
    """(image URL, colour: "" where unknown) for the gallery, then colour variants' own photos, without repeats."""
    gallery = [(resolve_url(base_url, url), "") for url in gallery_urls(raw.get("media_gallery"))]
    coloured = [(resolve_url(base_url, url), colour) for url, colour in variant_images(raw)]
    return unique_images(gallery + coloured, base_scheme=urlsplit(base_url).scheme or "https")


def normalise_magento_product(raw: dict[str, Any], *, site: str, base_url: str, currency: str,
                              crawled_at: str) -> ProductRecord:
    """Turn one item of the products query into a :class:`ProductRecord`."""
    sku = str(raw.get("sku") or "").strip()
    product_id = sku or str(raw.get("uid") or "").strip()
    if not product_id:
        raise ValueError("no sku or uid")
    final, _, price_currency = _final_price(raw.get("price_range"))
    variants = [_variant(entry) for entry in json_objects(raw.get("variants"))]
    images = _images(raw, base_url)
    category_names = distinct(str(c.get("name") or "") for c in json_objects(raw.get("categories")))
    return ProductRecord(
        site=site,
        product_id=product_id,
        product_url=product_url(raw, base_url),
        title=str(raw.get("name") or "").strip(),
        description=_html(raw.get("description")) or _html(raw.get("short_description")),
        category=deepest_category(raw.get("categories")),
        tags=category_names,
        price=final,
        currency=price_currency or currency,
        image_urls=[url for url, _ in images],
        crawled_at=crawled_at,
        source=SOURCE,
        options=configurable_options(raw),
        variants=variants,
        handle=str(raw.get("url_key") or ""),
        skus=distinct([sku, *(v.sku for v in variants)]),
        image_colours=[colour.lower() for _, colour in images],
    )

