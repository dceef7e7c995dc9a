"""Polite HTTP for crawl and download: identity, robots.txt, per-host throttle, retries."""

from pakfashion.web.http import (
    FetchError,
    HostBlockedError,
    HostStalledError,
    PoliteClient,
    RefusedUrlError,
    Response,
    RobotsDisallowedError,
)
from pakfashion.web.robots import RobotsCache, RobotsSnapshot
from pakfashion.web.throttle import HostThrottle

__all__ = [
    "FetchError",
    "HostBlockedError",
    "HostStalledError",
    "HostThrottle",
    "PoliteClient",
    "RefusedUrlError",
    "Response",
    "RobotsCache",
    "RobotsDisallowedError",
    "RobotsSnapshot",
]
