"""WooCommerce stores through their public Store API, ``/wp-json/wc/store/v1/products`` (no HTML needed).

The Store API is what WooCommerce's own block themes read: a JSON list of products, ``per_page`` up to 100,
paged with ``page=N``, the totals in ``X-WP-Total`` / ``X-WP-TotalPages``. Detection reads page 1 of that
listing and keeps it in the frontier, so it costs no request the listing would not make. A WordPress store
whose Store API is off (404 ``rest_no_route``, 401) or disallowed by robots.txt is read through its
sitemaps' product pages (JSON-LD) instead.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from pakfashion.common.errors import describe
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
    JsonPage,
    ListingOutcome,
    MalformedPageError,
    ShopifyCrawl,
    parse_json_list,
)
from pakfashion.web import FetchError, HostBlockedError, Response, RobotsDisallowedError

log = logging.getLogger(__name__)

SOURCE = "woocommerce_store_api"
STORE_API_PATH = "/wp-json/wc/store/v1/products"
# The Store API answers 400 rest_invalid_param past this per_page.
MAX_PER_PAGE = 100
# What every Store API product has (a WordPress posts listing, or any other JSON list, has not all of them);
# salvaging a broken page keeps the objects with a permalink (images, terms and variations have none).
PRODUCT_KEYS = frozenset({"id", "name", "permalink", "prices"})
SALVAGE_MARKER = "permalink"
# WooCommerce files a product without a category under this one: it says nothing.
DEFAULT_CATEGORY_SLUG = "uncategorized"
COLOUR_ATTRIBUTES = frozenset({"color", "colour", "pa_color", "pa_colour"})
# The ``rel`` WordPress's ``Link: <…/wp-json/>`` header names its REST API by.
WORDPRESS_API_REL = "https://api.w.org/"
# Rules and sitemaps WordPress writes into robots.txt itself.
WORDPRESS_ROBOTS = re.compile(r"^\s*(?:dis)?allow:\s*/wp-(?:admin|content|includes|json)/|wp-sitemap\.xml",
                              re.IGNORECASE | re.MULTILINE)
# The 400 past the last page of a WordPress listing: the listing's end, not a bad page.
PAST_LAST_PAGE_CODES = frozenset({"rest_post_invalid_page_number", "woocommerce_rest_invalid_page_number"})
# The modes a site's listing is read in (kept in the frontier: a resumed crawl reads the same way).
STORE_API, SITEMAPS = "store_api", "sitemaps"


def store_page_url(base_url: str, *, page: int, per_page: int) -> str:
    """Page ``page`` of a store's Store API product listing."""
    return f"{base_url.rstrip('/')}{STORE_API_PATH}?per_page={per_page}&page={page}"


def store_page_size(configured: int) -> int:
    """``crawl.woocommerce_page_size`` within what the Store API accepts (1 to 100)."""
    size = min(max(configured, 1), MAX_PER_PAGE)
    if size != configured:
        log.warning("crawl.woocommerce_page_size=%d: the Store API pages 1 to %d products, using %d",
                    configured, MAX_PER_PAGE, size)
    return size


def header_int(resp: Response, name: str) -> int | None:
    """A header's whole-number value (``X-WP-TotalPages``), None when absent or not a number."""
    value = resp.header(name).strip()
    return int(value) if value.isdigit() else None


def json_error_code(resp: Response) -> str:
    """The ``code`` of a WordPress REST error body (``rest_no_route``), "" when the body is none."""
    try:
        data = json.loads(resp.body[:65536].decode("utf-8-sig", errors="replace"))
    except (json.JSONDecodeError, RecursionError):
        return ""
    return str(data.get("code") or "") if isinstance(data, dict) else ""


