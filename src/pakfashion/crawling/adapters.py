"""What a platform adapter is: the one interface a site's crawl drives, whatever the store runs on.

Every platform (Shopify, WooCommerce, Magento 2, Salesforce Commerce Cloud, plain sitemaps) has one
adapter class; :mod:`pakfashion.crawling.site` probes them in turn (``evidence``), then reads the chosen
one's ``records``. Adapters share one :class:`CrawlContext`: the polite client, the resumable frontier, the
site's config and the report's error list.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pakfashion.common.errors import describe
from pakfashion.config import CrawlConfig, Platform, SiteConfig
from pakfashion.crawling.pages import SitemapCrawl, normalise_page_product
from pakfashion.crawling.record import ProductRecord, now_iso
from pakfashion.web import FetchError, HostBlockedError, PoliteClient, Response
from pakfashion.web.frontier import Frontier

log = logging.getLogger(__name__)


@dataclass
class CrawlContext:
    """What every adapter of one site's crawl shares."""

    client: PoliteClient
    frontier: Frontier
    site: SiteConfig
    settings: CrawlConfig
    # The crawl report's error list: one line per page or product that was lost or damaged.
    errors: list[str]
    # The sitemap walker (its counters go into crawl.json's ``pages``); adapters that read product pages use it.
    pages: SitemapCrawl
    # Adapter-specific facts for crawl.json's ``platform_details`` (requests per product, fallbacks taken).
    details: dict[str, Any] = field(default_factory=dict)

    # The home page as first read (probes look for a platform's markers in it).
    _home: Response | None = field(default=None, init=False, repr=False)
    _home_read: bool = field(default=False, init=False, repr=False)

    @property
    def base(self) -> str:
        """The site's base URL without a trailing slash."""
        return self.site.base_url.rstrip("/")

    def home_page(self) -> Response | None:
        """The site's home page, requested once however many probes ask (None when it cannot be read; a
        block propagates)."""
        if not self._home_read:
            try:
                self._home = self.client.get(f"{self.base}/")
            except HostBlockedError:
                raise
            except FetchError as err:
                log.info("%s: the home page could not be read (%s)", self.site.name, err)
            self._home_read = True
        return self._home


class Adapter(abc.ABC):
    """One platform's way of listing a store's products."""

    platform: ClassVar[Platform]

    def __init__(self, ctx: CrawlContext) -> None:
        self.ctx = ctx

    @abc.abstractmethod
    def evidence(self) -> str:
        """Why the site is taken for this platform ("" when it is not). May send a few probe requests;
        a block (HostBlockedError) propagates."""

    @abc.abstractmethod
    def records(self) -> Iterator[ProductRecord]:
        """Every product of the store, normalised; what was lost is described in ``ctx.errors``."""

    def after_listing(self) -> None:
        """More requests once the products are listed (Shopify reads collection membership)."""

    def finish(self, records: list[ProductRecord]) -> list[ProductRecord]:
        """The products after the listing (also after a block): Shopify adds collection membership."""
        return records

    def report(self) -> dict[str, Any]:
        """What crawl.json records of this adapter's own work (``{}`` when nothing)."""
        return {}


def page_products(ctx: CrawlContext, urls: list[str]) -> Iterator[tuple[ProductRecord, dict[str, Any]]]:
    """(record, the page's product as read) for sitemap-listed pages; malformed ones in the report."""
    for url, product, how in ctx.pages.products(urls):
        try:
            record = normalise_page_product(url, product, how, site=ctx.site.name, currency=ctx.site.currency,
                                            crawled_at=now_iso())
        except Exception as err:  # noqa: BLE001 (one page's product must not cost the others)
            ctx.errors.append(f"{url}: product malformed ({describe(err)})")
            continue
        yield record, product


def page_records(ctx: CrawlContext, urls: list[str]) -> Iterator[ProductRecord]:
    """Products of sitemap-listed pages read through JSON-LD / Open Graph (malformed ones in the report)."""
    for record, _ in page_products(ctx, urls):
        yield record
