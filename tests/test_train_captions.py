"""Training captions composed from the stored parts: dropout, forms, determinism, the text cache, old datasets,
and the vocabulary that finds pieces and stitching in Pakistani listing titles."""

from __future__ import annotations

import logging
import math
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from pakfashion.captioning.text import AttributeFinder
from pakfashion.common.dataset_files import DatasetSplit
from pakfashion.config import CaptionsConfig, CaptionSource, FieldDropout, TrainConfig, VocabConfig
from pakfashion.training import data as data_module
from pakfashion.training.captions import (
    PARTS,
    SHORT,
    CaptionParts,
    example_captions,
    variants_of,
)
from pakfashion.training.data import (
    BucketBatches,
    CachedLatents,
    TrainingData,
    encode_captions,
    read_rows,
    training_data,
)
from pakfashion.training.models import load_text_encoders
from tests.helpers import add_caption_parts, configured, paths_under, tiny_model, write_colour_dataset

CAPTIONS = configured(TrainConfig).captions
# Every part present and telling apart in a composed caption.
ROW = {"file_name": "a.jpg", "text": "red lawn kurta, T", "colours": ["red"], "fabrics": ["lawn"], "garment": "kurta",
       "pieces": "3-piece", "stitching": "unstitched", "brand": "Khaadi", "caption": "a model outdoors"}
MARKERS = {"colours": "red", "fabrics": "lawn", "garment": "kurta", "pieces": "3-piece", "stitching": "unstitched",
           "brand": "by Khaadi", "caption": "a model outdoors"}


def captions_with(**changes: object) -> CaptionsConfig:
    dropout = changes.pop("field_dropout", None)
    settings = replace(CAPTIONS, source=CaptionSource.parts, **changes)
    return replace(settings, field_dropout=dropout) if dropout is not None else settings


def no_dropout(**rates: float) -> FieldDropout:
    return FieldDropout(**{name: rates.get(name, 0.0) for name in PARTS})


def test_every_part_survives_at_its_configured_rate() -> None:
    """Over many images, each part appears in (1 - dropout) of the variants that can hold it: every variant
    for the short form's parts, long_share of them for the rest."""
    parts = CaptionParts.of(ROW)
    assert parts is not None
    draws = [text for key in range(2000) for text in variants_of(parts, CAPTIONS, seed=7, key=str(key))]
    for name, marker in MARKERS.items():
        keep = 1 - getattr(CAPTIONS.field_dropout, name)
        expected = keep if name in SHORT else CAPTIONS.long_share * keep
        seen = sum(marker in text for text in draws) / len(draws)
        assert abs(seen - expected) < 4 * math.sqrt(expected * (1 - expected) / len(draws)) + 1e-3, (name, seen)


def test_the_short_form_names_colour_fabric_and_garment_only() -> None:
    parts = CaptionParts.of(ROW)
    short = captions_with(long_share=0.0, field_dropout=no_dropout(), variants=6)
    assert variants_of(parts, short, seed=0, key="a.jpg") == ["red lawn kurta"] * 6
    full = captions_with(long_share=1.0, field_dropout=no_dropout(), variants=2)
    assert variants_of(parts, full, seed=0, key="a.jpg") == [
        "red lawn kurta, 3-piece, unstitched, by Khaadi, a model outdoors"] * 2
    suit = CaptionParts.of({**ROW, "garment": "3-piece suit"})
    assert suit.compose(set(PARTS)).startswith("red lawn 3-piece suit, unstitched,")  # "3-piece" said once


def test_variants_are_fixed_by_seed_and_image_not_by_row_order() -> None:
    rows = [{**ROW, "file_name": f"{i}.jpg", "colours": [colour]} for i, colour in enumerate(["red", "blue", "pink"])]
    first = example_captions(rows, CAPTIONS, seed=3)
    assert first == example_captions(rows, CAPTIONS, seed=3)
    assert example_captions(rows[::-1], CAPTIONS, seed=3) == first[::-1]
    assert example_captions(rows, CAPTIONS, seed=4) != first
    assert all(len(variants) == CAPTIONS.variants for variants in first)
    assert len({text for variants in first for text in variants}) > len(rows)  # variants differ


def test_no_variant_is_empty_while_the_row_has_a_part() -> None:
    everything_dropped = captions_with(field_dropout=no_dropout(**dict.fromkeys(PARTS, 1.0)), variants=4)
    assert variants_of(CaptionParts.of(ROW), everything_dropped, seed=0, key="a") == ["kurta"] * 4
    only_a_caption = {**ROW, "colours": [], "fabrics": [], "garment": "", "pieces": "", "stitching": "", "brand": ""}
    short = captions_with(long_share=0.0, variants=4)
    assert variants_of(CaptionParts.of(only_a_caption), short, seed=0, key="a") == ["a model outdoors"] * 4
    nothing = {**only_a_caption, "caption": ""}
    assert variants_of(CaptionParts.of(nothing), CAPTIONS, seed=0, key="a") == [""] * CAPTIONS.variants
    for key in range(300):
        assert all(variants_of(CaptionParts.of(ROW), CAPTIONS, seed=1, key=str(key)))


