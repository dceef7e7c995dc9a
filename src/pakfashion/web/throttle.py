"""Per-host request spacing: every request to a host waits for its slot (thread-safe)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class HostThrottle:
    """Space requests to each host by at least its delay (Crawl-delay or configured minimum).

    Slots are reserved under a lock, so concurrent workers share one host's rate, and a
    ``Retry-After`` pushes the host's next slot back for everyone.
    """

    def __init__(
        self,
        *,
        min_delay_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.min_delay_s = min_delay_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._delay_s: dict[str, float] = {}
        self._next_slot: dict[str, float] = {}

    def set_delay(self, host: str, delay_s: float) -> None:
        """Use ``max(delay_s, min_delay_s)`` between requests to ``host``."""
        with self._lock:
            self._delay_s[host] = max(delay_s, self.min_delay_s)

    def delay_for(self, host: str) -> float:
        """The current spacing for ``host`` in seconds."""
        with self._lock:
            return self._delay_s.get(host, self.min_delay_s)

    def wait(self, host: str) -> None:
        """Block until this caller's slot for ``host`` comes.

        A caller woken late (a busy machine oversleeps) moves the host's next free slot to a full delay after
        it really leaves, so no two requests are ever closer than the delay.
        """
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot.get(host, now))
            self._next_slot[host] = slot + self._delay_s.get(host, self.min_delay_s)
        if slot > now:
            self._sleep(slot - now)
        with self._lock:
            late = self._clock() + self._delay_s.get(host, self.min_delay_s)
            self._next_slot[host] = max(self._next_slot[host], late)

    def back_off(self, host: str, pause_s: float) -> None:
        """Push the next request to ``host`` at least ``pause_s`` into the future."""
        with self._lock:
            self._next_slot[host] = max(self._next_slot.get(host, 0.0), self._clock() + pause_s)
