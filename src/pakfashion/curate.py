"""Stage `curate`: every stored image → keep or drop, with the signal that decided it.

Reads ``paths.images_csv`` (the stored images: status ok; duplicate and near_duplicate rows name the image
they were folded into), ``paths.products_csv`` (the text each image is scored against), the image store
``paths.images``, the CLIP weights (``curate.agreement.clip_model``, the evaluate stage's CLIP), NudeNet's
detector (inside the ``nudenet`` wheel) and, when ``curate.ground_truth`` is set, its labels; and the
``curate`` params. Writes ``paths.curation_csv`` (:class:`pakfashion.contracts.CurationRow` per stored image,
in images.csv order), ``<paths.reports>/curation.html`` and ``<paths.metrics>/curation.json``.

Checks: image quality (:mod:`pakfashion.curation.quality`), not-a-garment content
(:mod:`pakfashion.curation.content`), NSFW and faces (:mod:`pakfashion.curation.safety`), image-text agreement
(:mod:`pakfashion.curation.agreement`); the first reason of ``curate.order`` that fires decides. Measurements
are cached under ``paths.state`` per image and per the settings that change them, so a killed run resumes and
a changed threshold re-decides without measuring again. The caption stage leaves out every dropped image and
blurs the face boxes recorded when ``curate.safety.faces=blur``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pakfashion.config import CurateConfig, PathsConfig, as_typed, stage_main
from pakfashion.contracts import CURATION_REPORT
from pakfashion.curation.run import build_checks, run_curation
from pakfashion.models.devices import default_device

log = logging.getLogger(__name__)


@stage_main
def main(cfg: Any) -> None:
    started = time.perf_counter()
    paths, settings = as_typed(cfg.paths, PathsConfig), as_typed(cfg.curate, CurateConfig)
    metrics = run_curation(paths, settings, build_checks(settings, device=default_device()))
    log.info("curate: %d kept, %d dropped %s in %.1f s (report: %s)", metrics["kept"], metrics["dropped"],
             metrics["by_reason"], time.perf_counter() - started, paths.reports / CURATION_REPORT)


if __name__ == "__main__":
    main()
