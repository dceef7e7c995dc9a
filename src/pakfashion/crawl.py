"""Stage `crawl` (one run per site): a retailer's public catalog → products.jsonl + crawl.json.

Reads ``conf/site/<site>.yaml`` and the ``crawl`` and ``web`` params; writes ``<paths.raw>/<site>/products.jsonl``
(one :class:`ProductRecord` per line) and ``<paths.raw>/<site>/crawl.json`` (platform detected,
robots.txt snapshot and opt-out signals, counts, errors, dates).
"""

from __future__ import annotations

from typing import Any

from pakfashion.config import (
    CrawlConfig,
    PathsConfig,
    SiteConfig,
    WebConfig,
    as_typed,
    stage_main,
)
from pakfashion.contracts import CRAWL_REPORT_FILE
from pakfashion.crawling.site import CrawlError, crawl_site, write_crawl_outputs
from pakfashion.web.frontier import Frontier, frontier_path


@stage_main
def main(cfg: Any) -> None:
    if cfg.get("site") is None:
        raise CrawlError("no site selected: run `python -m pakfashion.crawl site=<name>` (a file in conf/site/)")
    site = as_typed(cfg.site, SiteConfig)
    settings = as_typed(cfg.crawl, CrawlConfig)
    paths = as_typed(cfg.paths, PathsConfig)
    with Frontier(frontier_path(paths.state, site.name, settings.snapshot)) as frontier:
        records, report = crawl_site(site, settings, as_typed(cfg.web, WebConfig), frontier=frontier)
    out_dir = paths.raw / site.name
    write_crawl_outputs(records, report, out_dir)
    if report.failed:
        raise CrawlError(f"{report.stopped_reason} (report: {out_dir / CRAWL_REPORT_FILE})")


if __name__ == "__main__":
    main()
