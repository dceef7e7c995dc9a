"""Shared server pieces of the demo servers: connection tracking (stopping closes idle keep-alives)
and a keep-alive request handler that looks like a storefront's nginx."""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

logger = logging.getLogger("pakfashion.demo")


class TrackedHTTPServer(ThreadingHTTPServer):
    """Threading server that remembers open connections and stays quiet when clients hang up."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        """Accept a connection and remember it so `close_connections()` can close it."""
        conn, addr = super().get_request()
        with self._connections_lock:
            self._connections.add(conn)
        return conn, addr

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        """Forget and close a finished connection."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: object, client_address: object) -> None:  # type: ignore[override]
        """Log connection errors (e.g. a client hanging up) at DEBUG instead of stderr."""
        logger.debug("connection error from %s", client_address, exc_info=True)

    def close_connections(self) -> None:
        """Shut down every connection still open (idle keep-alive ones included)."""
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class StorefrontHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler answering GET and HEAD through ``_answer``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes; avoid 40 ms stalls

    def version_string(self) -> str:
        """Return the Server header value (storefronts sit behind nginx/Cloudflare)."""
        return "nginx"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        """Answer GET."""
        self._answer(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        """Answer HEAD: the GET headers, no body."""
        self._answer(head=True)

    def _answer(self, head: bool) -> None:
        raise NotImplementedError
