"""End to end, measured: the train stage's default LoRA fine-tune of the committed tiny SD on garments in
colours its pretraining never showed (purple, pink) teaches them, as the evaluate stage measures it.

The quality bar: on the taught colours the fine-tuned model's colour accuracy beats the base's by a margin
whose 95% bootstrap interval excludes 0, and it still draws the pretrained colours. Each mutation is a bug
that every shape-and-file test passes; each must fail the bar: (a) evaluation without the LoRA applied,
(b) the dataset's captions shuffled across images, (c) empty prompts fed to the UNet during training
(caption dropout 1.0), (d) zero training steps (the stage refuses ``max_steps=0``, so: one step at lr 0).
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pakfashion.config import EvaluateConfig, ModelConfig, PathsConfig, TrainConfig, VocabConfig
from pakfashion.contracts import METADATA_FILE, TRAIN_SPLIT, VALIDATION_SPLIT
from pakfashion.pretraining.world import HELD_OUT_COLOURS, world_images, write_imagefolder
from tests.conftest import REPO_ROOT
from tests.helpers import configured, paths_under, tiny_model

pytestmark = pytest.mark.slow

SD = REPO_ROOT / "assets" / "tiny" / "sd"
CLIP = REPO_ROOT / "assets" / "tiny" / "clip"
TRAIN_IMAGES = 240
CONCEPT_SHARE = 0.5
"""Share of the fine-tuning images in the taught colours (the demo store's: 17 of its 86 garments)."""
MAX_STEPS = 300
"""The shipped profile=demo LoRA settings but fewer steps: half the images teach the new colours."""
MUTATIONS = ["none", "no_lora_at_evaluation", "shuffled_captions", "empty_prompts", "zero_steps"]


def write_dataset(root: Path) -> Path:
    """An imagefolder of world drawings: a quarter in the taught colours, the rest in pretrained ones."""
    pretrained = [c for c in sorted({i.colour for i in world_images(0, 200)}) if c not in HELD_OUT_COLOURS]
    concept = round(TRAIN_IMAGES * CONCEPT_SHARE)
    train = (world_images(5, concept, colours=HELD_OUT_COLOURS, px=32)
             + world_images(6, TRAIN_IMAGES - concept, colours=pretrained, px=32))
    write_imagefolder(train, root / TRAIN_SPLIT)
    write_imagefolder(world_images(7, 8, split="held_out", px=32), root / VALIDATION_SPLIT)
    return root


def shuffle_captions(split_dir: Path) -> None:
    """Mutation (b): every row keeps its image but gets another row's caption."""
    metadata = split_dir / METADATA_FILE
    rows = [json.loads(line) for line in metadata.read_text().splitlines()]
    texts = [row["text"] for row in rows]
    random.Random(0).shuffle(texts)
    metadata.write_text("".join(json.dumps({**row, "text": text}) + "\n" for row, text in zip(rows, texts, strict=True)))


TRAINING = {"none": "shipped", "no_lora_at_evaluation": "shipped", "shuffled_captions": "shuffled_captions",
            "empty_prompts": "empty_prompts", "zero_steps": "zero_steps"}
"""The training each mutation evaluates: (a) evaluates the unbroken run, so it is trained once."""


def train_variant(root: Path, variant: str) -> tuple[PathsConfig, ModelConfig, TrainConfig]:
    """Fine-tune with the shipped LoRA settings of profile=demo, broken as ``variant`` says."""
    from pakfashion.training.loop import train

    paths = paths_under(root, dataset=write_dataset(root / "dataset"))
    if variant == "shuffled_captions":
        shuffle_captions(paths.dataset / TRAIN_SPLIT)
    changes: dict[str, Any] = {"checkpoint_every": 0, "max_steps": MAX_STEPS}
    if variant == "empty_prompts":
        changes["caption_dropout"] = 1.0
    if variant == "zero_steps":  # the stage refuses max_steps=0: one step at lr 0 leaves the LoRA at its start
        changes |= {"max_steps": 1, "lr": 0.0}
    model, settings = tiny_model(SD), configured(TrainConfig, "profile=demo", **changes)
    train(paths, model, settings, seed=0)
    return paths, model, settings


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[PathsConfig, ModelConfig, TrainConfig]]:
    """Each training variant's run, trained on first use."""
    runs: dict[str, tuple[PathsConfig, ModelConfig, TrainConfig]] = {}

    def get(variant: str) -> tuple[PathsConfig, ModelConfig, TrainConfig]:
        if variant not in runs:
            runs[variant] = train_variant(tmp_path_factory.mktemp(variant), variant)
        return runs[variant]

    return get


def evaluate_run(paths: PathsConfig, model: ModelConfig, settings: TrainConfig, reports: Path) -> dict[str, Any]:
    """The evaluate stage on the run, over the taught colours and three pretrained ones; eval.json's metrics."""
    from pakfashion.evaluation.run import evaluate

    shipped = configured(EvaluateConfig, "profile=demo")
    attributes = dataclasses.replace(shipped.attributes, colours=["red", "blue", "yellow", *HELD_OUT_COLOURS],
                                     seeds=[0, 1, 2])
    evaluate_settings = dataclasses.replace(shipped, clip_model=str(CLIP), prompts=["a purple kurta"], seeds=[0],
                                            num_images_for_fid=8, kid_subsets=4, attributes=attributes)
    return evaluate(dataclasses.replace(paths, reports=reports, metrics=reports, plots=reports), model,
                    evaluate_settings, lora_dir=paths.models / settings.run_name, vocab=configured(VocabConfig))


MIN_CONCEPT_GAIN = 0.25
"""The lower end of the taught colours' accuracy gain (95% interval) the unbroken run must reach. Measured:
unbroken 0.15 -> 0.88 (interval from 0.60); empty prompts in training 0.15 -> 0.25 (from 0.02): drawing
more purple and pink for every prompt is not learning the words."""


def passes_quality_bar(metrics: dict[str, Any]) -> bool:
    """The taught colours are learnt (the gain's interval starts above MIN_CONCEPT_GAIN) and the pretrained
    ones kept (>= 0.5)."""
    return (metrics["concept_colour_accuracy_delta_ci_low"] > MIN_CONCEPT_GAIN
            and metrics["pretrained_colour_accuracy_finetuned"] >= 0.5)


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_fine_tuning_teaches_the_new_colours_and_each_bug_is_caught(
    mutation: str, trained: Callable[[str], tuple[PathsConfig, ModelConfig, TrainConfig]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pakfashion.evaluation import run as evaluation_run

    paths, model, settings = trained(TRAINING[mutation])
    if mutation == "no_lora_at_evaluation":
        monkeypatch.setattr(evaluation_run, "load_run", lambda run_dir, *, base, device: base)
    metrics = evaluate_run(paths, model, settings, tmp_path)
    summary = {key: round(metrics[key], 3) for key in (
        "concept_colour_accuracy_base", "concept_colour_accuracy_finetuned", "concept_colour_accuracy_delta_ci_low",
        "pretrained_colour_accuracy_finetuned")}
    print(f"{mutation}: {summary}")  # pytest -s shows every variant's figures
    if mutation == "none":
        assert passes_quality_bar(metrics), summary
    else:
        assert not passes_quality_bar(metrics), f"{mutation} passed the quality bar: {summary}"