def test_text_source_and_rows_without_parts_train_on_their_text(caplog: pytest.LogCaptureFixture) -> None:
    old = [{"file_name": f"{i}.jpg", "text": f"old caption {i}"} for i in range(3)]
    assert example_captions([ROW, *old], replace(CAPTIONS, source=CaptionSource.text), seed=0) == [
        [ROW["text"]], *[[row["text"]] for row in old]]
    with caplog.at_level(logging.WARNING, logger="pakfashion.training.captions"):
        mixed = example_captions([ROW, *old], CAPTIONS, seed=0)
    assert mixed[1:] == [[row["text"]] * CAPTIONS.variants for row in old]
    assert "old caption" not in " ".join(mixed[0])
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "3 of 4 rows lack the caption parts" in warnings[0].getMessage()


def test_bad_caption_settings_fail_before_work() -> None:
    with pytest.raises(ValueError, match="field_dropout.brand"):
        no_dropout(brand=1.5)
    with pytest.raises(ValueError, match="long_share"):
        captions_with(long_share=-0.1)
    with pytest.raises(ValueError, match="variants"):
        captions_with(variants=0)


# --- vocabulary: pieces and stitching --------------------------------------------------------------------

FINDER = AttributeFinder(configured(VocabConfig))


@pytest.mark.parametrize(
    ("product", "pieces", "stitching"),
    [
        ({"title": "Embroidered Lawn Unstitched 3 Piece Suit"}, "3-piece", "unstitched"),
        ({"title": "Ready to Wear 2-Pc"}, "2-piece", "stitched"),
        ({"title": "Un-Stitched 2pc"}, "2-piece", "unstitched"),
        ({"title": "Printed Khaddar Suit 3PC", "tags": ["Unstitched", "Winter"]}, "3-piece", "unstitched"),
        ({"title": "Three Piece Chiffon Formal", "category": "Pret"}, "3-piece", "stitched"),
        ({"title": "Lawn Kurta", "description": "A 2 pc set: shirt and trouser."}, "2-piece", ""),
        ({"title": "Stitched Kurta Shalwar"}, "", "stitched"),
        ({"title": "Non-Stitched 3 Pc Lawn"}, "3-piece", "unstitched"),
        # must not match
        ({"title": "Pretty Pink Kurta"}, "", ""),
        ({"title": "12 Piece Bangle Set"}, "", ""),
        ({"title": "Stitching Kit Gift Box"}, "", ""),
        ({"title": "Interpreted Florals Kurta"}, "", ""),
        ({"title": "Lawn Shirt", "description": "Hand-stitched embroidery on the neckline."}, "", ""),
        ({"title": "Unstitched Lawn", "description": "Machine stitched lace borders."}, "", "unstitched"),
    ],
)
def test_pieces_and_stitching_from_listing_titles(product: dict, pieces: str, stitching: str) -> None:
    found = FINDER.find({"category": "", **product})
    assert (found.pieces, found.stitching) == (pieces, stitching)


# --- the text cache --------------------------------------------------------------------------------------


def encode(tiny_sd: str, dataset: Path, cache_dir: Path, captions: CaptionsConfig, *, seed: int = 0) -> TrainingData:
    return training_data(
        DatasetSplit.open(dataset, "train"), cache_dir, pretrained=tiny_sd, buckets=[(64, 64)], flips=True,
        captions=captions, seed=seed, weight_dtype=torch.float32, batch_size=4, device="cpu",
    )  # fmt: skip


