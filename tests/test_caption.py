"""The caption stage: product-level split, text composition, the imagefolder and its card."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from pakfashion.captioning.card import render_dataset_card
from pakfashion.captioning.dataset import (
    ImageFiles,
    assign_splits,
    build_dataset,
    caption_score,
    card_inputs,
    clean_caption,
    split_of,
)
from pakfashion.captioning.text import AttributeFinder, cap_length, fill_template
from pakfashion.common.files import write_json
from pakfashion.config import (
    CaptionConfig,
    Captioner,
    DatasetConfig,
    PathsConfig,
    SafetyChecks,
    VocabConfig,
)
from pakfashion.contracts import CurationDecision, CurationRow
from pakfashion.curation.run import write_curation_csv
from pakfashion.images.store import ImageStore
from tests.helpers import configured, paths_under, store_image

LAYOUT = configured(DatasetConfig)

COLOURS = {"red": (200, 30, 30), "blue": (30, 30, 200), "green": (30, 160, 60), "black": (10, 10, 10)}


def make_stage_inputs(root: Path, n_products: int = 12) -> PathsConfig:
    """products.csv, images.csv, excluded.csv, crawl.json and images, as the earlier stages write them."""
    paths = paths_under(root, raw=root / "raw", products_csv=root / "products.csv", excluded_csv=root / "excluded.csv",
                        images=root / "images", images_csv=root / "images.csv", dataset=root / "dataset",
                        state=root / "state")
    products, images = [], []
    for i in range(n_products):
        colour = list(COLOURS)[i % len(COLOURS)]
        products.append({"site": "s", "product_id": str(1000 + i), "product_url": f"http://s/p/{i}",
                         "title": f"{colour.title()} Lawn Kurta {i}", "description": "", "category": "Kurta",
                         "tags": "[]", "price": "4990.0", "currency": "PKR", "image_urls": "[]", "crawled_at": ""})
        for position in range(2):
            sha = f"{i:03d}{position}".ljust(64, "a")
            store_image(paths.images, sha, Image.new("RGB", (64, 64), COLOURS[colour]))
            images.append({"site": "s", "product_id": str(1000 + i), "position": position, "url": f"http://s/{sha}",
                           "status": "ok", "path": "", "sha256": sha})
    images.append({"site": "s", "product_id": "1000", "position": 9, "url": "http://s/broken", "status": "fetch_failed",
                   "path": "", "sha256": ""})
    pd.DataFrame(products).to_csv(paths.products_csv, index=False)
    pd.DataFrame(images).to_csv(paths.images_csv, index=False)
    keep_all(paths)
    pd.DataFrame([{"site": "s", "product_id": "9", "reason": "children", "signal": "tags: 'kids'"}]).to_csv(
        paths.excluded_csv, index=False)
    write_json(paths.raw / "s" / "crawl.json", {"site": "s", "base_url": "http://s", "platform": "shopify",
                                                "products": n_products, "robots": [], "user_agent": "ua"})
    return paths


def keep_all(paths: PathsConfig) -> None:
    """curation.csv as the curate stage writes it when it keeps every stored image of images.csv."""
    images = pd.read_csv(paths.images_csv, dtype=str, keep_default_na=False)
    write_curation_csv([CurationRow(r.sha256, r.site, r.product_id, int(r.position), r.url, CurationDecision.keep)
                        for r in images[images["status"] == "ok"].itertuples()], paths.curation_csv)


def test_split_is_stable_when_products_are_added() -> None:
    before = {pid: split_of("s", pid, seed=1, validation_percent=20) for pid in map(str, range(100))}
    after = {pid: split_of("s", pid, seed=1, validation_percent=20) for pid in map(str, range(150))}
    assert all(after[pid] == split for pid, split in before.items())
    assert 5 < sum(s == "validation" for s in after.values()) < 60


def test_both_splits_exist_even_for_tiny_catalogs() -> None:
    frame = pd.DataFrame({"site": ["s", "s", "s"], "product_id": ["1", "1", "2"]})
    splits = assign_splits(frame, seed=0, validation_percent=0)
    assert set(splits) == {"train", "validation"}
    assert splits.iloc[0] == splits.iloc[1]  # one product, one split


VOCAB = VocabConfig(garments={"kurta": ["kurta", "kurti"], "shawl": ["shawl", "stole"]},
                    colours=["red", "blue", "green", "black", "navy blue"], fabrics=["lawn", "karandi"],
                    pieces={"3-piece": ["3 piece", "3pc"]}, stitching={"unstitched": ["un-stitched"], "stitched": []})


@pytest.mark.parametrize(
    ("product", "garment", "colours", "fabrics"),
    [({"title": "Red Lawn Kurti", "category": ""}, "kurta", ["red"], ["lawn"]),
     ({"title": "Winter Stole", "category": "", "tags": ["karandi"], "description": "navy blue and green"},
      "shawl", ["navy blue", "green"], ["karandi"]),
     ({"title": "Gift", "category": ""}, "", [], [])],
)
def test_attributes_from_product_text(product: dict, garment: str, colours: list[str], fabrics: list[str]) -> None:
    found = AttributeFinder(VOCAB).find(product)
    assert (found.garment, found.colours, found.fabrics) == (garment, colours, fabrics)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [({"colours": "red", "fabrics": "lawn", "garment": "kurta", "caption": "a woman", "title": "T"},
      "red lawn kurta, a woman, T"),
     ({"colours": "", "fabrics": "", "garment": "", "caption": "", "title": "T"}, "T")],
)
def test_template_drops_empty_parts(fields: dict[str, str], expected: str) -> None:
    assert fill_template("{colours} {fabrics} {garment}, {caption}, {title}", fields) == expected


def test_length_is_capped_with_the_tokenizer() -> None:
    def count(text: str) -> int:
        return len(text.split()) + 2  # start and end tokens

    assert cap_length("a " * 100, count, max_tokens=77).count("a") == 50  # word cap first
    assert len(cap_length("word " * 40, count, max_tokens=12).split()) == 10


def test_clean_caption_drops_debris() -> None:
    assert clean_caption("  A red kurta </s> <pad>.. ") == "a red kurta"
    assert clean_caption("kurta kurta kurta silk") == "kurta silk"


def test_build_dataset_is_a_loadable_imagefolder(tmp_path: Path) -> None:
    import datasets

    paths = make_stage_inputs(tmp_path)
    calls: list[int] = []

    def fake_captioner(images: list[Image.Image], prompts: list[str]) -> list[str]:
        calls.append(len(images))
        return ["a garment"] * len(images)

    settings = configured(CaptionConfig, text_tokenizer="", captioner=Captioner.blip2, batch_size=5, num_workers=0, validation_percent=25)
    stats = build_dataset(paths, settings, VOCAB, LAYOUT, seed=3, caption_fn=fake_captioner)
    assert stats.images == 24 and sum(calls) == 24 and max(calls) == 5
    loaded = datasets.load_dataset("imagefolder", data_dir=str(paths.dataset))
    assert set(loaded) == {"train", "validation"}
    assert loaded["train"].num_rows + loaded["validation"].num_rows == 24
    first = loaded["train"][0]
    assert first["text"].startswith(f"{first['colours'][0]} lawn kurta, a garment, ")
    train_ids = set(loaded["train"]["product_id"])
    assert not train_ids & set(loaded["validation"]["product_id"])


def test_parquet_layout_loads_by_its_card_alone(tmp_path: Path) -> None:
    """dataset.layout=parquet: shards under data/, and the card's `configs` tell `load_dataset(<dir>)` the splits
    (as the Hub reads a pushed dataset)."""
    import datasets

    paths = make_stage_inputs(tmp_path)
    settings = configured(CaptionConfig, text_tokenizer="", captioner=Captioner.metadata_only, validation_percent=25)
    layout = configured(DatasetConfig, "dataset.layout=parquet", images_per_shard=7)
    stats = build_dataset(paths, settings, VOCAB, layout, seed=3, caption_fn=None)
    (paths.dataset / "README.md").write_text(render_dataset_card(card_inputs(paths, settings, layout, stats, safety=configured(SafetyChecks))))
    assert not list(paths.dataset.rglob("*.jpg")) and len(list(paths.dataset.glob("data/train-*.parquet"))) == 3
    loaded = datasets.load_dataset(str(paths.dataset))
    assert (loaded["train"].num_rows, loaded["validation"].num_rows) == (stats.train, stats.validation)
    first = loaded["train"][0]
    assert first["image"].getpixel((32, 32)) == pytest.approx(COLOURS[first["colours"][0]], abs=8)
    assert 'load_dataset("parquet"' in (paths.dataset / "README.md").read_text()


def test_dataset_card_reports_sources_exclusions_and_ledger(tmp_path: Path) -> None:
    paths = make_stage_inputs(tmp_path)
    settings = configured(CaptionConfig, text_tokenizer="", captioner=Captioner.metadata_only, template="{title}")
    stats = build_dataset(paths, settings, VOCAB, LAYOUT, seed=3, caption_fn=None)
    card = render_dataset_card(card_inputs(paths, settings, LAYOUT, stats, safety=configured(SafetyChecks)))
    assert card.startswith("---\nlicense:")
    for heading in ("## Sources", "## Collection process", "## Robots and opt-out ledger", "## Exclusions",
                    "## Personal and sensitive information", "## Biases and limitations"):
        assert heading in card
    assert "`children`: 1" in card
    rows = [json.loads(line) for line in (paths.dataset / "train" / "metadata.jsonl").read_text().splitlines()]
    assert rows[0]["text"] == rows[0]["title"]


def test_cache_skips_captioned_images_and_captions_only_new_ones(tmp_path: Path) -> None:
    paths = make_stage_inputs(tmp_path, n_products=6)
    calls: list[int] = []

    def captioner(images: list[Image.Image], prompts: list[str]) -> list[str]:
        calls.append(len(images))
        return ["a garment"] * len(images)

    settings = configured(CaptionConfig, text_tokenizer="", captioner=Captioner.blip2, batch_size=4, num_workers=0, validation_percent=30)
    assert build_dataset(paths, settings, VOCAB, LAYOUT, seed=1, caption_fn=captioner).images_captioned == 12
    calls.clear()
    assert build_dataset(paths, settings, VOCAB, LAYOUT, seed=1, caption_fn=captioner).images_captioned == 0
    assert calls == []
    images = pd.read_csv(paths.images_csv, dtype=str, keep_default_na=False)
    new_rows = []
    for i in range(3):
        sha = f"new{i}".ljust(64, "b")
        store_image(paths.images, sha, Image.new("RGB", (64, 64), (10 * i, 90, 200)))
        new_rows.append({"site": "s", "product_id": "1000", "position": 10 + i, "url": f"http://s/{sha}",
                         "status": "ok", "path": "", "sha256": sha})
    pd.concat([images, pd.DataFrame(new_rows)]).to_csv(paths.images_csv, index=False)
    keep_all(paths)
    stats = build_dataset(paths, settings, VOCAB, LAYOUT, seed=1, caption_fn=captioner)
    assert sum(calls) == 3 and stats.images == 15


def test_shards_caption_disjoint_parts_and_merge(tmp_path: Path) -> None:
    """Two `accelerate launch` processes: each captions half; process 0 merges both parts."""
    paths = make_stage_inputs(tmp_path, n_products=5)
    seen: list[int] = []

    def captioner(images: list[Image.Image], prompts: list[str]) -> list[str]:
        seen.append(len(images))
        return ["x"] * len(images)

    settings = configured(CaptionConfig, text_tokenizer="", captioner=Captioner.blip2, batch_size=8, num_workers=0, validation_percent=30)
    assert build_dataset(paths, settings, VOCAB, LAYOUT, seed=1, caption_fn=captioner, process=(1, 2)) is None
    stats = build_dataset(paths, settings, VOCAB, LAYOUT, seed=1, caption_fn=captioner, process=(0, 2))
    assert sum(seen) == 10 and stats.images == 10
    rows = [json.loads(line) for split in ("train", "validation")
            for line in (paths.dataset / split / "metadata.jsonl").read_text().splitlines()]
    assert all(row["caption"] == "x" for row in rows)


def test_caption_score_counts_captions_naming_the_products_colour_and_garment() -> None:
    vocab = configured(VocabConfig)
    rows = [
        {"caption": "a red embroidered kurta", "garment": "kurta", "colours": ["red"], "fabrics": []},
        {"caption": "a blue plain shawl", "garment": "kurta", "colours": ["red", "gold"], "fabrics": []},
        {"caption": "a maroon dupatta", "garment": "dupatta", "colours": [], "fabrics": []},
        {"caption": "", "garment": "kurta", "colours": ["red"], "fabrics": []},  # no model caption: not scored
    ]
    metrics = caption_score(rows, vocab).metrics()
    assert (metrics["caption_colour_right"], metrics["caption_colour_known"]) == (1, 2)
    assert (metrics["caption_garment_right"], metrics["caption_garment_known"]) == (2, 3)
    assert metrics["caption_colour_accuracy"] == 0.5 and metrics["caption_garment_accuracy"] == pytest.approx(0.6667)


def test_image_files_decode_jpegs_no_larger_than_the_captioner_needs(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    store_image(store.directory, "ab" * 32, Image.new("RGB", (768, 1024), (200, 30, 40)))
    assert ImageFiles(store, ["ab" * 32])[0].size == (768, 1024)
    drafted = ImageFiles(store, ["ab" * 32], draft_px=224)[0]
    assert drafted.size == (384, 512), "the largest DCT reduction keeping both sides >= 224 is 1/2"
    assert ImageFiles(store, ["ab" * 32], draft_px=32)[0].size == (96, 128)
    assert drafted.mode == "RGB" and drafted.getpixel((200, 250)) == pytest.approx((200, 30, 40), abs=4)


def test_rows_store_each_caption_part_and_the_brand_fills_the_template() -> None:
    """pieces, stitching and brand (products.csv's) are columns of their own; {brand} {pieces} {stitching} work."""
    from pakfashion.captioning.dataset import metadata_rows

    product = {"site": "s", "product_id": "7", "product_url": "http://s/p/7", "title": "Red Lawn Un-Stitched 3 Piece",
               "description": "", "category": "Kurta", "tags": "[]", "price": "4990", "currency": "PKR",
               "image_urls": "[]", "image_colours": "[]", "brand": "Khaadi"}
    examples = pd.DataFrame([{**product, "position": "0", "url": "http://s/0.jpg", "sha256": "0" * 64, "split": "train"}])
    settings = configured(CaptionConfig, "caption=metadata_only", text_tokenizer="",
                          template="{brand} {colours} {garment}, {pieces}, {stitching}")
    [row] = metadata_rows(examples, {}, settings, VOCAB)
    assert (row["garment"], row["colours"], row["fabrics"]) == ("kurta", ["red"], ["lawn"])
    assert (row["pieces"], row["stitching"], row["brand"]) == ("3-piece", "unstitched", "Khaadi")
    assert row["text"] == "Khaadi red kurta, 3-piece, unstitched"
    older = examples.drop(columns=["brand"])  # a products.csv from before the brand column
    assert metadata_rows(older, {}, settings, VOCAB)[0]["brand"] == ""


def test_each_photo_of_a_colourway_is_captioned_with_the_colour_it_shows() -> None:
    """A product sold in maroon and navy names both; the store says which photo shows which (image_colours)."""
    from pakfashion.captioning.dataset import metadata_rows

    product = {"site": "s", "product_id": "7", "product_url": "http://s/p/7", "title": "Plain Lawn Kurta",
               "description": "A lawn kurta in maroon and navy.", "category": "Kurta", "tags": "[]", "price": "4990",
               "currency": "PKR", "image_urls": "[]", "image_colours": json.dumps(["navy", "maroon", ""])}
    examples = pd.DataFrame([{**product, "position": str(position), "url": f"http://s/{position}.jpg",
                              "sha256": str(position) * 64, "split": "train"} for position in range(3)])
    settings = configured(CaptionConfig, "caption=metadata_only")
    rows = metadata_rows(examples, {}, settings, configured(VocabConfig))
    assert [row["colours"] for row in rows] == [["navy"], ["maroon"], ["maroon", "navy"]]
    assert "navy" in rows[0]["text"] and "maroon" not in rows[0]["text"]
