"""Shopify collection membership: which signalled collections list each product, at a bounded cost.

A product whose title, type, tags and sizes say nothing may still sit in "Kids Eid Edit" or
"Fragrances". After the product listing, ``/collections.json`` is read and, for the collections whose
handle or title carries one of ``crawl.collections.terms``, ``/collections/<handle>/products.json`` is
paged for product ids only, within ``crawl.collections.max_requests`` requests per site. What a
collection means is for the csv stage to decide.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from pakfashion.config import CollectionsConfig
from pakfashion.crawling.record import ProductRecord
from pakfashion.crawling.shopify import (
    SHOPIFY_PAGING_CAP,
    ShopifyCrawl,
    fetch_json_list,
    fetch_product_ids,
    listing_page_url,
)
from pakfashion.web import FetchError, HostBlockedError

log = logging.getLogger(__name__)
T = TypeVar("T")

_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Lower-case words of a handle or title (``-``, ``_``, spaces and punctuation split them)."""
    return _WORD.findall(text.lower())


def _has_phrase(haystack: list[str], phrase: list[str]) -> bool:
    width = len(phrase)
    return bool(phrase) and any(haystack[i:i + width] == phrase for i in range(len(haystack) - width + 1))


def signal_rank(handle: str, title: str, terms: list[str]) -> int | None:
    """Index of the first term found as whole words in the handle or title; None when none is."""
    texts = (words(handle), words(title))
    for index, term in enumerate(terms):
        if any(_has_phrase(text, words(term)) for text in texts):
            return index
    return None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


@dataclass
class Membership:
    """One signalled collection and the product ids it was found to list."""

    handle: str
    title: str
    products_count: int | None
    rank: int
    product_ids: list[str] = field(default_factory=list)
    pages: int = 0
    complete: bool = False

    @classmethod
    def from_listing(cls, item: dict[str, Any], rank: int) -> Membership:
        return cls(str(item["handle"]), str(item.get("title") or ""), _count(item.get("products_count")), rank)

    def sort_key(self) -> tuple[int, bool, int, str]:
        """Most specific term first, then smaller collections (unknown sizes last), then handle."""
        return (self.rank, self.products_count is None, self.products_count or 0, self.handle)

    def summary(self) -> dict[str, Any]:
        """The collection as crawl.json lists it."""
        out: dict[str, Any] = {"handle": self.handle, "title": self.title}
        if self.products_count is not None:
            out["products_count"] = self.products_count
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "pages": self.pages, "products_found": len(set(self.product_ids)),
                "complete": self.complete}


class BudgetSpent(Exception):
    """No request of the collections budget is left."""


