"""One site's probe: robots.txt (verdict, Crawl-delay, Content-Signal, sitemaps), then its platform.

The probe starts as a crawl starts (:func:`pakfashion.crawling.site.check_robots`, then
:func:`pakfashion.crawling.site.detect_platform`, the site's hint probed first) and stops there: a Shopify
store costs robots.txt and one ``/products.json?limit=1`` page, a sitemap store its sitemaps. The probe's
frontier is a temporary file, so nothing of it is kept.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pakfashion.common.errors import describe
from pakfashion.config import CrawlConfig, Platform, SiteConfig, WebConfig
from pakfashion.crawling.site import (
    CrawlError,
    NothingForUs,
    build_client,
    check_robots,
    crawl_context,
    detect_platform,
)
from pakfashion.web import HostBlockedError, PoliteClient
from pakfashion.web.frontier import Frontier

log = logging.getLogger(__name__)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class RobotsVerdict(str, enum.Enum):
    """What robots.txt says to our agent, as the crawl reads it (RFC 9309)."""

    allows = "allows us"
    # robots.txt answered 4xx: allow all.
    no_file = "allows us (no robots.txt)"
    # Both the home page and the product listing are disallowed for our agent.
    disallows = "disallows us"
    # robots.txt answered 5xx: disallow all until it can be read.
    unreadable = "unreadable"
    # robots.txt could not be fetched at all (DNS, connection, TLS): the host is not reachable.
    unreachable = "not read"


@dataclass(frozen=True)
class SiteProbe:
    """What probing one site found."""

    site: str
    base_url: str
    # The platform the site's config expects: site.platform when forced, else site.platform_hint.
    expected: str
    robots: RobotsVerdict
    robots_url: str = ""
    robots_status: int | None = None
    robots_sha256: str = ""
    # Where robots.txt redirected to (another host may be the site's real base URL).
    robots_redirects: list[str] = field(default_factory=list)
    crawl_delay_s: float | None = None
    content_signals: dict[str, str] = field(default_factory=dict)
    sitemaps: list[str] = field(default_factory=list)
    # The detected platform ("" when not probed or not recognised) and what recognised it.
    platform: str = ""
    evidence: str = ""
    # Whether the platform was probed (not when robots.txt shuts us out, nor for an opted-out site).
    platform_probed: bool = False
    # Why the site cannot be crawled as it is, or why the platform is unknown ("" when all is well).
    problem: str = ""

    @property
    def reachable(self) -> bool:
        """Whether the host answered at all (its robots.txt, whatever the status)."""
        return self.robots is not RobotsVerdict.unreachable

    @property
    def opted_out(self) -> bool:
        """Whether robots.txt declares ``Content-Signal: ai-train=no``."""
        return self.content_signals.get("ai-train") == "no"

    @property
    def hint_confirmed(self) -> bool | None:
        """Whether the detected platform is the expected one (None: nothing expected, or nothing found)."""
        if not self.platform or self.expected == Platform.auto.value:
            return None
        return self.platform == self.expected

    @property
    def content_signal_text(self) -> str:
        """``search=yes, ai-train=no`` as robots.txt declared it, or "" when it declares none."""
        return ", ".join(f"{key}={value}" for key, value in self.content_signals.items())


def expected_platform(site: SiteConfig) -> Platform:
    """The platform a site's config expects: a forced ``platform``, else its ``platform_hint``."""
    return site.platform if site.platform is not Platform.auto else site.platform_hint


def robots_verdict(client: PoliteClient, site: SiteConfig) -> tuple[RobotsVerdict, str]:
    """The robots.txt verdict for our agent on the site, and the problem it makes ("" when none)."""
    snapshot = client.robots.snapshot(site.base_url)
    try:
        check_robots(client, site)
    except NothingForUs as err:
        return RobotsVerdict.disallows, str(err)
    except CrawlError:
        if snapshot.status is None:
            return RobotsVerdict.unreachable, f"{site.base_url} is unreachable ({snapshot.error})"
        return RobotsVerdict.unreadable, (f"{snapshot.url} answered {snapshot.error}: RFC 9309 treats the site as "
                                          "disallowed until it can be read; try again later")
    if snapshot.policy == "allow_all":
        return RobotsVerdict.no_file, ""
    return RobotsVerdict.allows, ""


