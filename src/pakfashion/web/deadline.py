"""A total deadline per request (connect, headers and body together), kept by one watchdog thread.

Socket timeouts bound each read, not the whole response: a host that sends a byte every two seconds
never trips a 30 s read timeout. Like Scrapy's ``DOWNLOAD_TIMEOUT`` (a timer that cancels the
connection), the watchdog shuts down the socket of a request that runs past its deadline, which ends
whatever read is blocked on it; the transport then reports the deadline, not a broken connection.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class Deadline:
    """One request's deadline; the socket it reads from is shut down when the deadline passes."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.seconds = seconds
        self.expired = False
        self.done = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        """Watch ``sock`` (the connection the request's response is read from)."""
        with self._lock:
            self._sock = sock
            if self.expired:
                _shutdown(sock)

    def expire(self) -> None:
        with self._lock:
            if not self.done:
                self.expired = True
                _shutdown(self._sock)

    def remaining_s(self) -> float:
        return self.at - time.monotonic()


def _shutdown(sock: socket.socket | None) -> None:
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


class Watchdog:
    """One daemon thread that expires deadlines in time order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        threading.Thread(target=self._run, name="http-deadlines", daemon=True).start()

    @contextmanager
    def watch(self, seconds: float) -> Iterator[Deadline]:
        """A deadline ``seconds`` from now for the requests made in this thread inside the block."""
        deadline = Deadline(seconds)
        with self._wake:
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._heap[0][2] is deadline:
                self._wake.notify()
        previous, _current.deadline = getattr(_current, "deadline", None), deadline
        try:
            yield deadline
        finally:
            _current.deadline = previous
            with deadline._lock:
                deadline.done = True

    def _run(self) -> None:
        with self._wake:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._heap)[2].expire()


WATCHDOG = Watchdog()


class _WatchedConnection:
    """Attaches the connection's socket to the calling thread's deadline before the headers are read."""

    sock: socket.socket | None

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        deadline = getattr(_current, "deadline", None)
        if deadline is not None:
            deadline.attach(self.sock)
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class WatchedHTTPConnection(_WatchedConnection, HTTPConnection):
    pass


class WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


# For urllib3's PoolManager.pool_classes_by_scheme.
WATCHED_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": WatchedHTTPPool, "https": WatchedHTTPSPool}
