"""The platform adapters, the order detection probes them in, and the Shopify and plain-sitemap adapters.

Detection tries the site's ``platform_hint`` first (one probe when the hint is right), then every other
platform from the cheapest and most certain signal to the least: Shopify's ``/products.json``,
WooCommerce's Store API, Magento's GraphQL, SFCC's markers beside sitemap product pages, and last any
sitemap with product pages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pakfashion.common.errors import describe
from pakfashion.config import Platform
from pakfashion.crawling.adapters import Adapter, CrawlContext, page_records
from pakfashion.crawling.magento import MagentoAdapter
from pakfashion.crawling.record import ProductRecord, now_iso
from pakfashion.crawling.sfcc import SfccAdapter
from pakfashion.crawling.shopify import (
    ShopifyCrawl,
    iter_shopify_products,
    normalise_shopify_product,
    shopify_evidence,
)
from pakfashion.crawling.shopify_collections import CollectionsCrawl
from pakfashion.crawling.woocommerce import WooCommerceAdapter

log = logging.getLogger(__name__)


def market_roots(base_url: str) -> list[str]:
    """Where a Shopify store's ``/products.json`` may live: under the configured market path
    (``/pk``, ``/en-pk``) and, when there is one, at the shop's root."""
    base = base_url.rstrip("/")
    parts = urlsplit(base)
    root = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    return [base] if root == base else [base, root]


class ShopifyAdapter(Adapter):
    """``/products.json`` pages (past 25,000 products, collection by collection), then collection membership."""

    platform = Platform.shopify

    def __init__(self, ctx: CrawlContext) -> None:
        super().__init__(ctx)
        self.shop = ShopifyCrawl(ctx.client, ctx.frontier, page_size=ctx.settings.page_size,
                                 max_pages=ctx.settings.max_pages, errors=ctx.errors)
        self.collections: CollectionsCrawl | None = None
        self._listing_key = f"shopify-listing:{ctx.site.base_url}"

    @property
    def listing_base(self) -> str:
        """The market root that answered ``/products.json`` (remembered across a killed run)."""
        done = self.ctx.frontier.get(self._listing_key)
        return str(done[1]) if done is not None else self.ctx.base

    def evidence(self) -> str:
        roots = market_roots(self.ctx.site.base_url)
        for root in roots:
            found = shopify_evidence(self.shop, root)
            if found:
                self.ctx.frontier.put(self._listing_key, "root", root)
                if root != roots[0]:
                    log.info("%s: /products.json answers at the shop's root %s, not under %s",
                             self.ctx.site.name, root, roots[0])
                    self.ctx.details["listing_root"] = root
                    return f"{found} at the shop's root"
                return found
        return ""

    def records(self) -> Iterator[ProductRecord]:
        site, base = self.ctx.site, self.listing_base
        for raw in iter_shopify_products(self.shop, base):
            try:
                yield normalise_shopify_product(raw, site=site.name, base_url=base, currency=site.currency,
                                                crawled_at=now_iso())
            except Exception as err:  # noqa: BLE001 (one product's shape must not cost the others)
                self.ctx.errors.append(f"product {str(raw.get('id'))[:40]!r}: malformed ({describe(err)})")

    def after_listing(self) -> None:
        self.collections = CollectionsCrawl(self.shop, self.listing_base, self.ctx.settings.collections)
        self.collections.run()

    def finish(self, records: list[ProductRecord]) -> list[ProductRecord]:
        # Products already listed are kept when a block comes while reading collections.
        return records if self.collections is None else self.collections.label(records)

    def report(self) -> dict[str, Any]:
        return {} if self.collections is None else {"collections": self.collections.to_dict()}


class SitemapAdapter(Adapter):
    """Any store whose sitemaps list product pages with schema.org JSON-LD (Open Graph as the fallback)."""

    platform = Platform.sitemap

    def evidence(self) -> str:
        return "product pages in the sitemaps" if self.ctx.pages.product_page_urls() else ""

    def records(self) -> Iterator[ProductRecord]:
        yield from page_records(self.ctx, self.ctx.pages.product_page_urls())


ADAPTERS: dict[Platform, type[Adapter]] = {
    Platform.shopify: ShopifyAdapter,
    Platform.woocommerce: WooCommerceAdapter,
    Platform.magento: MagentoAdapter,
    Platform.sfcc: SfccAdapter,
    Platform.sitemap: SitemapAdapter,
}
# The order detection probes platforms in when the hint is not confirmed.
PROBE_ORDER: tuple[Platform, ...] = tuple(ADAPTERS)


def probe_order(hint: Platform) -> list[Platform]:
    """The hinted platform first, then the others in PROBE_ORDER."""
    return ([hint] if hint in ADAPTERS else []) + [platform for platform in PROBE_ORDER if platform != hint]
