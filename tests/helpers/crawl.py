"""What the crawl tests of every platform share: the demo store's fault matrix, the politeness check, and a
crawl killed with SIGKILL in a child process."""

from __future__ import annotations

import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pakfashion.config import CrawlConfig, SiteConfig, WebConfig
from tests.helpers import child_pythonpath

# Every demo-store fault a crawl must survive without losing a product: (name, Faults switches).
FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("none", {}),
    ("429_retry_after", {"rate_limit_every": 3}),
    ("intermittent_500", {"error_500_every": 4}),
    ("slow", {"slow_s": 0.05}),
    ("truncated_json", {"truncate_json_every": 2}),
    ("html_instead_of_json", {"html_instead_of_json_every": 3}),
    ("control_characters", {"control_chars": True}),
    ("redirect_traps", {"redirect_traps": True}),
]


def assert_polite(demo, name: str) -> None:  # noqa: ANN001
    """robots.txt came first, and no disallowed page or prefix of the demo site was requested."""
    site = demo.world.sites[name]
    private = set(getattr(site, "disallowed_pages", []))
    requested = [r.path for r in demo.request_log if r.site == name]
    assert not [p for p in requested if p in private or any(p.startswith(d) for d in site.disallowed_prefixes)]
    assert requested[0] == "/robots.txt"


# The child crawls the site with the settings pickled to argv[2], into the frontier at argv[1].
CHILD = """
import pickle
import sys
from pathlib import Path
from pakfashion.crawling.site import crawl_site
from pakfashion.web.frontier import Frontier
site, settings, web = pickle.loads(Path(sys.argv[2]).read_bytes())
with Frontier(Path(sys.argv[1])) as frontier:
    crawl_site(site, settings, web, frontier=frontier)
"""


def finished_pages(db: Path) -> int:
    """Listing pages a frontier holds as finished."""
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM pages WHERE status = 'ok'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def kill_crawl_after(pages: int, db: Path, site: SiteConfig, settings: CrawlConfig, web: WebConfig) -> int:
    """Crawl in a child process, SIGKILL it once ``pages`` listing pages are finished (or after 60 s), and
    return how many were finished then."""
    pickled = db.with_suffix(".pickle")
    pickled.write_bytes(pickle.dumps((site, settings, web)))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(pickled)],
                             env={**os.environ, "PYTHONPATH": child_pythonpath()})
    deadline = time.monotonic() + 60
    while finished_pages(db) < pages and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    time.sleep(0.3)  # let the server finish (and log) the response that was in flight
    return finished_pages(db)
