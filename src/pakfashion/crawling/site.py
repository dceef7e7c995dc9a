"""A site's crawl: platform detection, the adapters' records, site rules, politeness, the report.

The stage entry is :mod:`pakfashion.crawl`."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pakfashion.common.errors import StageError, describe
from pakfashion.common.files import read_json, write_json, write_jsonl
from pakfashion.config import CrawlConfig, Platform, SiteConfig, WebConfig
from pakfashion.contracts import CRAWL_REPORT_FILE, PRODUCTS_FILE
from pakfashion.crawling.adapters import Adapter, CrawlContext
from pakfashion.crawling.pages import SitemapCrawl
from pakfashion.crawling.platforms import ADAPTERS, probe_order
from pakfashion.crawling.record import ProductRecord, now_iso
from pakfashion.crawling.shopify import listing_page_url
from pakfashion.web import HostBlockedError, PoliteClient
from pakfashion.web.frontier import Frontier, frontier_path

log = logging.getLogger(__name__)

# Keep-alive connections kept per host: a site's crawl fetches one URL at a time.
CRAWL_CONNECTIONS = 2
# A hostile catalogue can produce an error per product: crawl.json lists this many, and counts the rest.
MAX_ERRORS_LISTED = 1000


class CrawlError(StageError):
    """The site cannot be crawled as configured (unknown platform, robots.txt unreadable, ...)."""


class NothingForUs(Exception):
    """The site says no (robots.txt, Content-Signal): the crawl ends with its reason, and succeeds."""


@dataclass
class CrawlReport:
    """Everything crawl.json records about one site's crawl."""

    site: str
    base_url: str
    snapshot: str
    user_agent: str
    started_at: str
    finished_at: str = ""
    platform: str = ""
    # What the platform was recognised by (products.json, a Shopify header, product pages in sitemaps).
    platform_evidence: str = ""
    # The platform conf/site/<site>.yaml expects (site.platform_hint), and whether detection confirmed it.
    platform_hint: str = ""
    hint_confirmed: bool | None = None
    # What the platform's adapter records of its work (Shopify's listing root, requests, fallbacks).
    platform_details: dict[str, Any] = field(default_factory=dict)
    opted_out: bool = False
    stopped_reason: str | None = None
    # The crawl could not do its work (the user must act): the stage exits 1 after writing this report.
    failed: bool = False
    products: int = 0
    duplicates_skipped: int = 0
    filtered_by_site_rules: int = 0
    # The first MAX_ERRORS_LISTED errors; errors_total counts them all.
    errors: list[str] = field(default_factory=list)
    errors_total: int = 0
    pages: dict[str, Any] = field(default_factory=dict)
    robots: list[dict[str, Any]] = field(default_factory=list)
    http: dict[str, int] = field(default_factory=dict)
    # Shopify collection membership (sources.shopify_collections.CollectionsCrawl.to_dict()); {} elsewhere.
    collections: dict[str, Any] = field(default_factory=dict)
    # The site config and snapshot this crawl ran with (site_fingerprint): an unchanged site is not crawled again.
    fingerprint: str = ""


def build_client(web: WebConfig, settings: CrawlConfig, site: SiteConfig) -> PoliteClient:
    """The web client at the crawl's pace (or the site's own), redirects kept within the site's hosts."""
    min_delay_s = settings.min_delay_s if site.min_delay_s is None else site.min_delay_s
    return PoliteClient(web, min_delay_s=min_delay_s, pool_size=CRAWL_CONNECTIONS, allowed_hosts=site_hosts(site))


def site_hosts(site: SiteConfig) -> set[str]:
    """Hosts redirects may lead to: the site's host, its www/apex twin, and site.allowed_hosts."""
    host = (urlsplit(site.base_url).hostname or "").lower()
    twin = host.removeprefix("www.") if host.startswith("www.") else f"www.{host}"
    return {host, twin, *(h.lower() for h in site.allowed_hosts)}


