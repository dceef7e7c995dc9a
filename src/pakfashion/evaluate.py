"""Evaluate stage: base vs LoRA fine-tuned Stable Diffusion on the same prompts and seeds.

Reads ``model.pretrained``, the LoRA in ``paths.models/<train.run_name>``, ``evaluate.prompts`` and
``paths.dataset/validation`` (``metadata.jsonl`` and its images). Per model it generates the sample grid
(``evaluate.prompts`` plus up to four validation captions, times ``evaluate.seeds``), scored with CLIP,
and ``evaluate.num_images_for_fid`` images from the validation captions, compared with the validation
images by FID and KID on Inception-v3 features (cached per dataset version under ``paths.state``), and
the attribute prompt set (``evaluate.attributes``: colours x garments x seeds), whose colour is read from
the pixels (``vocab.palette``) and garment by CLIP zero-shot (``vocab.garments``).
Writes ``paths.metrics/eval.json`` (flat keys: ``clip_score_*``, ``fid_*``, ``kid_*``, deltas = fine-tuned
minus base; ``[concept_|pretrained_]colour_accuracy_*`` and ``garment_accuracy_*`` with ``_ci_low`` and
``_ci_high`` bootstrap bounds), ``paths.plots/clip_scores.csv`` (prompt, seed, model, clip_score, label),
``paths.plots/clip_by_category.csv`` (garment category from ``vocab.garments``, model, mean CLIP score,
label), ``paths.reports/samples.png`` (rows = prompts; per seed, base and fine-tuned side by side) and
``paths.reports/eval.md`` (metrics table with deltas and their meaning, the grid).
"""

from __future__ import annotations

from omegaconf import DictConfig

from pakfashion.common.tracking import finish_run, start_run
from pakfashion.config import (
    EvaluateConfig,
    ModelConfig,
    PathsConfig,
    TrainConfig,
    VocabConfig,
    WandbConfig,
    as_typed,
    stage_main,
)
from pakfashion.evaluation.run import evaluate


@stage_main
def main(cfg: DictConfig) -> None:
    """Stage entry: ``python -m pakfashion.evaluate`` (reads params.yaml through stage.yaml)."""
    from omegaconf import OmegaConf

    paths, vocab = as_typed(cfg.paths, PathsConfig), as_typed(cfg.vocab, VocabConfig)
    model, settings = as_typed(cfg.model, ModelConfig), as_typed(cfg.evaluate, EvaluateConfig)
    lora_dir = paths.models / as_typed(cfg.train, TrainConfig).run_name
    tracking = as_typed(cfg.tracking.wandb, WandbConfig)
    config = OmegaConf.to_container(cfg, resolve=True)
    run = start_run(tracking, job_type="evaluate", config=config, state_dir=paths.state)
    try:
        evaluate(paths, model, settings, lora_dir=lora_dir, vocab=vocab, run=run)
    finally:
        finish_run(run)


if __name__ == "__main__":
    main()