@dataclass
class CollectionsCrawl:
    """Collection membership of one Shopify site; ``to_dict()`` is crawl.json's ``collections``."""

    shop: ShopifyCrawl
    base_url: str
    settings: CollectionsConfig
    requests: int = 0
    from_frontier: int = 0
    listed: int = 0
    listing_complete: bool = False
    catalogue_paged: bool = False
    signalled: list[Membership] = field(default_factory=list)
    skipped: list[Membership] = field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return self.settings.max_requests > 0 and bool(self.settings.terms)

    def run(self) -> None:
        """List the collections, then fetch the signalled ones' membership until the budget is spent.

        A bad page is recorded in the crawl's errors and ends that listing; a block propagates.
        """
        if not self.enabled:
            return
        catalogue = self.shop.catalogue
        if catalogue is not None:
            self.catalogue_paged = True
            collections = catalogue.collections
            self.listed, self.listing_complete = len(collections), catalogue.complete
        else:
            collections = self._list_collections()
        for membership in self._signalled(collections):
            try:
                self._fill(membership)
            except BudgetSpent:
                # Started and cut short: listed as incomplete; not started: skipped.
                (self.signalled if membership.pages else self.skipped).append(membership)
                continue
            except HostBlockedError:
                if membership.pages:
                    self.signalled.append(membership)
                raise
            self.signalled.append(membership)
        if self.skipped:
            log.warning("%s: crawl.collections.max_requests=%d spent; skipped %d signalled collections: %s",
                        self.base_url, self.settings.max_requests, len(self.skipped),
                        ", ".join(m.handle for m in self.skipped))

    def _page(self, url: str, read: Callable[[], T]) -> T:
        """One page read against the budget (a page the frontier already holds counts too, so a resumed
        crawl reaches the same result)."""
        if self.requests >= self.settings.max_requests:
            raise BudgetSpent
        self.requests += 1
        if self.shop.frontier.get(url) is not None:
            self.from_frontier += 1
        return self.shop.read_with_reread(url, read)

    def _list_collections(self) -> list[dict[str, Any]]:
        """``/collections.json`` page by page (within the budget); a bad page ends the listing."""
        listing = f"{self.base_url.rstrip('/')}/collections.json"
        collections: list[dict[str, Any]] = []
        page_size = self.shop.page_size
        for page in range(1, self.shop.max_pages + 1):
            if page * page_size > SHOPIFY_PAGING_CAP:
                break
            url = listing_page_url(listing, page=page, limit=page_size)
            try:
                listed = self._page(url, lambda: fetch_json_list(self.shop.client, url, "collections", self.shop.frontier))
            except BudgetSpent:
                log.warning("%s: crawl.collections.max_requests spent while listing collections", listing)
                break
            except HostBlockedError:
                raise
            except FetchError as err:
                self._error(f"collections listing: {err}")
                break
            collections += listed.items
            if listed.listed < page_size:
                self.listing_complete = True
                break
        self.listed = len(collections)
        return collections

    def _signalled(self, collections: list[dict[str, Any]]) -> list[Membership]:
        """Collections whose handle or title carries a term, in fetch order."""
        found: dict[str, Membership] = {}
        for item in collections:
            handle = str(item.get("handle") or "")
            rank = signal_rank(handle, str(item.get("title") or ""), self.settings.terms) if handle else None
            if rank is not None and handle not in found:
                found[handle] = Membership.from_listing(item, rank)
        return sorted(found.values(), key=Membership.sort_key)

    def _fill(self, membership: Membership) -> None:
        """Product ids of one collection: from the catalogue paging when it was paged, else fetched."""
        catalogue = self.shop.catalogue
        if catalogue is not None and membership.handle in catalogue.members:
            ids, outcome = catalogue.members[membership.handle]
            membership.product_ids, membership.pages, membership.complete = list(ids), outcome.pages, outcome.complete
            return
        listing = f"{self.base_url.rstrip('/')}/collections/{membership.handle}/products.json"
        page_size = self.shop.page_size
        for page in range(1, self.shop.max_pages + 1):
            if page * page_size > SHOPIFY_PAGING_CAP:
                return
            url = listing_page_url(listing, page=page, limit=page_size)
            try:
                ids = self._page(url, lambda: fetch_product_ids(self.shop.client, url, self.shop.frontier))
            except HostBlockedError:
                raise
            except FetchError as err:
                membership.pages += 1
                self._error(f"collection {membership.handle!r}: {err}")
                return
            membership.pages += 1
            membership.product_ids += ids
            if len(ids) < page_size:
                membership.complete = True
                return

    def _error(self, message: str) -> None:
        log.error("%s: %s", self.base_url, message)
        self.shop.errors.append(message)

    def collections_of(self) -> dict[str, list[dict[str, str]]]:
        """Product id → ``[{"handle", "title"}]`` of the signalled collections listing it, by handle."""
        out: dict[str, list[dict[str, str]]] = {}
        for membership in sorted(self.signalled, key=lambda m: m.handle):
            for product_id in dict.fromkeys(membership.product_ids):
                out.setdefault(product_id, []).append({"handle": membership.handle, "title": membership.title})
        return out

    def label(self, records: list[ProductRecord]) -> list[ProductRecord]:
        """The records with their ``collections`` set."""
        found = self.collections_of()
        return [replace(r, collections=found[r.product_id]) if r.product_id in found else r for r in records]

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "max_requests": self.settings.max_requests,
            "requests": self.requests,
            "from_frontier": self.from_frontier,
            "catalogue_paged": self.catalogue_paged,
            "listed": self.listed,
            "listing_complete": self.listing_complete,
            "signalled": [m.to_dict() for m in self.signalled],
            "skipped": [m.summary() for m in self.skipped],
        }
