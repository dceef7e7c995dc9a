"""PLACEHOLDER (being written)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pakfashion.demo.responses import Routes
from pakfashion.demo.world import DemoSite

if TYPE_CHECKING:
    from pakfashion.demo.server import DemoServer

LISTING_PATH = None


def sfcc_site(seed: int, used_ids: set[int], extra: int = 0) -> DemoSite:
    return DemoSite("demo_sfcc", "127.0.0.4", [], platform="sfcc_variants")


def routes(server: DemoServer) -> Routes:
    """The site's routes."""
    return ()
