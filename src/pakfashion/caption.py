"""Stage `caption`: downloaded images + product metadata → a Hugging Face ``imagefolder`` dataset.

Reads ``paths.images_csv``, ``paths.products_csv``, ``paths.excluded_csv`` and every site's
``crawl.json``; writes ``paths.dataset`` (``train/`` and ``validation/`` split by product, each with
images and ``metadata.jsonl``: ``file_name``, ``text``, the model ``caption``, the attributes and
product columns), the dataset card ``paths.dataset/README.md``, and ``<paths.metrics>/caption.json``.

Captions are cached per image sha256 and captioner under ``paths.state``, so a rerun captions only
new images. Under ``accelerate launch`` each process captions its share of the missing images.
"""

from __future__ import annotations

import logging
from typing import Any

from pakfashion.captioning.card import render_dataset_card
from pakfashion.captioning.dataset import build_dataset, card_inputs, load_caption_fn
from pakfashion.common.files import write_json, write_text_atomic
from pakfashion.config import (
    CaptionConfig,
    DatasetConfig,
    PathsConfig,
    SafetyChecks,
    VocabConfig,
    as_typed,
    stage_main,
)
from pakfashion.contracts import CAPTION_METRICS, DATASET_CARD_FILE

log = logging.getLogger(__name__)


@stage_main
def main(cfg: Any) -> None:
    from accelerate import PartialState

    state = PartialState()
    paths, settings = as_typed(cfg.paths, PathsConfig), as_typed(cfg.caption, CaptionConfig)
    caption_fn = load_caption_fn(settings, device=str(state.device))
    layout = as_typed(cfg.dataset, DatasetConfig)
    stats = build_dataset(paths, settings, as_typed(cfg.vocab, VocabConfig), layout, seed=int(cfg.seed),
                          caption_fn=caption_fn, process=(state.process_index, state.num_processes),
                          barrier=state.wait_for_everyone)
    if stats is None:
        return
    write_text_atomic(paths.dataset / DATASET_CARD_FILE, render_dataset_card(card_inputs(
        paths, settings, layout, stats, safety=as_typed(cfg.curate.safety, SafetyChecks))))
    per_s = stats.images_captioned / stats.caption_seconds if stats.caption_seconds else 0.0
    write_json(paths.metrics / CAPTION_METRICS, {**stats.metrics(), "images_per_s": round(per_s, 2)})
    log.info("dataset: %d train / %d validation images → %s", stats.train, stats.validation, paths.dataset)


if __name__ == "__main__":
    main()
