"""Stage `crawl`: the retailers' public catalogs → per site, products.jsonl + crawl.json.

``python -m pakfashion.crawl`` crawls every site of ``crawl.sites`` side by side (``crawl.parallel_sites``
at once, each alone at its own polite pace); ``python -m pakfashion.crawl site=<name>`` (or
``site=generic site.base_url=...``) crawls one. Reads ``conf/site/<site>.yaml`` and the ``crawl`` and ``web``
params; writes ``<paths.raw>/<site>/products.jsonl`` (one :class:`ProductRecord` per line) and
``<paths.raw>/<site>/crawl.json`` (platform detected, robots.txt snapshot and opt-out signals, counts,
errors, dates). A site whose config and snapshot are those of its last sound crawl is not crawled again.
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
from pakfashion.crawling.site import CrawlError, crawl_sites, prune_unlisted_sites


def listed_sites(names: list[str]) -> list[SiteConfig]:
    """The sites of ``crawl.sites``, each composed from ``conf/site/<name>.yaml`` as ``site=<name>`` would."""
    from hydra import compose

    return [as_typed(compose(config_name="stage", overrides=[f"site={name}"]).site, SiteConfig) for name in names]


@stage_main
def main(cfg: Any) -> None:
    settings = as_typed(cfg.crawl, CrawlConfig)
    paths = as_typed(cfg.paths, PathsConfig)
    if cfg.get("site") is not None:
        sites = [as_typed(cfg.site, SiteConfig)]
    elif settings.sites:
        sites = listed_sites(settings.sites)
        prune_unlisted_sites(paths.raw, settings.sites)
    else:
        raise CrawlError("no site to crawl: list them in crawl.sites (profile=full has 19), or run "
                         "`python -m pakfashion.crawl site=<name>` (a file in conf/site/)")
    outcomes = crawl_sites(sites, settings, as_typed(cfg.web, WebConfig), raw_dir=paths.raw, state_dir=paths.state)
    failed = [outcome for outcome in outcomes if outcome.failed]
    if failed:
        reasons = "; ".join(f"{outcome.site}: {outcome.stopped_reason}" for outcome in failed)
        raise CrawlError(f"{len(failed)} of {len(outcomes)} sites failed: {reasons} "
                         f"(reports: {paths.raw}/<site>/{CRAWL_REPORT_FILE})")


if __name__ == "__main__":
    main()
