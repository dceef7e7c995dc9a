"""A crawl killed with SIGKILL resumes from its frontier: same products, almost nothing fetched twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pakfashion.config import CrawlConfig
from pakfashion.crawling.site import crawl_site
from pakfashion.web.frontier import Frontier
from tests.helpers import configured, quick_web, site_settings
from tests.helpers.crawl import kill_crawl_after

pytestmark = [pytest.mark.network, pytest.mark.slow]

# Product pages only: collection membership is read after the listing and has its own resume test.
SETTINGS = configured(CrawlConfig, "crawl.collections.terms=[]", snapshot="kill-test", min_delay_s=0.0, page_size=4)
WEB = quick_web(timeout_s=10.0)
def crawl_in_process(base_url: str, db: Path) -> list[dict]:
    with Frontier(db) as frontier:
        records, report = crawl_site(site_settings("demo_shop", base_url), SETTINGS, WEB, frontier=frontier)
    assert not report.errors
    return sorted(({k: v for k, v in r.to_dict().items() if k != "crawled_at"} for r in records),
                  key=lambda row: row["product_id"])


def listing_requests(demo_store) -> Counter[str]:  # noqa: ANN001
    return Counter(f"{r.path}?{r.query}" for r in demo_store.request_log
                   if r.site == "demo_shop" and r.path == "/products.json")


def test_sigkill_then_resume_equals_an_uninterrupted_crawl(tmp_path: Path, demo_store) -> None:  # noqa: ANN001
    base = demo_store.base_url("demo_shop")
    demo_store.faults.slow_s = 0.15
    db = tmp_path / "frontier.sqlite"
    done_at_kill = kill_crawl_after(4, db, site_settings("demo_shop", base), SETTINGS, WEB)
    # Pages of 4 up to the first short (or empty) one that ends the listing.
    pages = len(demo_store.world.products("demo_shop")) // 4 + 1
    assert 4 <= done_at_kill < pages, "kill the crawl halfway"
    before_resume = listing_requests(demo_store)

    resumed = crawl_in_process(base, db)
    after = listing_requests(demo_store)
    fetched_twice = [url for url, n in after.items() if n > 1]
    assert len(fetched_twice) <= 1, f"only the page in flight at the kill may be fetched again: {fetched_twice}"
    assert sum(after.values()) - sum(before_resume.values()) == pages - done_at_kill  # no probe, no finished page

    demo_store.faults.slow_s = 0.0
    uninterrupted = crawl_in_process(base, tmp_path / "fresh.sqlite")
    assert resumed == uninterrupted
    assert len(resumed) == len(demo_store.world.products("demo_shop"))
