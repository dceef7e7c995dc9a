"""A crawl's SQLite (WAL) ledger of finished pages, so a killed crawl resumes without refetching.

One database per site and snapshot: a page's extracted result is committed the moment the page is
done, so after SIGKILL at most the pages in flight are fetched again; a new ``crawl.snapshot`` starts
a new ledger (a fresh crawl), the same snapshot reuses it.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    url TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    payload TEXT NOT NULL,
    done_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
)
"""


def frontier_path(state_dir: Path, site: str, snapshot: str) -> Path:
    """``<state>/crawl/<site>/<snapshot>.sqlite`` with the snapshot made filename-safe."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", snapshot) or "default"
    return state_dir / "crawl" / site / f"{safe}.sqlite"


class Frontier:
    """Finished pages of one crawl: ``get(url)`` returns what a page gave, ``put`` records it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def get(self, url: str) -> tuple[str, Any] | None:
        """``(status, payload)`` of a finished page, or None if it still has to be fetched."""
        with self._lock:
            row = self._db.execute("SELECT status, payload FROM pages WHERE url = ?", (url,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def put(self, url: str, status: str, payload: Any) -> None:
        """Record a finished page (committed at once: WAL + autocommit)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO pages (url, status, payload) VALUES (?, ?, ?)",
                (url, status, json.dumps(payload, ensure_ascii=False)),
            )

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM pages").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Frontier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