def detect(client: PoliteClient, frontier: Frontier, site: SiteConfig, settings: CrawlConfig) -> tuple[str, str, str]:
    """``(platform, evidence, problem)`` of the crawl's own detection, probing the site's hint first.

    A forced ``site.platform`` is probed like a hint, so it is checked too, not taken on trust.
    """
    errors: list[str] = []
    probed = dataclasses.replace(site, platform=Platform.auto, platform_hint=expected_platform(site))
    try:
        adapter, evidence = detect_platform(crawl_context(client, frontier, probed, settings, errors))
    except HostBlockedError as err:
        return "", "", f"blocked while probing: {describe(err, with_type=False)}"
    except CrawlError as err:  # names everything detection tried
        return "", "", describe(err, with_type=False)
    except Exception as err:  # noqa: BLE001 (one site's failed probe must not cost the others their rows)
        log.exception("%s: probing the platform failed", site.name)
        return "", "", f"probe failed: {describe(err)}"
    return adapter.platform.value, evidence, ""


def probe_site(site: SiteConfig, settings: CrawlConfig, web: WebConfig, *, probe_opted_out: bool = False) -> SiteProbe:
    """Probe one site: robots.txt first; its platform only when robots.txt lets us in and, unless
    ``probe_opted_out``, the site does not declare ``Content-Signal: ai-train=no`` (as a crawl would)."""
    log.info("%s: probing %s", site.name, site.base_url)
    client = build_client(web, settings, site)
    try:
        verdict, problem = robots_verdict(client, site)
        snapshot = client.robots.snapshot(site.base_url)
        probe = SiteProbe(
            site=site.name, base_url=site.base_url, expected=expected_platform(site).value, robots=verdict,
            robots_url=snapshot.url, robots_status=snapshot.status,
            robots_sha256=snapshot.sha256 if snapshot.text else "", robots_redirects=list(snapshot.redirects),
            crawl_delay_s=client.robots.crawl_delay(site.base_url) if snapshot.policy == "parsed" else None,
            content_signals=dict(snapshot.content_signals), sitemaps=client.robots.sitemaps(site.base_url),
            problem=problem,
        )
        if not problem and probe.opted_out and not probe_opted_out:
            probe = dataclasses.replace(probe, problem="robots.txt declares Content-Signal ai-train=no: "
                                                       "the platform was not probed")
        elif not problem:
            with tempfile.TemporaryDirectory(prefix="pakfashion-probe-") as tmp, \
                    Frontier(Path(tmp) / "probe.sqlite") as frontier:
                platform, evidence, problem = detect(client, frontier, site, settings)
            probe = dataclasses.replace(probe, platform=platform, evidence=evidence, problem=problem,
                                        platform_probed=True)
        return probe
    finally:
        client.close()


def probe_sites(sites: list[SiteConfig], settings: CrawlConfig, web: WebConfig) -> list[SiteProbe]:
    """Every site's probe, side by side (``crawl.parallel_sites`` at once, each alone on its host), in order."""
    if not sites:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(settings.parallel_sites, len(sites))),
                            thread_name_prefix="probe") as pool:
        return list(pool.map(lambda site: probe_site(site, settings, web), sites))


def one_line(text: str, limit: int = 300) -> str:
    """Text from the web (or an error) as one line: no control characters, at most ``limit`` long."""
    flat = _CONTROL.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# A note under the table is cut here (the whole error is in the log).
NOTE_CHARS = 200
TABLE_COLUMNS = ("site", "platform", "hint", "reachable", "robots", "crawl-delay", "content-signal")


def hint_cell(probe: SiteProbe) -> str:
    """The expected platform and whether detection confirmed it."""
    confirmed = probe.hint_confirmed
    return probe.expected if confirmed is None else f"{probe.expected} ({'confirmed' if confirmed else 'differs'})"


def table_row(probe: SiteProbe) -> tuple[str, ...]:
    """One site's row, cells in TABLE_COLUMNS order ("-" for nothing)."""
    delay = f"{probe.crawl_delay_s:g}s" if probe.crawl_delay_s is not None else "-"
    return (probe.site, probe.platform or "-", hint_cell(probe), "yes" if probe.reachable else "no",
            probe.robots.value, delay, probe.content_signal_text or "-")


def probe_table(probes: list[SiteProbe]) -> str:
    """The probes as an aligned text table, then one line per site with a problem."""
    rows = [TABLE_COLUMNS, *(table_row(probe) for probe in probes)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(TABLE_COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    notes = [one_line(f"{probe.site}: {probe.problem}", NOTE_CHARS) for probe in probes if probe.problem]
    return "\n".join(lines + ([""] + notes if notes else []))
