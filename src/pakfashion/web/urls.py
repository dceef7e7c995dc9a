"""The gate every URL passes before it is requested, stored as a product page, or downloaded."""

from __future__ import annotations

import enum
import re
from urllib.parse import urlsplit

# Longer URLs are refused (browsers and CDNs stop near 8 KB; data: URLs run to megabytes).
MAX_URL_CHARS = 8192
FETCHABLE_SCHEMES = frozenset({"http", "https"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UrlProblem(str, enum.Enum):
    """Why a URL is not requested (images.csv statuses and crawl.json counts use these names)."""

    unsupported_scheme = "unsupported_scheme"
    bad_url = "bad_url"
    foreign_host = "foreign_host"


def url_problem(url: object, *, allowed_hosts: set[str] | None = None) -> tuple[UrlProblem, str] | None:
    """None when ``url`` may be requested; else what is wrong with it and why, for the record.

    Only absolute, parseable ``http``/``https`` URLs with a host pass; with ``allowed_hosts``, only
    URLs on those hosts.
    """
    if not isinstance(url, str) or not url:
        return UrlProblem.bad_url, f"not a URL: {url!r:.80}"
    if len(url) > MAX_URL_CHARS:
        return UrlProblem.bad_url, f"URL of {len(url)} characters (more than {MAX_URL_CHARS})"
    if _CONTROL.search(url):
        return UrlProblem.bad_url, "URL contains control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as err:
        return UrlProblem.bad_url, f"unparseable URL ({err})"
    scheme = parts.scheme.lower()
    if not scheme:
        return UrlProblem.bad_url, "relative URL (no scheme)"
    if scheme not in FETCHABLE_SCHEMES:
        return UrlProblem.unsupported_scheme, f"scheme {scheme!r} is not fetched (only http and https)"
    host = (parts.hostname or "").lower()
    if not host:
        return UrlProblem.bad_url, "URL without a host"
    if allowed_hosts is not None and host not in allowed_hosts:
        return UrlProblem.foreign_host, f"host {host} is outside the allowed hosts ({', '.join(sorted(allowed_hosts))})"
    return None


def is_fetchable(url: object, *, allowed_hosts: set[str] | None = None) -> bool:
    """Whether ``url`` passes :func:`url_problem`."""
    return url_problem(url, allowed_hosts=allowed_hosts) is None
