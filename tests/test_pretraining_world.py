"""The pretraining world: deterministic captioned drawings whose garments look different and whose captions
name them the way the caption stage reads catalogue text."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import numpy as np
import pytest
from PIL import Image

from pakfashion.captioning.text import AttributeFinder
from pakfashion.config import VocabConfig
from pakfashion.demo.images import COLOURS, DrawSpec, render_image
from pakfashion.demo.world import GARMENTS
from pakfashion.pretraining.world import (
    BACKGROUNDS,
    SHAPE_GARMENTS,
    WorldImage,
    world_images,
)
from tests.helpers import configured


@pytest.fixture(scope="module")
def finder() -> AttributeFinder:
    return AttributeFinder(configured(VocabConfig))


@pytest.fixture(scope="module")
def train() -> list[WorldImage]:
    return world_images(11, 400)


def _pixels(item: WorldImage) -> np.ndarray:
    return np.asarray(item.image).astype(int)


def test_same_seed_same_images_and_captions(train: list[WorldImage]) -> None:
    again = world_images(11, 400)
    assert [w.caption for w in again] == [w.caption for w in train]
    assert all(a.image.tobytes() == b.image.tobytes() for a, b in zip(again, train))
    assert [w.caption for w in world_images(12, 400)] != [w.caption for w in train]


def test_captions_name_the_drawn_garment_and_colour(train: list[WorldImage], finder: AttributeFinder) -> None:
    vocab = configured(VocabConfig)
    assert {garment for garment, _ in SHAPE_GARMENTS.values()} <= set(vocab.garments)
    assert {w.shape for w in train} == set(SHAPE_GARMENTS), "400 drawings cover every shape"
    for item in train:
        found = finder.find({"title": item.caption})
        assert (found.garment, found.colours[:1]) == (item.garment, [item.colour]), item.caption


def test_world_draws_every_garment_the_demo_store_sells(finder: AttributeFinder) -> None:
    """Each demo garment kind's drawing is in the world, under the garment the caption stage reads."""
    for kind in GARMENTS:
        assert SHAPE_GARMENTS[kind.shape][0] == finder.find({"title": kind.name}).garment, kind.name


@pytest.mark.parametrize("colour", ["red", "navy", "yellow"])
def test_every_shape_looks_different_at_64px(colour: str) -> None:
    drawn = {shape: np.asarray(render_image(DrawSpec(shape, colour, width=256, height=256))
                               .resize((64, 64), Image.Resampling.LANCZOS)).astype(int)
             for shape in SHAPE_GARMENTS}
    for a, b in combinations(sorted(drawn), 2):
        differing = (np.abs(drawn[a] - drawn[b]).max(axis=-1) > 24).mean()
        assert differing >= 0.05, f"{a} and {b} differ in only {differing:.1%} of pixels"


def test_garment_colour_dominates_a_plain_varied_background(train: list[WorldImage]) -> None:
    for item in train:
        pixels = _pixels(item)
        background = tuple(pixels[0, 0])
        border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
        assert np.abs(border - background).max() <= 3, f"{item.shape} touches the image border"
        counts = Counter(map(tuple, pixels.reshape(-1, 3)))
        garment = next(rgb for rgb, _ in counts.most_common() if rgb != background)
        assert garment == COLOURS[item.colour], item.caption
    assert {tuple(_pixels(w)[0, 0]) for w in train} == set(BACKGROUNDS)


def test_held_out_split_is_its_own_stream(train: list[WorldImage]) -> None:
    held_out = world_images(11, 400, split="held_out")
    assert [w.caption for w in held_out] != [w.caption for w in train]
    assert sum(a.image.tobytes() == b.image.tobytes() for a, b in zip(held_out, train)) == 0


def test_colours_are_respected() -> None:
    items = world_images(3, 120, colours=("purple", "teal"))
    assert Counter(w.colour for w in items).keys() == {"purple", "teal"}
    assert all(w.colour in w.caption.split() for w in items)
