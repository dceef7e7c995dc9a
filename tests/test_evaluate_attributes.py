"""Attribute checks of the evaluate stage: a garment's colour read from its pixels, bootstrap intervals, the
prompt set, and the metrics base vs fine-tuned."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pakfashion.config import AttributesConfig, EvaluateConfig, VocabConfig
from pakfashion.demo.images import ACCENTS, BACKGROUND, COLOURS
from pakfashion.evaluation.attributes import (
    AttributeRow,
    attribute_jobs,
    attribute_metrics,
    attribute_table,
    bootstrap_means,
    check_attributes,
    image_colour,
)
from pakfashion.pretraining.world import world_images
from tests.helpers import configured


@pytest.fixture(scope="module")
def vocab() -> VocabConfig:
    return configured(VocabConfig)


@pytest.fixture(scope="module")
def settings() -> AttributesConfig:
    return configured(EvaluateConfig).attributes


def _with(settings: AttributesConfig, **changes: object) -> AttributesConfig:
    return dataclasses.replace(settings, **changes)


def test_palette_covers_the_vocabulary_with_the_renderers_colours(vocab: VocabConfig) -> None:
    assert set(vocab.colours) - set(vocab.palette) == {"multi"}  # a print of many colours has no one RGB
    assert set(vocab.palette) <= set(vocab.colours)
    drawn = {**COLOURS, **{name: rgb for name, rgb in ACCENTS.items() if name in vocab.palette}}
    assert {name: tuple(vocab.palette[name]) for name in drawn} == drawn


def test_colour_of_world_drawings_is_the_colour_they_are_drawn_in(vocab: VocabConfig,
                                                                  settings: AttributesConfig) -> None:
    """Every shape, pattern, accent, placement and background of the world, at 64 px, and with noise."""
    table = {name: vocab.palette[name] for name in COLOURS}
    items = world_images(5, 300, split="held_out")
    noise = np.random.default_rng(0)
    wrong, wrong_noisy = [], []
    for item in items:
        if image_colour(item.image, table, settings) != item.colour:
            wrong.append(item.caption)
        noisy = np.asarray(item.image, dtype=float) + noise.normal(0, 6, size=(64, 64, 3))
        if image_colour(Image.fromarray(noisy.clip(0, 255).astype(np.uint8)), table, settings) != item.colour:
            wrong_noisy.append(item.caption)
    assert not wrong
    assert len(wrong_noisy) <= 3, wrong_noisy


def _drawn(garment: tuple[int, int, int], background: tuple[int, int, int] = BACKGROUND) -> Image.Image:
    image = Image.new("RGB", (64, 64), background)
    ImageDraw.Draw(image).polygon([(20, 8), (44, 8), (52, 58), (12, 58)], fill=garment)
    return image


def test_a_colour_the_table_lacks_matches_no_entry(vocab: VocabConfig, settings: AttributesConfig) -> None:
    lime = (150, 230, 20)
    table = {name: vocab.palette[name] for name in settings.colours}
    assert image_colour(_drawn(lime), table, settings) is None  # not forced onto green or yellow
    assert image_colour(_drawn(lime), {**table, "lime": list(lime)}, settings) == "lime"
    assert image_colour(_drawn(tuple(vocab.palette["navy"]), (255, 255, 255)), table, settings) == "navy"
    assert image_colour(Image.new("RGB", (64, 64), BACKGROUND), table, settings) is None  # no garment drawn


def test_bootstrap_interval_covers_a_known_proportion() -> None:
    rng = np.random.default_rng(1)
    trials, proportion = 300, 0.3
    covered = 0
    for trial in range(trials):
        draws = (rng.random(200) < proportion).astype(float)
        interval = bootstrap_means(draws[None], resamples=1000, confidence=0.95, seed=trial)[0]
        assert interval.mean == pytest.approx(draws.mean()) and interval.low <= interval.mean <= interval.high
        covered += interval.low <= proportion <= interval.high
    assert 0.91 <= covered / trials <= 0.98


def test_bootstrap_resamples_rows_together_for_paired_differences() -> None:
    base = (np.random.default_rng(2).random(120) < 0.5).astype(float)
    tuned = base.copy()
    tuned[:30] = 1.0  # fine-tuning fixes some images, breaks none
    rows = bootstrap_means(np.stack([base, tuned, tuned - base]), resamples=500, confidence=0.95, seed=0)
    assert rows[2].mean == pytest.approx(rows[1].mean - rows[0].mean)
    assert rows[2].low > 0  # every resampled difference is >= 0 and almost never 0
    same = bootstrap_means(np.stack([base - base]), resamples=500, confidence=0.95, seed=0)[0]
    assert (same.low, same.mean, same.high) == (0.0, 0.0, 0.0)


def test_prompt_set_is_colours_by_garments_by_seeds_and_parses(vocab: VocabConfig, settings: AttributesConfig) -> None:
    small = _with(settings, colours=["red", "blue"], concept_colours=["purple"], garments=["kurta", "shalwar kameez"],
                  seeds=[3, 4])
    jobs = attribute_jobs(small)
    assert len(jobs) == 3 * 2 * 2 and {job.seed for job in jobs} == {3, 4}
    assert jobs[0].prompt == "a red kurta" and jobs[5].prompt == "a purple shalwar kameez"
    check_attributes(settings, vocab)  # what conf/ ships
    with pytest.raises(ValueError, match="no RGB in vocab.palette"):
        check_attributes(_with(small, colours=["multi"]), vocab)
    with pytest.raises(ValueError, match="must name a colour"):
        check_attributes(_with(small, garments=["sherwani"]), vocab)


def _rows(colour: str, *, base_right: bool, tuned_right: bool, seeds: int = 10) -> list[AttributeRow]:
    prompt = f"a {colour} kurta"
    rows = []
    for seed in range(seeds):
        for model, right in (("base", base_right), ("finetuned", tuned_right)):
            rows.append(AttributeRow(prompt, seed, model, colour, "kurta", colour if right else None,
                                     "kurta" if seed % 2 else "abaya"))
    return rows


def test_metrics_report_all_prompts_the_taught_concept_and_the_rest(settings: AttributesConfig) -> None:
    rows = _rows("red", base_right=True, tuned_right=True) + _rows("purple", base_right=False, tuned_right=True)
    metrics = attribute_metrics(rows, _with(settings, concept_colours=["purple"]))
    assert metrics["num_attribute_images"] == 20 and metrics["num_concept_images"] == 10
    assert metrics["concept_colour_accuracy_base"] == 0 and metrics["concept_colour_accuracy_finetuned"] == 1
    assert metrics["concept_colour_accuracy_delta_ci_low"] == metrics["concept_colour_accuracy_delta"] == 1
    assert metrics["pretrained_colour_accuracy_delta"] == 0 and metrics["colour_accuracy_delta"] == 0.5
    assert metrics["colour_accuracy_delta_ci_low"] < 0.5 < metrics["colour_accuracy_delta_ci_high"]
    assert metrics["garment_accuracy_base"] == metrics["garment_accuracy_finetuned"] == 0.5
    assert metrics["colour_unmatched_base"] == 0.5 and metrics["colour_unmatched_finetuned"] == 0
    assert [row[:2] for row in attribute_table(metrics)] == [
        [f"{group} ({n})", check] for group, n in (("all prompts", 20), ("taught concept", 10),
                                                    ("pretrained concepts", 10))
        for check in ("colour accuracy", "garment accuracy")
    ]
    without = attribute_metrics(rows, _with(settings, concept_colours=[]))
    assert not any(key.startswith(("concept_", "pretrained_")) for key in without)
    with pytest.raises(ValueError, match="generate both models"):
        attribute_metrics([row for row in rows if row.model == "base"], settings)