def passes_site_rules(record: ProductRecord, site: SiteConfig) -> bool:
    """Whether a product survives the site's include/exclude rules on product_type and tags."""
    product_type = record.category.strip().lower()
    if site.include_product_types and product_type not in {t.lower() for t in site.include_product_types}:
        return False
    if product_type and product_type in {t.lower() for t in site.exclude_product_types}:
        return False
    return not {t.lower() for t in record.tags} & {t.lower() for t in site.exclude_tags}


def crawl_context(client: PoliteClient, frontier: Frontier, site: SiteConfig, settings: CrawlConfig,
                  errors: list[str]) -> CrawlContext:
    """What a site's adapters share, its sitemap walker included (a crawl's, or a probe's)."""
    pages = SitemapCrawl(client, frontier, site.base_url, site.product_url_pattern, site.sitemap_urls,
                         honor_noai=settings.honor_content_signal, errors=errors)
    return CrawlContext(client, frontier, site, settings, errors, pages)


def detect_platform(ctx: CrawlContext) -> tuple[Adapter, str]:
    """The site's adapter and what its platform was recognised by: as configured, or probed (the hint first).

    Raises:
        CrawlError: naming the site and everything that was tried.
    """
    site = ctx.site
    if site.platform is not Platform.auto:
        return ADAPTERS[site.platform](ctx), "site.platform"
    for platform in probe_order(site.platform_hint):
        adapter = ADAPTERS[platform](ctx)
        evidence = adapter.evidence()
        if evidence:
            if site.platform_hint not in (Platform.auto, platform):
                log.warning("%s: site.platform_hint=%s, but the site answers as %s (%s)", site.name,
                            site.platform_hint.value, platform.value, evidence)
            return adapter, evidence
    refusals = ctx.client.refusals(site.base_url)
    if refusals:
        raise HostBlockedError(f"{site.base_url}: {refusals} refusals or bot challenges while probing the platform")
    raise CrawlError(
        f"site {site.name!r} ({site.base_url}): platform not recognised; tried Shopify ({ctx.base}/products.json), "
        f"WooCommerce ({ctx.base}/wp-json/wc/store/v1/products), Magento ({ctx.base}/graphql), and product pages "
        f"(SFCC or any) in the sitemaps {ctx.pages.roots()} (site.product_url_pattern="
        f"{site.product_url_pattern!r}). Set site.platform or site.sitemap_urls."
    )


def check_robots(client: PoliteClient, site: SiteConfig) -> None:
    """Stop before probing when robots.txt cannot be read or shuts the whole site to us.

    Raises:
        CrawlError: robots.txt answered 5xx or could not be fetched (RFC 9309: disallow all until read).
        NothingForUs: robots.txt disallows both the home page and the product listing for our agent.
    """
    snapshot = client.robots.snapshot(site.base_url)
    if snapshot.policy == "disallow_all":
        raise CrawlError(
            f"site {site.name!r}: {snapshot.url} could not be read ({snapshot.error}); RFC 9309 treats the "
            "site as disallowed until it can be. Crawl again later, or drop the site."
        )
    listing = listing_page_url(f"{site.base_url.rstrip('/')}/products.json", page=1, limit=1)
    if not client.robots.allowed(site.base_url) and not client.robots.allowed(listing):
        raise NothingForUs(f"robots.txt disallows {site.base_url} for {client.robots.agent_token}")


def remembered_platform(frontier: Frontier, site: SiteConfig) -> Platform | None:
    """The platform a previous (killed) run of this snapshot detected, so a resume doesn't probe again."""
    done = frontier.get(f"platform:{site.base_url}")
    return Platform(done[1]) if done is not None else None


def check_opt_out(client: PoliteClient, site: SiteConfig, settings: CrawlConfig) -> bool:
    """True when robots.txt declares ``Content-Signal: ai-train=no`` and we honour it."""
    signals = client.robots.snapshot(site.base_url).content_signals
    if signals.get("ai-train") != "no":
        return False
    if settings.honor_content_signal:
        log.warning("%s declares Content-Signal ai-train=no: not crawling it", site.name)
        return True
    log.warning("%s declares Content-Signal ai-train=no, crawling anyway (crawl.honor_content_signal=false)", site.name)
    return False


