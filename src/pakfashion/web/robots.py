"""robots.txt per host with Protego, following RFC 9309 for unreachable files."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

from protego import Protego

from pakfashion.web.transport import RawResponse, Transport, TransportError
from pakfashion.web.urls import is_fetchable

log = logging.getLogger(__name__)

# RFC 9309: crawlers must parse at least 500 KiB of a robots.txt.
ROBOTS_MAX_BYTES = 512 * 1024
ROBOTS_MAX_REDIRECTS = 5
_CONTENT_SIGNAL = re.compile(r"^\s*content-signal\s*:\s*(?P<value>.+?)\s*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class RobotsSnapshot:
    """What a host's robots.txt said when we read it (recorded in crawl.json)."""

    url: str
    status: int | None
    text: str
    fetched_at: str
    # allow_all: 4xx or empty; disallow_all: 5xx or unreachable (RFC 9309 §2.3.1); parsed otherwise.
    policy: str
    error: str | None = None
    content_signals: dict[str, str] = field(default_factory=dict)
    # Where robots.txt redirected to, in order (RFC 9309 §2.3.1.2: the last one is the file read).
    redirects: list[str] = field(default_factory=list)
    # Bytes beyond ROBOTS_MAX_BYTES were not read (RFC 9309 §2.5); the rules are the first part's.
    truncated: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, object]:
        return {
            "url": self.url,
            "status": self.status,
            "policy": self.policy,
            "sha256": self.sha256,
            "fetched_at": self.fetched_at,
            "error": self.error,
            "content_signals": self.content_signals,
            "redirects": self.redirects,
            "truncated": self.truncated,
            "text": self.text,
        }


def parse_content_signals(text: str) -> dict[str, str]:
    """Parse ``Content-Signal: search=yes, ai-train=no`` lines into ``{"ai-train": "no", ...}``."""
    signals: dict[str, str] = {}
    for match in _CONTENT_SIGNAL.finditer(text):
        for part in match.group("value").split(","):
            key, _, value = part.partition("=")
            if key.strip() and value.strip():
                signals[key.strip().lower()] = value.strip().lower()
    return signals


def host_key(url: str) -> str:
    """``scheme://netloc`` of a URL: robots.txt and rate limits apply per this key."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class RobotsCache:
    """Fetch each host's robots.txt once and answer ``allowed(url)`` and ``crawl_delay(url)``."""

    def __init__(self, transport: Transport, *, user_agent: str) -> None:
        self._transport = transport
        # Groups in robots.txt name the product token, not the whole User-Agent header.
        self.agent_token = user_agent.split("/", 1)[0].strip()
        self._lock = threading.Lock()
        self._parsers: dict[str, Protego | None] = {}
        self._snapshots: dict[str, RobotsSnapshot] = {}

    def snapshot(self, url: str) -> RobotsSnapshot:
        """The robots.txt record for the host of ``url`` (fetched on first use)."""
        self._ensure(host_key(url))
        return self._snapshots[host_key(url)]

    def known(self, host: str) -> bool:
        """Whether the robots.txt of ``host`` (a :func:`host_key`) has been read."""
        with self._lock:
            return host in self._snapshots

    def snapshots(self) -> list[RobotsSnapshot]:
        """Every robots.txt read so far."""
        return list(self._snapshots.values())

    def allowed(self, url: str) -> bool:
        """Whether our agent may fetch ``url``."""
        host = host_key(url)
        self._ensure(host)
        snapshot = self._snapshots[host]
        if snapshot.policy == "disallow_all":
            return False
        parser = self._parsers[host]
        return parser is None or parser.can_fetch(url, self.agent_token)

    def crawl_delay(self, url: str) -> float | None:
        """The Crawl-delay for our agent on the host of ``url``, if the file sets one."""
        host = host_key(url)
        self._ensure(host)
        parser = self._parsers[host]
        delay = parser.crawl_delay(self.agent_token) if parser is not None else None
        return float(delay) if delay is not None else None

    def sitemaps(self, url: str) -> list[str]:
        """The ``Sitemap:`` URLs of the host's robots.txt, once each (Shopify repeats them per group)."""
        host = host_key(url)
        self._ensure(host)
        parser = self._parsers[host]
        return list(dict.fromkeys(parser.sitemaps)) if parser is not None else []

    def _ensure(self, host: str) -> None:
        with self._lock:
            if host not in self._snapshots:
                snapshot = self._fetch(host)
                self._snapshots[host] = snapshot
                self._parsers[host] = Protego.parse(snapshot.text) if snapshot.policy == "parsed" else None

    def _get_following_redirects(self, url: str, redirects: list[str]) -> RawResponse:
        """GET robots.txt, following up to five redirects (RFC 9309 §2.3.1.2), e.g. http → https://www.

        Only the first ROBOTS_MAX_BYTES are read; each redirect target is appended to ``redirects``.
        """
        resp = self._transport.get(url, max_bytes=ROBOTS_MAX_BYTES, truncate=True)
        for _ in range(ROBOTS_MAX_REDIRECTS):
            location = resp.header("location")
            if resp.status not in (301, 302, 303, 307, 308) or not location:
                break
            target = urljoin(redirects[-1] if redirects else url, location)
            if not is_fetchable(target):
                raise TransportError("bad_redirect", f"robots.txt redirects to {target[:200]!r}")
            redirects.append(target)
            resp = self._transport.get(target, max_bytes=ROBOTS_MAX_BYTES, truncate=True)
        return resp

    def _fetch(self, host: str) -> RobotsSnapshot:
        url = f"{host}/robots.txt"
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        redirects: list[str] = []
        try:
            resp = self._get_following_redirects(url, redirects)
        except (TransportError, ValueError) as err:
            log.warning("robots.txt unreachable at %s (%s): disallowing the host (RFC 9309)", url, err)
            return RobotsSnapshot(url, None, "", now, "disallow_all", error=str(err), redirects=redirects)
        if resp.status >= 500:
            log.warning("robots.txt at %s answered %d: disallowing the host (RFC 9309)", url, resp.status)
            return RobotsSnapshot(url, resp.status, "", now, "disallow_all", error=f"HTTP {resp.status}",
                                  redirects=redirects)
        if resp.status >= 400 or 300 <= resp.status < 400:
            # 4xx, or redirects beyond the five we follow: "unavailable", allow all (RFC 9309 §2.3.1).
            log.info("robots.txt at %s answered %d: allowing all (RFC 9309)", url, resp.status)
            return RobotsSnapshot(url, resp.status, "", now, "allow_all", redirects=redirects)
        body = resp.body
        if resp.truncated:
            # Rules are lines: drop the line the cap cut in two.
            body = body[: body.rfind(b"\n") + 1]
            log.warning("robots.txt at %s is larger than %d bytes: reading only its first part (RFC 9309 §2.5)",
                        url, ROBOTS_MAX_BYTES)
        text = body.decode("utf-8", errors="replace")
        return RobotsSnapshot(url, resp.status, text, now, "parsed", content_signals=parse_content_signals(text),
                              redirects=redirects, truncated=resp.truncated)
