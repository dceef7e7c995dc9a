"""Stage `download`: every image of every kept product → verified, normalised, content-addressed JPEGs.

Reads ``paths.products_csv`` and the ``download`` and ``web`` params; writes ``<paths.images>/<pp>.tar`` shards of
``<sha256>.jpg`` members (RGB JPEGs named by the sha256 of the decoded pixels, so identical images are stored
once; :mod:`pakfashion.images.store`), ``paths.images_csv``
(a ledger row for every image URL, failures and duplicates included), ``<paths.metrics>/download.json`` and
``<paths.reports>/contact_sheet.jpg`` (names and row schema in :mod:`pakfashion.contracts`). A SQLite ledger
under ``paths.state`` makes a killed run resume without fetching finished images again.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from pakfashion.common.files import write_json
from pakfashion.config import (
    DownloadConfig,
    PathsConfig,
    WebConfig,
    as_typed,
    stage_main,
)
from pakfashion.contracts import CONTACT_SHEET_REPORT, DOWNLOAD_METRICS
from pakfashion.images.download import (
    check_success_rate,
    prune_unlisted,
    run_download,
    write_contact_sheet,
    write_ledger,
)

log = logging.getLogger(__name__)


@stage_main
def main(cfg: Any) -> None:
    paths = as_typed(cfg.paths, PathsConfig)
    settings = as_typed(cfg.download, DownloadConfig)
    rows, metrics = run_download(paths.products_csv, paths.images, settings, state_dir=paths.state,
                                 web=as_typed(cfg.web, WebConfig))
    metrics["stale_images_removed"] = prune_unlisted(paths.images, rows)
    write_ledger(rows, paths.images_csv)
    write_json(paths.metrics / DOWNLOAD_METRICS, metrics)
    products = pd.read_csv(paths.products_csv, dtype=str, keep_default_na=False)
    write_contact_sheet(rows, products, paths.images, paths.reports / CONTACT_SHEET_REPORT,
                        count=settings.contact_sheet_images)
    log.info("images: %s", metrics["by_status"])
    check_success_rate(rows, settings.min_success_rate)


if __name__ == "__main__":
    main()
