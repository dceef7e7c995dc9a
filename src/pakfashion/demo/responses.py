"""What every demo storefront answers with: a complete response and the content types it uses."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pakfashion.demo.world import DemoSite

JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
XML = "application/xml; charset=utf-8"
GZIP = "application/x-gzip"

@dataclass(frozen=True)
class Response:
    """A complete response: status, body, content type and extra headers."""

    status: int
    body: bytes
    content_type: str = HTML
    headers: tuple[tuple[str, str], ...] = ()


# A route: the site, the path's match of the route's pattern, and the query's parameters.
Route = Callable[["DemoSite", re.Match[str], dict[str, list[str]]], Response]
Routes = tuple[tuple[re.Pattern[str], Route], ...]
