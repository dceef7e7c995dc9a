"""Non-Shopify stores: sitemap-listed product pages read through JSON-LD, or Open Graph as a fallback."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pakfashion.common.errors import describe
from pakfashion.crawling.jsonld import canonical_url, extract_product
from pakfashion.crawling.record import (
    ProductRecord,
    distinct,
    html_to_text,
    parse_price,
    resolve_url,
    unique_image_urls,
)
from pakfashion.crawling.sitemap import is_product_sitemap, parse_sitemap, product_urls
from pakfashion.web import (
    FetchError,
    HostBlockedError,
    PoliteClient,
    Response,
    RobotsDisallowedError,
)
from pakfashion.web.frontier import Frontier
from pakfashion.web.urls import url_problem

log = logging.getLogger(__name__)

MAX_SITEMAPS = 500
GONE_STATUSES = frozenset({404, 410})
# A page's product and how it was found, from its HTML (problems appended to the list), or None.
PageReader = Callable[[str, list[str]], "tuple[dict[str, Any], str] | None"]


@dataclass
class SitemapCrawl:
    """Walks a site's sitemaps to its product pages and reads each page once (frontier-backed)."""

    client: PoliteClient
    frontier: Frontier
    base_url: str
    product_url_pattern: str
    sitemap_urls: list[str] = field(default_factory=list)
    honor_noai: bool = True
    errors: list[str] = field(default_factory=list)
    x_robots_tags: Counter[str] = field(default_factory=Counter)
    pages_opted_out: int = 0
    pages_without_product: int = 0
    # URLs listed in sitemaps (or canonical links) that were not followed, by UrlProblem name.
    refused_urls: Counter[str] = field(default_factory=Counter)
    # How a product page's HTML is read: JSON-LD / Open Graph, or a platform's own markup as well (SFCC).
    read_product: PageReader = extract_product
    # product_page_urls() once walked: detection and the listing ask for it, and a walk counts refusals.
    _product_pages: list[str] | None = field(default=None, init=False, repr=False)

    def roots(self) -> list[str]:
        """Sitemaps to start from: configured, else robots.txt's, else ``<base>/sitemap.xml``."""
        return self.sitemap_urls or self.client.robots.sitemaps(self.base_url) or [
            f"{self.base_url.rstrip('/')}/sitemap.xml"
        ]

    def product_page_urls(self) -> list[str]:
        """Product page URLs from every product sitemap reachable from the roots (indexes followed), walked
        once per crawl (a sitemap that failed is not asked again, a refused URL not counted twice)."""
        if self._product_pages is None:
            self._product_pages = self._walk_sitemaps()
        return self._product_pages

    def _walk_sitemaps(self) -> list[str]:
        queue, seen, pages = [root for root in self.roots() if self._followable(root)], set(), []
        while queue and len(seen) < MAX_SITEMAPS:
            url = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            document = self._sitemap(url)
            if document is None:
                continue
            queue.extend(child for child in document["sitemaps"] if is_product_sitemap(child) and self._followable(child))
            pages.extend(page for page in document["pages"] if self._followable(page))
        return product_urls(pages, self.product_url_pattern)

    def _followable(self, url: str) -> bool:
        """Whether ``url`` is an http(s) URL on the site's hosts (others are counted in ``refused_urls``)."""
        problem = url_problem(url, allowed_hosts=self.client.allowed_hosts)
        if problem is not None:
            self.refused_urls[problem[0].value] += 1
            log.debug("not following %s: %s", url[:200], problem[1])
        return problem is None

    def _sitemap(self, url: str) -> dict[str, list[str]] | None:
        done = self.frontier.get(url)
        if done is not None:
            return done[1]
        try:
            resp = self.client.get(url)
            if resp.status != 200:
                raise FetchError(f"{url}: HTTP {resp.status}")
            parsed = parse_sitemap(resp.body, max_bytes=self.client.max_response_bytes)
        except RobotsDisallowedError:
            log.info("sitemap %s is disallowed by robots.txt", url)
            return None
        except HostBlockedError:
            raise
        except (FetchError, ValueError) as err:
            log.error("sitemap skipped: %s", err)
            self.errors.append(f"{url}: {err}" if isinstance(err, ValueError) else str(err))
            return None
        if parsed.error:
            log.error("sitemap %s: %s; keeping the %d URLs before it", url, parsed.error,
                      len(parsed.pages) + len(parsed.sitemaps))
            self.errors.append(f"{url}: {parsed.error} (kept the {len(parsed.pages) + len(parsed.sitemaps)} URLs before it)")
        document = {"sitemaps": parsed.sitemaps, "pages": parsed.pages}
        self.frontier.put(url, "sitemap", document)
        return document

    def products(self, urls: list[str]) -> Iterator[tuple[str, dict[str, Any], str]]:
        """``(page_url, product, how)`` for every product page that has product data and may be used.

        ``page_url`` is the page's canonical URL; the product's ``fetched_url`` is the URL requested."""
        for url in urls:
            page = self._page(url)
            if page is not None and page.get("product"):
                yield page["final_url"], {**page["product"], "fetched_url": url}, page["how"]

    def _page(self, url: str) -> dict[str, Any] | None:
        done = self.frontier.get(url)
        if done is not None:
            return done[1]
        try:
            resp = self.client.get(url)
        except RobotsDisallowedError:
            return None
        except HostBlockedError:
            raise
        except FetchError as err:
            log.error("product page skipped: %s", err)
            self.errors.append(str(err))
            return None
        page = self._read_page(url, resp)
        if page is not None:
            self.frontier.put(url, "page", page)
        return page

    def _read_page(self, url: str, resp: Response) -> dict[str, Any] | None:
        if resp.status in GONE_STATUSES:
            return {"final_url": url, "product": None, "how": "gone"}
        if resp.status != 200:
            self.errors.append(f"{url}: HTTP {resp.status}")
            return None
        x_robots_tag = resp.header("x-robots-tag")
        if x_robots_tag:
            self.x_robots_tags[x_robots_tag] += 1
        if self.honor_noai and self.client.forbids_ai_use(resp):
            self.pages_opted_out += 1
            return {"final_url": url, "product": None, "how": "opted_out"}
        html = resp.body.decode("utf-8", errors="replace")
        problems: list[str] = []
        try:
            found = self.read_product(html, problems)
            final_url = self._canonical(url, html)
        except Exception as err:  # noqa: BLE001 (one page's markup must not cost the crawl)
            log.exception("product page %s could not be read", url)
            self.errors.append(f"{url}: page not readable ({describe(err)})")
            return {"final_url": url, "product": None, "how": "malformed"}
        self.errors.extend(f"{url}: {problem}" for problem in problems)
        if found is None:
            self.pages_without_product += 1
            log.warning("no JSON-LD Product or Open Graph product data on %s", url)
            return {"final_url": url, "product": None, "how": "none"}
        product, how = found
        return {"final_url": final_url, "product": product, "how": how}

    def _canonical(self, url: str, html: str) -> str:
        """The page's canonical URL when it is an http(s) URL on the site's hosts, else the URL fetched."""
        href = canonical_url(html)
        if not href:
            return url
        target = resolve_url(url, href)
        return target if self._followable(target) else url


