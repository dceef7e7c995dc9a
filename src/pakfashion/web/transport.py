"""Keep-alive HTTP GETs on a ``requests.Session``: no redirects or retries of its own, bodies capped.

The politeness layer (http.py, robots.py) decides what to fetch and when; this only moves bytes. Every
request has a total deadline (connect, headers and body, :mod:`pakfashion.web.deadline`) on top of the
per-read timeout, and a body cap that counts decoded bytes (Content-Encoding gzip/deflate), streaming.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from pakfashion.common.errors import describe
from pakfashion.web.deadline import WATCHDOG, WATCHED_POOLS, Deadline

CHUNK_BYTES = 65536


class TransportError(Exception):
    """The connection failed, timed out or broke off mid-body; ``reason`` names which."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class StalledError(TransportError):
    """The host went silent past the read timeout, or the response ran past its total deadline."""


class BodyTooLargeError(Exception):
    """The body is larger than allowed (not worth a retry)."""


@dataclass(frozen=True)
class RawResponse:
    status: int
    # Lower-cased names; a header sent several times keeps each line's value, in order.
    headers: dict[str, list[str]]
    body: bytes
    # The body was cut at the cap (only when the caller asked for a prefix, as robots.txt does).
    truncated: bool = False

    def header(self, name: str) -> str:
        """A header's lines joined by ", " (RFC 9110 §5.3), "" when absent."""
        return ", ".join(self.headers.get(name.lower(), []))


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter on connection pools whose sockets the deadline watchdog can shut down."""

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: object) -> object:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = WATCHED_POOLS
        return manager


class Transport:
    """GET over pooled keep-alive connections; proxies from the environment (``no_proxy`` honoured)."""

    def __init__(self, *, user_agent: str, timeout_s: float, deadline_s: float, pool_size: int) -> None:
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self._session = requests.Session()
        # Proxies come from the environment once per host (below), not per request: trust_env would also
        # read ~/.netrc and the proxy variables on every request, the bulk of requests' per-request cost.
        self._session.trust_env = False
        self._env_proxies = urllib.request.getproxies()
        self._proxies_by_host: dict[str, dict[str, str]] = {}
        self._headers = {"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate", "Accept": "*/*"}
        adapter = _WatchedAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def get(self, url: str, *, max_bytes: int, truncate: bool = False) -> RawResponse:
        """One GET within the total deadline, body read up to ``max_bytes``.

        Past the cap: BodyTooLargeError, or with ``truncate`` the first ``max_bytes`` bytes, marked.
        """
        with WATCHDOG.watch(self.deadline_s) as deadline:
            try:
                resp = self._session.send(self._prepared(url), stream=True, allow_redirects=False,
                                          timeout=self.timeout_s, proxies=self._proxies(url))
            except requests.RequestException as err:
                raise self._error(err, deadline, "while connecting or reading the headers") from err
            try:
                headers: dict[str, list[str]] = {}
                for name, value in resp.raw.headers.items():
                    headers.setdefault(name.lower(), []).append(value)
                declared = headers.get("content-length", [""])[0]
                if not truncate and declared.isdigit() and int(declared) > max_bytes:
                    raise BodyTooLargeError(f"Content-Length {declared} exceeds the {max_bytes}-byte cap")
                body, truncated = self._read_capped(resp, max_bytes, truncate, deadline)
                return RawResponse(resp.status_code, headers, body, truncated)
            except requests.RequestException as err:
                raise self._error(err, deadline, "while reading the body") from err
            finally:
                resp.close()

    def _prepared(self, url: str) -> requests.PreparedRequest:
        """The GET as sent: our headers only (no session cookies or auth to merge: the crawler keeps none)."""
        prepared = requests.PreparedRequest()
        prepared.prepare(method="GET", url=url, headers=self._headers)
        return prepared

    def _proxies(self, url: str) -> dict[str, str]:
        """The environment's proxies for the URL's host (``no_proxy`` honoured), worked out once per host."""
        host = urlsplit(url).hostname or ""
        if host not in self._proxies_by_host:
            bypass = not self._env_proxies or urllib.request.proxy_bypass(host)
            self._proxies_by_host[host] = {} if bypass else {
                scheme: address for scheme, address in self._env_proxies.items() if scheme in ("http", "https")}
        return self._proxies_by_host[host]

    def _read_capped(self, resp: requests.Response, max_bytes: int, truncate: bool,
                     deadline: Deadline) -> tuple[bytes, bool]:
        chunks, size = [], 0
        for chunk in resp.iter_content(CHUNK_BYTES):
            if deadline.expired or deadline.remaining_s() <= 0:
                raise self._past_deadline(deadline, size)
            size += len(chunk)
            if size > max_bytes:
                if truncate:
                    chunks.append(chunk[: len(chunk) - (size - max_bytes)])
                    return b"".join(chunks), True
                raise BodyTooLargeError(f"body exceeds the {max_bytes}-byte cap")
            chunks.append(chunk)
        if deadline.expired:
            raise self._past_deadline(deadline, size)
        return b"".join(chunks), False

    def _error(self, err: requests.RequestException, deadline: Deadline, when: str) -> TransportError:
        if deadline.expired:
            return self._past_deadline(deadline, None)
        if isinstance(err, requests.Timeout):
            return StalledError("timeout", f"no data for {self.timeout_s:g} s {when}")
        return TransportError(type(err).__name__, f"{when}: {describe(err, with_type=False)}")

    @staticmethod
    def _past_deadline(deadline: Deadline, read: int | None) -> StalledError:
        got = f" ({read} bytes read)" if read is not None else ""
        return StalledError("deadline", f"the response took longer than the {deadline.seconds:g} s deadline{got}")

    def close(self) -> None:
        self._session.close()