def collect_products(records: Iterable[ProductRecord], site: SiteConfig, report: CrawlReport) -> list[ProductRecord]:
    """Records de-duplicated by product id (listings repeat products), capped by site.max_products."""
    unique: dict[str, ProductRecord] = {}
    for record in records:
        if record.product_id in unique:
            report.duplicates_skipped += 1
            continue
        if not passes_site_rules(record, site):
            report.filtered_by_site_rules += 1
            continue
        unique[record.product_id] = record
        if site.max_products and len(unique) >= site.max_products:
            log.info("%s: site.max_products=%d reached", site.name, site.max_products)
            break
    return list(unique.values())


def crawl_site(
    site: SiteConfig, settings: CrawlConfig, web: WebConfig, *, frontier: Frontier
) -> tuple[list[ProductRecord], CrawlReport]:
    """Crawl one site politely. Blocks and opt-outs end the crawl with a report, not an exception."""
    report = CrawlReport(
        site=site.name, base_url=site.base_url, snapshot=settings.snapshot,
        user_agent=web.user_agent, started_at=now_iso(),
    )
    client = build_client(web, settings, site)
    ctx = crawl_context(client, frontier, site, settings, report.errors)
    pages = ctx.pages
    adapter: Adapter | None = None
    records: list[ProductRecord] = []
    try:
        if check_opt_out(client, site, settings):
            report.opted_out = True
            report.stopped_reason = "Content-Signal ai-train=no"
        else:
            check_robots(client, site)
            remembered = remembered_platform(frontier, site)
            adapter, report.platform_evidence = (ADAPTERS[remembered](ctx), "a previous run of this snapshot") \
                if remembered else detect_platform(ctx)
            frontier.put(f"platform:{site.base_url}", "platform", adapter.platform.value)
            report.platform = adapter.platform.value
            records = collect_products(adapter.records(), site, report)
            adapter.after_listing()
    except HostBlockedError as err:
        log.error("%s blocked us, stopping this site: %s", site.name, err)
        report.stopped_reason = f"blocked: {err}"
    except NothingForUs as err:
        log.warning("%s: %s; nothing to crawl", site.name, err)
        report.stopped_reason = str(err)
    except CrawlError as err:
        report.stopped_reason, report.failed = str(err), True
    except Exception as err:  # a bug: the report and the products so far are written, then the stage fails
        log.exception("%s: the crawl failed unexpectedly", site.name)
        report.stopped_reason, report.failed = f"unexpected error: {describe(err)}", True
    finally:
        client.close()
    if adapter is not None:
        records = adapter.finish(records)
        details = adapter.report()
        report.collections = details.pop("collections", {})
        report.platform_details = {**ctx.details, **details}
    report.products = len(records)
    report.platform_hint = site.platform_hint.value
    if report.platform and site.platform_hint is not Platform.auto:
        report.hint_confirmed = report.platform == site.platform_hint.value
    report.errors_total = len(report.errors)
    if report.errors_total > MAX_ERRORS_LISTED:
        log.warning("%s: %d errors; crawl.json lists the first %d", site.name, report.errors_total, MAX_ERRORS_LISTED)
        report.errors = report.errors[:MAX_ERRORS_LISTED]
    report.pages = {"opted_out": pages.pages_opted_out, "without_product": pages.pages_without_product,
                    "x_robots_tag": dict(pages.x_robots_tags), "refused_urls": dict(pages.refused_urls),
                    "finished": frontier.count()}
    report.robots = [snap.to_dict() for snap in client.robots.snapshots()]
    report.http = dict(sorted(client.stats.items()))
    report.finished_at = now_iso()
    return records, report


def site_fingerprint(site: SiteConfig, snapshot: str) -> str:
    """What decides whether a site's crawl is still current: its whole config and the snapshot tag."""
    settings = json.dumps({"site": dataclasses.asdict(site), "snapshot": snapshot}, sort_keys=True, default=str)
    return hashlib.sha256(settings.encode()).hexdigest()