def url_handle(page_url: str) -> str:
    """The last path segment of a page URL without its extension: ``/kids/girls/x-AT0031.html`` → ``x-AT0031``."""
    slug = urlsplit(page_url).path.rstrip("/").rsplit("/", 1)[-1]
    return slug.rsplit(".", 1)[0]


def _product_id(product: dict[str, Any], page_url: str) -> str:
    if product.get("sku"):
        return str(product["sku"])
    return url_handle(page_url) or page_url


def normalise_page_product(
    page_url: str, product: dict[str, Any], how: str, *, site: str, currency: str, crawled_at: str
) -> ProductRecord:
    """A JSON-LD / Open Graph product as a :class:`ProductRecord` (relative image URLs resolved)."""
    prices = [p for p in (parse_price(v) for v in product.get("prices", [])) if p is not None]
    images = [resolve_url(page_url, url) for url in product.get("images", []) if isinstance(url, str) and url]
    return ProductRecord(
        site=site,
        product_id=_product_id(product, page_url),
        product_url=page_url,
        title=html_to_text(str(product.get("name") or "")),
        description=html_to_text(str(product.get("description") or "")),
        category=str(product.get("category") or ""),
        tags=[t for t in (product.get("color"), product.get("material")) if t],
        price=min(prices) if prices else None,
        currency=str(product.get("currency") or currency),
        image_urls=unique_image_urls(images, base_scheme=urlsplit(page_url).scheme or "https"),
        crawled_at=crawled_at,
        source=how,
        vendor=str(product.get("brand") or ""),
        handle=url_handle(page_url),
        # Pages a previous run's frontier holds may predate "skus" and "breadcrumbs".
        skus=distinct(product.get("skus") or [str(product.get("sku") or "")]),
        breadcrumbs=[text for text in (html_to_text(str(n)) for n in product.get("breadcrumbs") or []) if text],
    )
