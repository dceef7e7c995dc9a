"""Stage `csv`: every site's products.jsonl → one clean product table and an explained exclusion list.

Reads ``<paths.raw>/*/products.jsonl`` and ``crawl.json``, and each crawled site's ``conf/site/<site>.yaml``
(its ``brand``, for products whose store names no vendor); writes ``paths.products_csv`` (kept products),
``paths.excluded_csv`` (every excluded product with ``reason``, the ``signal`` that decided it and all its
``evidence``) and ``<paths.metrics>/csv.json`` (counts per site, reason and deciding field, the learned
site conventions, and the rules' scores on each labelled set). The rules are in :mod:`pakfashion.products.exclusion`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pakfashion.common.files import write_json
from pakfashion.config import PathsConfig, SiteConfig, as_typed, stage_main
from pakfashion.contracts import CSV_METRICS
from pakfashion.products.tables import (
    build_tables,
    classifier_from_config,
    score_labelled_sets,
    write_csv,
)

log = logging.getLogger(__name__)


def site_brands(raw_dir: Path) -> dict[str, str]:
    """The configured brand of each site crawled into ``raw_dir`` (composed as ``site=<name>``); a site
    without its own conf/site file (``site=generic site.name=...``) has none."""
    from hydra import compose
    from hydra.errors import MissingConfigException

    brands = {}
    for name in sorted(p.name for p in raw_dir.iterdir() if p.is_dir()) if raw_dir.is_dir() else []:
        try:
            brands[name] = as_typed(compose(config_name="stage", overrides=[f"site={name}"]).site, SiteConfig).brand
        except MissingConfigException:
            log.warning("%s has no conf/site/%s.yaml: its products without a vendor get no brand", name, name)
    return brands


@stage_main
def main(cfg: Any) -> None:
    paths = as_typed(cfg.paths, PathsConfig)
    classifier = classifier_from_config(cfg)
    kept, excluded, metrics = build_tables(paths.raw, classifier, brands=site_brands(paths.raw))
    metrics["labelled_sets"] = score_labelled_sets(classifier, classifier.settings.labelled_sets)
    write_csv(kept, paths.products_csv)
    write_csv(excluded, paths.excluded_csv)
    write_json(paths.metrics / CSV_METRICS, metrics)
    log.info("kept %d products, excluded %s", metrics["kept"], metrics["excluded"])


if __name__ == "__main__":
    main()