def meant_as_json(resp: Response) -> bool:
    """Whether a response is meant as JSON (then a parse error is a broken page, not another platform)."""
    return "json" in resp.content_type or resp.body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{")


def wordpress_signal(resp: Response | None, robots_text: str) -> str:
    """What says the site runs WordPress: a response's REST API headers or error code, or robots.txt's
    WordPress rules; "" when nothing does."""
    if resp is not None:
        if WORDPRESS_API_REL in resp.header("link"):
            return "the WordPress REST API Link header"
        if "x-wp-total" in resp.header("access-control-expose-headers").lower():
            return "WordPress REST API headers"
        code = json_error_code(resp) if meant_as_json(resp) else ""
        if code.startswith(("rest_", "woocommerce_")):
            return f"a WordPress REST API error ({code})"
    return "robots.txt's WordPress rules" if WORDPRESS_ROBOTS.search(robots_text) else ""


def is_store_listing(page: JsonPage, total_pages: int | None) -> bool:
    """Whether a JSON list is a Store API product listing: Store API-shaped products on it, or none on a
    listing whose X-WP-TotalPages header counts its pages (a store without products)."""
    if not page.listed:
        return total_pages is not None
    return any(PRODUCT_KEYS <= item.keys() for item in page.items)


class WooCommerceAdapter(Adapter):
    """The Store API listing page by page (resumable, re-read when malformed), else the sitemaps' product pages."""

    platform = Platform.woocommerce

    def __init__(self, ctx: CrawlContext) -> None:
        super().__init__(ctx)
        self.per_page = store_page_size(ctx.settings.woocommerce_page_size)
        # The paging machinery Shopify's listings use: re-reads, salvage, bad pages in a row, repeats.
        self.shop = ShopifyCrawl(ctx.client, ctx.frontier, page_size=self.per_page,
                                 max_pages=ctx.settings.max_pages, errors=ctx.errors)
        self.outcome = ListingOutcome()
        # X-WP-TotalPages as last seen (live or kept in the frontier with its page).
        self.total_pages: int | None = None
        self.requests = 0
        # How records() read the listing (None until it runs).
        self.listing_mode: str | None = None
        self._last_response: Response | None = None
        self._mode_key = f"woocommerce-listing:{ctx.site.base_url}"

    # detection ---------------------------------------------------------------------

    def evidence(self) -> str:
        url = self.page_url(1)
        try:
            self.shop.read_with_reread(url, lambda: self.fetch(url, probing=True))
        except HostBlockedError:
            raise
        except RobotsDisallowedError as err:
            return self._fallback(f"robots.txt disallows the Store API ({err})")
        except MalformedPageError as err:
            if err.salvage is None:
                return self._fallback(f"the Store API page stays malformed ({err})")
            log.warning("%s; taking the site for WooCommerce by the %d whole products on it", err,
                        len(err.salvage.items))
            self.ctx.frontier.put(url, "ok", err.salvage.to_frontier())
            return self._chosen(STORE_API, "Store API product listing (broken JSON, whole products on it)")
        except FetchError as err:
            return self._fallback(f"the Store API did not answer a product listing ({err})")
        return self._chosen(STORE_API, "Store API product listing")

    def _fallback(self, why: str) -> str:
        """Sitemap product pages when the site is WordPress but its Store API can't be read; else ""."""
        signal = wordpress_signal(self._last_response, self.ctx.client.robots.snapshot(self.ctx.site.base_url).text)
        if not signal:
            log.info("not WooCommerce: %s", why)
            return ""
        if not self.ctx.pages.product_page_urls():
            log.info("%s: WordPress by %s, but %s and the sitemaps list no product pages", self.ctx.site.name,
                     signal, why)
            return ""
        log.warning("%s: WordPress by %s, but %s: reading the sitemaps' product pages", self.ctx.site.name,
                    signal, why)
        self.ctx.details["woocommerce_fallback"] = why
        return self._chosen(SITEMAPS, f"WordPress ({signal}), Store API unusable: product pages from the sitemaps")

    def _chosen(self, mode: str, evidence: str) -> str:
        self.ctx.frontier.put(self._mode_key, "mode", mode)
        return evidence

    @property
    def mode(self) -> str:
        """How the listing is read: the Store API, or the sitemaps (as detection chose, also after a kill;
        with ``site.platform: woocommerce``, the sitemaps where robots.txt disallows the Store API)."""
        done = self.ctx.frontier.get(self._mode_key)
        if done is not None:
            return str(done[1])
        return STORE_API if self.ctx.client.robots.allowed(self.page_url(1)) else SITEMAPS

    # the listing -------------------------------------------------------------------

    def page_url(self, page: int) -> str:
        return store_page_url(self.ctx.base, page=page, per_page=self.per_page)

    def fetch(self, url: str, *, probing: bool = False) -> JsonPage:
        """A Store API page: from the frontier when a previous (killed) run finished it, else fetched and kept.

        Raises MalformedPageError for a page meant as JSON that isn't a listing (HTML instead of JSON too,
        except while ``probing`` a site that does not say it is WordPress), FetchError otherwise.
        """
        done = self.ctx.frontier.get(url)
        if done is not None:
            self._note_total(done[1].get("total_pages"))
            return JsonPage.from_frontier(done[1])
        resp = self.ctx.client.get(url)
        self.requests += 1
        self._last_response = resp
        if not probing and resp.status == 400 and json_error_code(resp) in PAST_LAST_PAGE_CODES:
            return self._keep(url, JsonPage([], 0), total=None)
        if resp.status != 200:
            raise FetchError(f"{url}: HTTP {resp.status}")
        if not meant_as_json(resp):
            problem = f"{url}: not a JSON listing ({resp.content_type or 'no content type'})"
            if probing and not wordpress_signal(resp, ""):
                raise FetchError(problem)
            raise MalformedPageError(problem)
        total = header_int(resp, "x-wp-totalpages")
        self._note_total(total)
        page = parse_json_list(resp.body, url, None, marker=SALVAGE_MARKER)
        if probing and not is_store_listing(page, total):
            raise FetchError(f"{url}: a JSON list, but not of Store API products")
        return self._keep(url, page, total)

    def _keep(self, url: str, page: JsonPage, total: int | None) -> JsonPage:
        self.ctx.frontier.put(url, "ok", {**page.to_frontier(), "total_pages": total})
        return page

    def _note_total(self, total: int | None) -> None:
        if total is not None:
            self.total_pages = total

    def _is_last(self, number: int, page: JsonPage) -> bool:
        """A short page ends the listing, and so does the last page X-WP-TotalPages counts."""
        return page.listed < self.per_page or (self.total_pages is not None and number >= self.total_pages)

    def products(self) -> Iterator[dict[str, Any]]:
        """The Store API products, page by page (:meth:`ShopifyCrawl.page_through`)."""
        urls = (self.page_url(number) for number in range(1, self.ctx.settings.max_pages + 1))
        yield from self.shop.page_through(f"{self.ctx.base}{STORE_API_PATH}", urls,
                                          lambda url: self.shop.read_page(url, lambda: self.fetch(url)),
                                          self._is_last, self.outcome)

    def records(self) -> Iterator[ProductRecord]:
        self.listing_mode = self.mode
        if self.listing_mode == SITEMAPS:
            yield from page_records(self.ctx, self.ctx.pages.product_page_urls())
            return
        site = self.ctx.site
        for raw in self.products():
            try:
                yield normalise_store_product(raw, site=site.name, base_url=self.ctx.base, currency=site.currency,
                                              crawled_at=now_iso())
            except Exception as err:  # noqa: BLE001 (one product's shape must not cost the others)
                self.ctx.errors.append(f"product {str(raw.get('id'))[:40]!r}: malformed ({describe(err)})")

    def report(self) -> dict[str, Any]:
        return {"woocommerce": {"listing": self.listing_mode, "per_page": self.per_page, "pages": self.outcome.pages,
                                "requests": self.requests, "total_pages": self.total_pages,
                                "complete": self.outcome.complete}}


# normalising a Store API product ----------------------------------------------------


def minor_units(amount: Any, minor_unit: Any) -> float | None:
    """A Store API amount in major units: "499000" with minor unit 2 is 4990.0; None when absent or bad.

    Amounts are whole numbers of minor units; one written with a decimal point is taken as major units.
    """
    if amount is None or isinstance(amount, bool):
        return None
    text = str(amount).strip()
    if not re.fullmatch(r"-?\d+", text):
        return parse_price(text)
    try:
        unit = int(minor_unit)
    except (TypeError, ValueError):
        unit = 2
    return int(text) / 10 ** (unit if 0 <= unit <= 6 else 2)


def store_description(raw: dict[str, Any]) -> str:
    """The description as text, the short description first unless the description already says it."""
    short, long = (html_to_text(str(raw.get(key) or "")) for key in ("short_description", "description"))
    return long if short in long else f"{short} {long}".strip()


def store_price(prices: Any) -> float | None:
    """The product's price: the lowest of a variable product's price range, else ``prices.price``."""
    if not isinstance(prices, dict):
        return None
    unit = prices.get("currency_minor_unit")
    price_range = prices.get("price_range")
    if isinstance(price_range, dict) and price_range.get("min_amount") not in (None, ""):
        return minor_units(price_range["min_amount"], unit)
    return minor_units(prices.get("price"), unit)


def _names(value: Any) -> list[str]:
    """The names of a product's categories, tags or brands, as text."""
    return distinct(html_to_text(str(item.get("name") or "")) for item in json_objects(value))


def _category(categories: Any) -> str:
    """The first category's name that says something (WooCommerce's "Uncategorized" says nothing)."""
    named = [item for item in json_objects(categories) if str(item.get("slug") or "").lower() != DEFAULT_CATEGORY_SLUG]
    return next(iter(_names(named)), "")


def _attribute_terms(attribute: dict[str, Any]) -> list[tuple[str, str]]:
    """An attribute's terms as (name, slug)."""
    terms = [(html_to_text(str(t.get("name") or "")), str(t.get("slug") or ""))
             for t in json_objects(attribute.get("terms"))]
    return [(name, slug) for name, slug in terms if name]


def _attribute_name(attribute: dict[str, Any]) -> str:
    return html_to_text(str(attribute.get("name") or attribute.get("taxonomy") or ""))


def store_options(raw: dict[str, Any]) -> dict[str, list[str]]:
    """Attribute name → its terms' names (Size, Color, and attributes that make no variation)."""
    options: dict[str, list[str]] = {}
    for attribute in json_objects(raw.get("attributes")):
        name = _attribute_name(attribute)
        if name:
            options[name] = distinct(term for term, _ in _attribute_terms(attribute))
    return options


def _term_name(attributes: list[dict[str, Any]], name: str, value: str) -> str:
    """The term a variation names by slug (taxonomy attributes) or by name, as the term's name."""
    key = name.strip().lower()
    for attribute in attributes:
        if key in (_attribute_name(attribute).lower(), str(attribute.get("taxonomy") or "").lower()):
            for term, slug in _attribute_terms(attribute):
                if value.lower() in (slug.lower(), term.lower()):
                    return term
    return html_to_text(value)


def store_variants(raw: dict[str, Any]) -> list[Variant]:
    """One Variant per variation; its options are the attribute values it stands for (prices are not listed)."""
    attributes = json_objects(raw.get("attributes"))
    variants = []
    for variation in json_objects(raw.get("variations")):
        values = [_term_name(attributes, str(a.get("name") or ""), str(a.get("value") or ""))
                  for a in json_objects(variation.get("attributes"))]
        values = [value for value in values if value]
        variants.append(Variant(title=" / ".join(values), price=None, compare_at_price=None, available=None,
                                options=values, sku=str(variation.get("sku") or "").strip()))
    return variants


def _colour_terms(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """The (name, slug) terms of the product's colour attribute(s), longest names first."""
    terms = [term for attribute in json_objects(raw.get("attributes"))
             if _attribute_name(attribute).lower() in COLOUR_ATTRIBUTES
             or str(attribute.get("taxonomy") or "").lower() in COLOUR_ATTRIBUTES
             for term in _attribute_terms(attribute)]
    return sorted(terms, key=lambda term: -len(term[0]))


def _phrase(text: str) -> str:
    """``text``'s words, lower-cased and space-padded (" navy blue "), "" when it has none."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return f" {' '.join(words)} " if words else ""


def image_colour(image: dict[str, Any], terms: list[tuple[str, str]]) -> str:
    """The colour term an image's alt text or name names (as whole words), "" when none does."""
    said = _phrase(f"{image.get('alt') or ''} {image.get('name') or ''}")
    for name, slug in terms:
        if any(phrase and phrase in said for phrase in (_phrase(name), _phrase(slug))):
            return name
    return ""


def store_images(raw: dict[str, Any], base_url: str) -> list[tuple[str, str]]:
    """(image URL, the colour it shows or "") for the product's images in order, without repeats."""
    terms = _colour_terms(raw)
    images = [(resolve_url(base_url, image["src"]), image_colour(image, terms))
              for image in json_objects(raw.get("images")) if isinstance(image.get("src"), str) and image["src"]]
    return unique_images(images, base_scheme=urlsplit(base_url).scheme or "https")


def normalise_store_product(raw: dict[str, Any], *, site: str, base_url: str, currency: str,
                            crawled_at: str) -> ProductRecord:
    """Turn one Store API product into a :class:`ProductRecord`."""
    if not isinstance(raw.get("id"), (int, str)) or isinstance(raw["id"], bool) or raw["id"] == "":
        raise ValueError(f"no product id (id={raw.get('id')!r:.40})")
    base = base_url.rstrip("/")
    slug = str(raw.get("slug") or "")
    permalink = raw.get("permalink")
    prices = raw.get("prices") if isinstance(raw.get("prices"), dict) else {}
    variants = store_variants(raw)
    images = store_images(raw, base)
    return ProductRecord(
        site=site,
        product_id=str(raw["id"]),
        product_url=resolve_url(base + "/", permalink) if isinstance(permalink, str) and permalink
        else f"{base}/?p={raw['id']}",
        title=html_to_text(str(raw.get("name") or "")),
        description=store_description(raw),
        category=_category(raw.get("categories")),
        tags=_names(raw.get("tags")),
        price=store_price(prices),
        currency=str(prices.get("currency_code") or currency),
        image_urls=[url for url, _ in images],
        crawled_at=crawled_at,
        source=SOURCE,
        vendor=next(iter(_names(raw.get("brands"))), ""),
        options=store_options(raw),
        variants=variants,
        handle=slug,
        skus=distinct([str(raw.get("sku") or ""), *(v.sku for v in variants)]),
        image_colours=[colour.lower() for _, colour in images],
    )