def test_new_dropout_reencodes_the_captions_and_reuses_the_latents(
    tiny_sd: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = add_caption_parts(write_colour_dataset(tmp_path / "dataset"))
    loads: list[str] = []
    for name in ("load_vae", "load_text_encoders"):
        real = getattr(data_module, name)
        monkeypatch.setattr(data_module, name, lambda *a, _real=real, _name=name, **k: loads.append(_name) or _real(*a, **k))
    first = encode(tiny_sd, dataset, tmp_path / "cache", CAPTIONS)
    assert loads == ["load_vae", "load_text_encoders"]
    latent_file = next((tmp_path / "cache" / "latents").glob("*.pt"))
    written = latent_file.stat().st_mtime_ns

    loads.clear()
    other = captions_with(field_dropout=replace(CAPTIONS.field_dropout, colours=0.5))
    second = encode(tiny_sd, dataset, tmp_path / "cache", other)
    assert loads == ["load_text_encoders"], "a new dropout re-encodes the captions, never the images"
    assert latent_file.stat().st_mtime_ns == written and len(list((tmp_path / "cache" / "latents").glob("*"))) == 1
    assert torch.equal(second.latents.buckets[0], first.latents.buckets[0])
    assert second.texts.captions != first.texts.captions

    loads.clear()
    encode(tiny_sd, dataset, tmp_path / "cache", CAPTIONS)
    encode(tiny_sd, dataset, tmp_path / "cache", other)
    assert loads == [], "both caption settings are cached"
    encode(tiny_sd, dataset, tmp_path / "cache", CAPTIONS, seed=1)
    assert loads == ["load_text_encoders"], "composed captions depend on the seed"
    loads.clear()
    text = replace(CAPTIONS, source=CaptionSource.text)
    encode(tiny_sd, dataset, tmp_path / "cache", text, seed=0)
    encode(tiny_sd, dataset, tmp_path / "cache", text, seed=5)
    assert loads == ["load_text_encoders"], "the dataset's text does not depend on the seed"


def test_every_item_is_conditioned_on_an_exact_encoding_of_its_own_caption(tiny_sd: str, tmp_path: Path) -> None:
    long_caption = " ".join(["a long model caption about the embroidered neckline"] * 12)  # past 77 tokens
    dataset = add_caption_parts(write_colour_dataset(tmp_path / "dataset"), caption=long_caption)
    data = encode(tiny_sd, dataset, tmp_path / "cache", CAPTIONS)
    rows = read_rows(DatasetSplit.open(dataset, "train"))
    composed = example_captions(rows, CAPTIONS, seed=0)
    encoders = load_text_encoders(tiny_sd, weight_dtype=torch.float32)
    tokens = encoders.tokenizer.model_max_length
    fresh: dict[str, torch.Tensor] = {}
    items = CachedLatents(data)
    assert len(items) == 8 * 2 * CAPTIONS.variants
    for index in range(len(items)):
        item = items[index]
        example, _, _ = data.parts(index)
        caption = data.texts.captions[int(item["caption_row"])]
        # the caption is one of this image's composed variants (cut at a word to the encoder's length)
        assert any(text == caption or text.startswith(caption) for text in composed[example])
        assert len(encoders.tokenizer(caption, truncation=False)["input_ids"]) <= tokens
        if caption not in fresh:
            fresh[caption] = encode_captions(encoders, [caption], batch_size=1, device="cpu")[0][0]
        assert torch.allclose(item["text_states"].float(), fresh[caption].float(), atol=2e-3)
    assert any(len(caption.split()) > 20 for caption in fresh), "the long form reaches the cap"
    assert torch.equal(items[0]["empty_text_states"], data.texts.text_states[data.texts.captions.index("")])


def test_each_epoch_draws_caption_variants_independent_of_the_global_rng(tiny_sd: str, tmp_path: Path) -> None:
    dataset = add_caption_parts(write_colour_dataset(tmp_path / "dataset"))
    data = encode(tiny_sd, dataset, tmp_path / "cache", CAPTIONS)
    order = BucketBatches(data, batch_size=3, seed=2)
    epochs = []
    for epoch in range(6):
        order.set_epoch(epoch)
        torch.manual_seed(epoch * 11)  # the global RNG must not matter
        random.seed(epoch)
        epochs.append([data.parts(index) for batch in order for index in batch])
    order.set_epoch(0)
    assert [data.parts(index) for batch in order for index in batch] == epochs[0]
    for drawn in epochs:
        assert sorted(example for example, _, _ in drawn) == list(range(8))  # each image once per epoch
    used = {(example, variant) for drawn in epochs for example, _, variant in drawn}
    assert len({variant for _, variant in used}) == CAPTIONS.variants  # every variant gets drawn


@pytest.mark.slow
def test_a_dataset_without_parts_still_trains(tiny_sd: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from pakfashion.training.loop import train

    dataset = write_colour_dataset(tmp_path / "dataset")  # rows of file_name, text, site only
    paths = paths_under(tmp_path, dataset=dataset, state=tmp_path / "state")
    settings = configured(TrainConfig, run_name="old", max_steps=2, batch_size=4, checkpoint_every=0)
    assert settings.captions.source is CaptionSource.parts
    torch.manual_seed(0)
    with caplog.at_level(logging.WARNING, logger="pakfashion.training.captions"):
        metrics = train(paths, tiny_model(tiny_sd), settings, seed=0)
    assert metrics["steps"] == 2 and math.isfinite(metrics["final_loss"])
    assert sum("lack the caption parts" in r.getMessage() for r in caplog.records) == 1