@dataclass(frozen=True)
class SiteOutcome:
    """How one site's part of a run ended."""

    site: str
    # Its outputs were kept from an earlier run with the same site config and snapshot (no request made).
    kept: bool
    failed: bool
    stopped_reason: str | None


def current_outcome(out_dir: Path, fingerprint: str) -> SiteOutcome | None:
    """The site's earlier outcome when its outputs are whole, sound and from the same fingerprint."""
    report_file = out_dir / CRAWL_REPORT_FILE
    if not report_file.exists() or not (out_dir / PRODUCTS_FILE).exists():
        return None
    try:
        earlier = read_json(report_file)
    except ValueError:
        return None
    if earlier.get("fingerprint") != fingerprint or earlier.get("failed"):
        return None
    return SiteOutcome(str(earlier.get("site")), kept=True, failed=False, stopped_reason=earlier.get("stopped_reason"))


def crawl_site_outputs(site: SiteConfig, settings: CrawlConfig, web: WebConfig, *, raw_dir: Path,
                       state_dir: Path) -> SiteOutcome:
    """One site's crawl into ``<raw_dir>/<site>/``, or its outputs kept when the site config and snapshot
    are those of its last sound crawl. A killed crawl resumes from the site's frontier."""
    out_dir = raw_dir / site.name
    fingerprint = site_fingerprint(site, settings.snapshot)
    kept = current_outcome(out_dir, fingerprint)
    if kept is not None:
        log.info("%s: same site config and snapshot as its last crawl: outputs kept, nothing requested", site.name)
        return kept
    with Frontier(frontier_path(state_dir, site.name, settings.snapshot)) as frontier:
        records, report = crawl_site(site, settings, web, frontier=frontier)
    report.fingerprint = fingerprint
    write_crawl_outputs(records, report, out_dir)
    return SiteOutcome(site.name, kept=False, failed=report.failed, stopped_reason=report.stopped_reason)


def crawl_sites(sites: list[SiteConfig], settings: CrawlConfig, web: WebConfig, *, raw_dir: Path,
                state_dir: Path) -> list[SiteOutcome]:
    """Every site's crawl side by side (``crawl.parallel_sites`` at once), each alone at its own pace.

    Sites are different hosts, and each site's crawl makes one request at a time to its host, so running
    them together costs no site any politeness; the run takes about as long as the slowest site.
    """
    names = [site.name for site in sites]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise CrawlError(f"site name {', '.join(repeated)} comes more than once (in crawl.sites, or as the `name` "
                         "of two conf/site/ files): their outputs would overwrite each other")
    with ThreadPoolExecutor(max_workers=max(1, min(settings.parallel_sites, len(sites))),
                            thread_name_prefix="crawl") as pool:
        futures = [pool.submit(crawl_site_outputs, site, settings, web, raw_dir=raw_dir, state_dir=state_dir)
                   for site in sites]
        return [future.result() for future in futures]


def prune_unlisted_sites(raw_dir: Path, names: list[str]) -> list[str]:
    """Remove the output folders of sites no longer listed (the csv stage reads every folder there)."""
    stale = sorted(p.name for p in raw_dir.iterdir() if p.is_dir() and p.name not in names) if raw_dir.exists() else []
    for name in stale:
        log.info("%s is no longer in crawl.sites: removing %s", name, raw_dir / name)
        shutil.rmtree(raw_dir / name)
    return stale


def write_crawl_outputs(records: list[ProductRecord], report: CrawlReport, out_dir: Path) -> None:
    """Write products.jsonl (sorted by product id for stable diffs) and crawl.json."""
    rows = sorted((r.to_dict() for r in records), key=lambda row: row["product_id"])
    write_jsonl(out_dir / PRODUCTS_FILE, rows)
    write_json(out_dir / CRAWL_REPORT_FILE, report.__dict__)
    log.info("%s: %d products, %d errors → %s", report.site, report.products, report.errors_total, out_dir)
