"""PLACEHOLDER (being written)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pakfashion.demo.responses import Routes

if TYPE_CHECKING:
    from pakfashion.demo.server import DemoServer

LISTING_PATH = "/graphql"


def routes(server: DemoServer) -> Routes:
    """The site's routes."""
    return ()
