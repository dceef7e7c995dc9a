"""A polite HTTP client: robots.txt, Crawl-delay, per-host spacing, retries honouring Retry-After."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import NoReturn
from urllib.parse import urljoin

from pakfashion.config import WebConfig
from pakfashion.web.optout import forbids_ai_use
from pakfashion.web.robots import RobotsCache, host_key
from pakfashion.web.throttle import HostThrottle
from pakfashion.web.transport import (
    BodyTooLargeError,
    RawResponse,
    StalledError,
    Transport,
    TransportError,
)
from pakfashion.web.urls import UrlProblem, url_problem

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
BLOCK_STATUSES = frozenset({401, 403, 430})
MAX_REDIRECTS = 5


class FetchError(Exception):
    """A URL could not be fetched (after retries where retrying made sense)."""


class RobotsDisallowedError(FetchError):
    """robots.txt forbids the URL for our agent; it was not requested."""


class RefusedUrlError(FetchError):
    """The URL is not one we request (another scheme, unparseable, another host's); nothing was sent."""

    def __init__(self, url: str, problem: UrlProblem, why: str) -> None:
        super().__init__(f"{url[:300]}: {problem.value}: {why}")


class HostBlockedError(FetchError):
    """The host keeps refusing us (401/403/430, bot challenges) or stalls: stop asking it, don't fight it."""


class HostStalledError(HostBlockedError):
    """The host went silent or dribbled past the deadline ``web.max_stalls`` times: given up."""


# Bot-challenge pages (Cloudflare, PerimeterX, Akamai, reCAPTCHA walls) answer 200 with HTML.
CHALLENGE_MARKERS = (
    b"cf-chl", b"challenge-platform", b"just a moment...", b"verify you are a human", b"are you a robot",
    b"px-captcha", b"access to this page has been denied", b"attention required! | cloudflare",
    b"g-recaptcha",
)
CHALLENGE_MAX_BYTES = 64 * 1024


def looks_like_challenge(resp: Response) -> bool:
    """A small HTML page carrying a bot-challenge marker (big product pages may embed a form captcha)."""
    if "html" not in resp.content_type or len(resp.body) > CHALLENGE_MAX_BYTES:
        return False
    lowered = resp.body.lower()
    return any(marker in lowered for marker in CHALLENGE_MARKERS)


@dataclass(frozen=True)
class Response(RawResponse):
    # Defaults only because RawResponse's last field has one; the client always sets both.
    url: str = ""
    elapsed_s: float = 0.0

    @property
    def content_type(self) -> str:
        return self.header("content-type").split(";")[0].strip().lower()


def retry_after_s(value: str, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), None if absent/bad."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def backoff_s(attempt: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**attempt))."""
    return rng.uniform(0.0, min(cap_s, base_s * (2**attempt)))


class PoliteClient:
    """GET with robots.txt checks, per-host spacing, size caps, redirects within allowed hosts, retries.

    The one HTTP client of crawl and download: both build it from the ``web`` section, adding only their
    own pacing. Counters (``stats``) are the politeness ledger: requests, retries by reason, robots
    refusals, bytes.
    """

    def __init__(
        self,
        settings: WebConfig,
        *,
        min_delay_s: float,
        pool_size: int,
        allowed_hosts: set[str] | None = None,
        max_response_bytes: int | None = None,
        deadline_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int = 0,
    ) -> None:
        """The client of the ``web`` section at a stage's own pace.

        Args:
            min_delay_s: spacing between requests to one host (a longer robots.txt Crawl-delay wins).
            pool_size: keep-alive connections per host (at least the threads sharing this client).
            allowed_hosts: hosts redirects may lead to; None allows any.
            max_response_bytes: a stage's own body cap (images); None keeps ``web.max_response_bytes``.
            deadline_s: a stage's own total deadline per request (images); None keeps ``web.deadline_s``.
        """
        self.settings = settings
        self.transport = Transport(user_agent=settings.user_agent, timeout_s=settings.timeout_s,
                                   deadline_s=settings.deadline_s if deadline_s is None else deadline_s,
                                   pool_size=pool_size)
        self.robots = RobotsCache(self.transport, user_agent=settings.user_agent)
        self.throttle = HostThrottle(min_delay_s=min_delay_s, sleep=sleep)
        self.allowed_hosts = allowed_hosts
        self.max_response_bytes = settings.max_response_bytes if max_response_bytes is None else max_response_bytes
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._refusals: Counter[str] = Counter()
        self._stalls: Counter[str] = Counter()
        # Host → why it was given up: later URLs of that host are not requested.
        self.given_up: dict[str, str] = {}
        self._sleep = sleep
        self._rng = random.Random(seed)

    def count(self, key: str, amount: int = 1) -> None:
        """Add to a politeness counter (thread-safe)."""
        with self._stats_lock:
            self.stats[key] += amount

    def refusals(self, url: str) -> int:
        """How many refusals (401/403/430, challenge pages) the host of ``url`` has given us."""
        with self._stats_lock:
            return self._refusals[host_key(url)]

    def close(self) -> None:
        self.transport.close()

    def forbids_ai_use(self, resp: Response) -> bool:
        """Whether the response's ``X-Robots-Tag`` lines say ``noai``/``noimageai`` to everyone or to us."""
        return forbids_ai_use(resp.headers.get("x-robots-tag", []), agent_token=self.robots.agent_token)

    def check_url(self, url: str) -> None:
        """RefusedUrlError unless ``url`` is an http(s) URL on an allowed host (nothing is requested)."""
        problem = url_problem(url, allowed_hosts=self.allowed_hosts)
        if problem is not None:
            self.count(f"refused_url/{problem[0].value}")
            raise RefusedUrlError(url, *problem)

    def get(self, url: str) -> Response:
        """Fetch ``url`` politely, following redirects that stay within the allowed hosts."""
        self.check_url(url)
        for _ in range(MAX_REDIRECTS + 1):
            resp = self._get_with_retries(url)
            location = resp.header("location")
            if resp.status not in (301, 302, 303, 307, 308) or not location:
                return resp
            url = self._redirect_target(url, location)
        raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")

    def _redirect_target(self, url: str, location: str) -> str:
        try:
            target = urljoin(url, location)
        except ValueError as err:
            raise FetchError(f"{url}: redirect to an unparseable Location {location[:200]!r} ({err})") from err
        problem = url_problem(target, allowed_hosts=self.allowed_hosts)
        if problem is not None:
            self.count(f"refused_redirect/{problem[0].value}")
            raise FetchError(f"{url}: redirect to {target[:300]} refused: {problem[1]}")
        return target

    def _get_with_retries(self, url: str) -> Response:
        host = host_key(url)
        if host in self.given_up:
            raise HostBlockedError(f"{url}: not requested, {host} was given up ({self.given_up[host]})")
        self._check_robots(url, host)
        for attempt in range(self.settings.max_retries + 1):
            self.throttle.wait(host)
            try:
                resp = self._request(url)
            except StalledError as err:
                self._stalled(url, host, err)
            except TransportError as err:
                if attempt == self.settings.max_retries:
                    raise FetchError(f"{url}: {err}") from err
                self._pause(host, attempt, err.reason, None)
                continue
            if resp.status in BLOCK_STATUSES or (resp.status == 200 and looks_like_challenge(resp)):
                self._refuse(url, host, f"HTTP {resp.status}" if resp.status != 200 else "bot challenge page")
            if resp.status not in RETRY_STATUSES:
                return resp
            if attempt == self.settings.max_retries:
                raise FetchError(f"{url}: HTTP {resp.status} after {attempt + 1} attempts")
            self._pause(host, attempt, f"http_{resp.status}", retry_after_s(resp.header("retry-after")))
        raise AssertionError("unreachable")

    def _refuse(self, url: str, host: str, what: str) -> NoReturn:
        """Count a refusal; the host is given up after ``web.max_refusals`` of them."""
        self.count(f"refused/{what}")
        self._strike(url, host, self._refusals, self.settings.max_refusals, "refusal", what, HostBlockedError)

    def _stalled(self, url: str, host: str, err: StalledError) -> NoReturn:
        """A stall is not retried (another wait as long); ``web.max_stalls`` of them give the host up."""
        self.count(f"stalled/{err.reason}")
        self._strike(url, host, self._stalls, self.settings.max_stalls, "stall", str(err), HostStalledError)

    def _strike(self, url: str, host: str, strikes: Counter[str], limit: int, kind: str, what: str,
                give_up: type[HostBlockedError]) -> NoReturn:
        """One more ``kind`` against ``host``: FetchError, or ``give_up`` (the host is given up) at ``limit``."""
        with self._stats_lock:
            strikes[host] += 1
            count = strikes[host]
        if count >= limit:
            self.given_up[host] = f"{count} {kind}s, the last: {what}"
            raise give_up(f"{url}: {what}; {count} {kind}s from {host}, giving the host up")
        raise FetchError(f"{url}: {what} ({kind} {count}/{limit} from {host})")

    def _check_robots(self, url: str, host: str) -> None:
        """RobotsDisallowedError unless robots.txt allows ``url``; the first check reads the file, which
        takes the host's first slot, and a Crawl-delay then spaces the next request from it."""
        if not self.robots.known(host):
            self.throttle.wait(host)
        if not self.robots.allowed(url):
            self.count("robots/forbidden")
            raise RobotsDisallowedError(f"{url}: disallowed by {host}/robots.txt")
        delay = self.robots.crawl_delay(url)
        if delay is not None and delay > self.throttle.delay_for(host):
            delay = min(delay, self.settings.max_delay_s)
            self.throttle.set_delay(host, delay)
            self.throttle.back_off(host, delay)

    def _pause(self, host: str, attempt: int, reason: str, retry_after: float | None) -> None:
        self.count(f"retry/reason/{reason}")
        pause = backoff_s(attempt, base_s=self.settings.backoff_base_s, cap_s=self.settings.max_delay_s, rng=self._rng)
        if retry_after is not None:
            if retry_after > self.settings.max_delay_s:
                raise FetchError(
                    f"{host}: Retry-After {retry_after:.0f}s exceeds web.max_delay_s={self.settings.max_delay_s}; "
                    "try again later"
                )
            pause = max(pause, retry_after)
        log.info("%s: %s, waiting %.2fs (attempt %d)", host, reason, pause, attempt + 1)
        self.throttle.back_off(host, pause)

    def _request(self, url: str) -> Response:
        started = time.monotonic()
        try:
            raw = self.transport.get(url, max_bytes=self.max_response_bytes)
        except BodyTooLargeError as err:
            raise FetchError(f"{url}: {err}") from err
        self.count("requests")
        self.count("bytes", len(raw.body))
        return Response(url=url, status=raw.status, headers=raw.headers, body=raw.body,
                        elapsed_s=time.monotonic() - started)
