"""The csv stage: exclusion rules with their deciding signal, duplicates, the tables and metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir

from pakfashion.config import CsvConfig, as_typed
from pakfashion.csv import PRODUCT_COLUMNS, ProductClassifier, build_tables
from pakfashion.files import write_json, write_jsonl


@pytest.fixture(scope="module")
def classifier(repo_root: Path) -> ProductClassifier:
    with initialize_config_dir(str(repo_root / "conf"), version_base=None):
        cfg = compose(config_name="config")
    return ProductClassifier(as_typed(cfg.csv, CsvConfig))


def product(**fields: Any) -> dict[str, Any]:
    base = {"site": "s", "product_id": "1", "product_url": "http://s/products/x", "title": "Lawn Kurta",
            "description": "", "category": "Kurta", "tags": [], "price": 4990.0, "currency": "PKR",
            "image_urls": ["http://s/cdn/1.jpg"], "crawled_at": "2026-11-26T00:00:00+00:00", "options": {}}
    return {**base, **fields}


@pytest.mark.parametrize(
    ("fields", "reason", "signal_part"),
    [
        ({}, "keep", ""),
        ({"category": "Kids"}, "children", "product_type"),
        ({"tags": ["Boys", "Eid"]}, "children", "tags"),
        ({"title": "Girls Pink Frock"}, "children", "title"),
        ({"options": {"Size": ["2-3Y", "4-5Y"]}}, "children", "age size"),
        ({"options": {"Age": ["4-5 Years"]}}, "children", "age size"),
        ({"category": "Kids", "options": {"Size": ["S", "M", "XL"]}}, "keep", ""),
        ({"title": "School Shirt - Age 8"}, "children", "age"),
        ({"category": "Footwear", "title": "Kids Khussa"}, "non_clothing", "product_type"),
        ({"category": "Fragrance", "title": "Oud Noir Eau de Parfum 100ml"}, "non_clothing", "product_type"),
        ({"title": "Rose Attar 12ml", "category": ""}, "non_clothing", "title"),
        ({"title": "Embroidered Bedsheet Set", "category": "Home"}, "non_clothing", "product_type"),
        ({"title": "Embroidered Bedsheet Set", "category": ""}, "non_clothing", "title"),
        ({"title": "Girls Night Out Chiffon Suit"}, "keep", ""),
        ({"description": "Perfect for Eid with the kids"}, "keep", ""),
        ({"title": "3 Piece Unstitched Lawn Suit", "category": "Unstitched"}, "keep", ""),
        ({"options": {"Size": ["XS", "S", "M", "L"]}}, "keep", ""),
        ({"image_urls": []}, "no_image", "image_urls"),
    ],
)
def test_classification_and_signal(classifier: ProductClassifier, fields: dict[str, Any], reason: str, signal_part: str) -> None:
    decision = classifier.classify(product(**fields))
    assert decision.reason == reason
    assert signal_part in decision.signal


def test_build_tables_writes_contract_columns_and_counts(tmp_path: Path, classifier: ProductClassifier) -> None:
    settings = CsvConfig(children_terms=["kids"], non_clothing_terms=["perfume"], age_size_pattern=r"^\d+-\d+Y$")
    rows = [
        product(product_id="1"),
        product(product_id="2", category="Kids", image_urls=["http://s/cdn/2.jpg"]),
        product(product_id="3", title="Perfume", image_urls=["http://s/cdn/3.jpg"]),
        product(product_id="4", image_urls=["http://s/cdn/1.jpg?v=2"]),  # same photo as product 1
    ]
    write_jsonl(tmp_path / "s" / "products.jsonl", rows)
    write_json(tmp_path / "s" / "crawl.json", {"site": "s", "opted_out": False})
    kept, excluded, metrics = build_tables(tmp_path, settings)
    assert list(kept.columns) == PRODUCT_COLUMNS
    assert kept["product_id"].tolist() == ["1"]
    assert json.loads(kept.loc[0, "image_urls"]) == ["http://s/cdn/1.jpg"]
    assert dict(zip(excluded["product_id"], excluded["reason"])) == {
        "2": "children", "3": "non_clothing", "4": "duplicate_product"}
    assert excluded["signal"].str.len().gt(0).all()
    assert metrics["excluded"] == {"children": 1, "duplicate_product": 1, "non_clothing": 1}
    assert metrics["per_site"]["s"]["keep"] == 1


def test_no_crawled_sites_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run `dvc repro crawl`"):
        build_tables(tmp_path, CsvConfig())


def test_rules_reach_the_target_on_the_labelled_set(classifier: ProductClassifier, repo_root: Path) -> None:
    from pakfashion.csv import evaluate_rules
    from pakfashion.files import read_jsonl

    labelled = list(read_jsonl(repo_root / "tests/data/labelled_products.jsonl"))
    assert len(labelled) >= 200
    scores = evaluate_rules(classifier, labelled)
    for label in ("children", "non_clothing"):
        assert scores[label]["precision"] >= 0.95 and scores[label]["recall"] >= 0.95, scores


def test_demo_store_ground_truth(classifier: ProductClassifier) -> None:
    from pakfashion.demo import build_world
    from pakfashion.sources.shopify import normalise_shopify_product

    wrong = []
    for name in ("demo_shop", "demo_boutique"):
        for product in build_world().products(name):
            record = normalise_shopify_product(product.render("127.0.0.1:1"), site=name, base_url="http://127.0.0.1:1",
                                               currency="PKR", crawled_at="").to_dict()
            # A product whose only image 404s is "no_image" for the download stage, "keep" here.
            expected = "keep" if product.expected == "no_image" and record["image_urls"] else product.expected
            if classifier.classify(record).reason != expected:
                wrong.append((product.title, product.expected, classifier.classify(record)))
    assert not wrong
