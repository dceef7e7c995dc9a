"""Stage `csv`: every site's products.jsonl → one clean product table and an explained exclusion list.

Reads ``<paths.raw>/*/products.jsonl`` and ``crawl.json``; writes ``paths.products_csv`` (kept products),
``paths.excluded_csv`` (every excluded product with ``reason``, the ``signal`` that decided it and all its
``evidence``) and ``<paths.metrics>/csv.json`` (counts per site, reason and deciding field, the learned
site conventions, and the rules' scores on each labelled set). The rules are in :mod:`pakfashion.products.exclusion`.
"""

from __future__ import annotations

import logging
from typing import Any

from pakfashion.common.files import write_json
from pakfashion.config import PathsConfig, as_typed, stage_main
from pakfashion.contracts import CSV_METRICS
from pakfashion.products.tables import (
    build_tables,
    classifier_from_config,
    score_labelled_sets,
    write_csv,
)

log = logging.getLogger(__name__)


@stage_main
def main(cfg: Any) -> None:
    paths = as_typed(cfg.paths, PathsConfig)
    classifier = classifier_from_config(cfg)
    kept, excluded, metrics = build_tables(paths.raw, classifier)
    metrics["labelled_sets"] = score_labelled_sets(classifier, classifier.settings.labelled_sets)
    write_csv(kept, paths.products_csv)
    write_csv(excluded, paths.excluded_csv)
    write_json(paths.metrics / CSV_METRICS, metrics)
    log.info("kept %d products, excluded %s", metrics["kept"], metrics["excluded"])


if __name__ == "__main__":
    main()
