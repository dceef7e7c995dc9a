"""Keep-alive HTTP GETs on urllib3 pools: no redirects or retries of its own, bodies size-capped.

The politeness layer (http.py, robots.py) decides what to fetch and when; this only moves bytes.
urllib3 directly costs less than half the CPU per request that requests' session layer does, which
matters at thousands of images per second.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError


class TransportError(Exception):
    """The connection failed, timed out or broke off mid-body (worth a retry)."""


class BodyTooLargeError(Exception):
    """The body is larger than allowed (not worth a retry)."""


@dataclass(frozen=True)
class RawResponse:
    status: int
    # Lower-cased names; a header sent several times keeps each line's value, in order.
    headers: dict[str, list[str]]
    body: bytes

    def header(self, name: str) -> str:
        """A header's lines joined by ", " (RFC 9110 §5.3), "" when absent."""
        return ", ".join(self.headers.get(name.lower(), []))


class Transport:
    """GET over pooled keep-alive connections; proxies from the environment (``no_proxy`` honoured)."""

    def __init__(self, *, user_agent: str, timeout_s: float, pool_size: int) -> None:
        self._headers = {"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"}
        self._timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
        self._direct = urllib3.PoolManager(maxsize=pool_size, block=False, retries=False)
        self._proxies = urllib.request.getproxies()
        self._via_proxy: dict[str, urllib3.ProxyManager] = {}
        self._pool_size = pool_size

    def _manager(self, url: str) -> urllib3.PoolManager:
        parts = urlsplit(url)
        proxy = self._proxies.get(parts.scheme)
        if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
            return self._direct
        if proxy not in self._via_proxy:
            self._via_proxy[proxy] = urllib3.ProxyManager(proxy, maxsize=self._pool_size, retries=False)
        return self._via_proxy[proxy]

    def get(self, url: str, *, max_bytes: int) -> RawResponse:
        """One GET, body read up to ``max_bytes`` (BodyTooLargeError past it)."""
        try:
            raw = self._manager(url).request("GET", url, headers=self._headers, timeout=self._timeout,
                                             redirect=False, retries=False, preload_content=False)
        except HTTPError as err:
            raise TransportError(f"{type(err).__name__}: {err}") from err
        try:
            headers: dict[str, list[str]] = {}
            for name, value in raw.headers.items():
                headers.setdefault(name.lower(), []).append(value)
            declared = headers.get("content-length", [""])[0]
            if declared.isdigit() and int(declared) > max_bytes:
                raise BodyTooLargeError(f"Content-Length {declared} exceeds the {max_bytes}-byte cap")
            return RawResponse(raw.status, headers, self._read_capped(raw, max_bytes))
        except HTTPError as err:
            raise TransportError(f"{type(err).__name__} while reading the body: {err}") from err
        finally:
            raw.release_conn()

    @staticmethod
    def _read_capped(raw: urllib3.BaseHTTPResponse, max_bytes: int) -> bytes:
        chunks, size = [], 0
        for chunk in raw.stream(65536, decode_content=True):
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLargeError(f"body exceeds the {max_bytes}-byte cap")
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self._direct.clear()
        for manager in self._via_proxy.values():
            manager.clear()
