"""A scripted loopback HTTP server for unit tests of the web layer (like img2dataset's http_server).

A route answers with :class:`Reply` objects in order, or with a behaviour: a function given the request
handler, for the hostile cases that no well-formed reply can express (dribbled bytes, a stalled
connection, a body that never ends).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    # A list sends the header once per value.
    headers: dict[str, str | list[str]] = field(default_factory=dict)


Behaviour = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Script:
    """path → list of replies or behaviours served in order (the last one repeats); every request is logged."""

    routes: dict[str, list[Reply | Behaviour]]
    log: list[tuple[str, str]] = field(default_factory=list)
    # time.monotonic() of each logged request, in order.
    times: list[float] = field(default_factory=list)

    def next_reply(self, path: str) -> Reply | Behaviour:
        replies = self.routes.get(path) or self.routes.get(path.split("?")[0]) or [Reply(404, b"not found")]
        return replies.pop(0) if len(replies) > 1 else replies[0]

    def paths(self) -> list[str]:
        return [path for path, _ in self.log]


@contextmanager
def scripted_server(routes: dict[str, list[Reply | Behaviour]], *, host: str = "127.0.0.1") -> Iterator[tuple[str, Script]]:
    """Serve ``routes`` on ``host`` (a loopback address); yields (base_url, script)."""
    script = Script(routes)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            script.log.append((self.path, self.headers.get("User-Agent", "")))
            script.times.append(time.monotonic())
            reply = script.next_reply(self.path)
            if callable(reply):
                reply(self)
                return
            self.send_response(reply.status)
            for key, values in reply.headers.items():
                for value in [values] if isinstance(values, str) else values:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    # A client that hangs up on a hostile reply (a deadline, a size cap) is the point, not a server error.
    server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}", script
    finally:
        server.shutdown()
        server.server_close()
