"""The caption stage: product-level split, text composition, the imagefolder and its card."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from pakfashion.caption import (
    assign_splits,
    build_dataset,
    card_inputs,
    clean_caption,
    compose_text,
    split_of,
)
from pakfashion.config import CaptionConfig, Captioner, PathsConfig
from pakfashion.dataset_card import render_dataset_card
from pakfashion.files import write_json

COLOURS = {"red": (200, 30, 30), "blue": (30, 30, 200), "green": (30, 160, 60), "black": (10, 10, 10)}


def make_stage_inputs(root: Path, n_products: int = 12) -> PathsConfig:
    """products.csv, images.csv, excluded.csv, crawl.json and images, as the earlier stages write them."""
    paths = PathsConfig(raw=root / "raw", products_csv=root / "products.csv", excluded_csv=root / "excluded.csv",
                        images=root / "images", images_csv=root / "images.csv", dataset=root / "dataset")
    paths.images.mkdir(parents=True)
    products, images = [], []
    for i in range(n_products):
        colour = list(COLOURS)[i % len(COLOURS)]
        products.append({"site": "s", "product_id": str(1000 + i), "product_url": f"http://s/p/{i}",
                         "title": f"{colour.title()} Lawn Kurta {i}", "description": "", "category": "Kurta",
                         "tags": "[]", "price": "4990.0", "currency": "PKR", "image_urls": "[]", "crawled_at": ""})
        for position in range(2):
            sha = f"{i:03d}{position}".ljust(64, "a")
            Image.new("RGB", (64, 64), COLOURS[colour]).save(paths.images / f"{sha}.jpg")
            images.append({"site": "s", "product_id": str(1000 + i), "position": position, "url": f"http://s/{sha}",
                           "status": "ok", "path": "", "sha256": sha})
    images.append({"site": "s", "product_id": "1000", "position": 9, "url": "http://s/broken", "status": "fetch_failed",
                   "path": "", "sha256": ""})
    pd.DataFrame(products).to_csv(paths.products_csv, index=False)
    pd.DataFrame(images).to_csv(paths.images_csv, index=False)
    pd.DataFrame([{"site": "s", "product_id": "9", "reason": "children", "signal": "tags: 'kids'"}]).to_csv(
        paths.excluded_csv, index=False)
    write_json(paths.raw / "s" / "crawl.json", {"site": "s", "base_url": "http://s", "platform": "shopify",
                                                "products": n_products, "robots": [], "user_agent": "ua"})
    return paths


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


@pytest.mark.parametrize(
    ("caption", "template", "expected"),
    [("a red dress", "{caption}, {title}", "a red dress, Red Kurta"),
     ("", "{caption}, {title}", "Red Kurta"),
     ("x", "{title}, {product_type}", "Red Kurta, Kurta")],
)
def test_compose_text(caption: str, template: str, expected: str) -> None:
    assert compose_text(template, caption=caption, row={"title": "Red Kurta", "category": "Kurta"}) == expected


def test_clean_caption_drops_debris() -> None:
    assert clean_caption("  A red kurta </s> <pad>.. ") == "a red kurta"
    assert len(compose_text("{caption}", caption="word " * 200, row={}).split()) == 50


def test_build_dataset_is_a_loadable_imagefolder(tmp_path: Path) -> None:
    import datasets

    paths = make_stage_inputs(tmp_path)
    calls: list[int] = []

    def fake_captioner(images: list[Image.Image]) -> list[str]:
        calls.append(len(images))
        return ["a garment"] * len(images)

    settings = CaptionConfig(captioner=Captioner.blip2, batch_size=5, validation_percent=25)
    stats = build_dataset(paths, settings, seed=3, caption_fn=fake_captioner)
    assert stats.images == 24 and sum(calls) == 24 and max(calls) == 5
    loaded = datasets.load_dataset("imagefolder", data_dir=str(paths.dataset))
    assert set(loaded) == {"train", "validation"}
    assert loaded["train"].num_rows + loaded["validation"].num_rows == 24
    assert loaded["train"][0]["text"].startswith("a garment, ")
    train_ids = set(loaded["train"]["product_id"])
    assert not train_ids & set(loaded["validation"]["product_id"])


def test_dataset_card_reports_sources_exclusions_and_ledger(tmp_path: Path) -> None:
    paths = make_stage_inputs(tmp_path)
    settings = CaptionConfig(captioner=Captioner.metadata_only, template="{title}")
    stats = build_dataset(paths, settings, seed=3, caption_fn=None)
    card = render_dataset_card(card_inputs(paths, settings, stats))
    assert card.startswith("---\nlicense:")
    for heading in ("## Sources", "## Collection process", "## Robots and opt-out ledger", "## Exclusions",
                    "## Personal and sensitive information", "## Biases and limitations"):
        assert heading in card
    assert "`children`: 1" in card
    rows = [json.loads(line) for line in (paths.dataset / "train" / "metadata.jsonl").read_text().splitlines()]
    assert rows[0]["text"] == rows[0]["title"]
