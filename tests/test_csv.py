"""The csv stage: exclusion evidence with its deciding signal, site conventions, duplicates, tables, metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hydra import compose, initialize_config_dir

from pakfashion.common.files import read_jsonl, write_json, write_jsonl
from pakfashion.contracts import (
    CRAWL_REPORT_FILE,
    EXCLUDED_COLUMNS,
    PRODUCT_COLUMNS,
    PRODUCTS_FILE,
)
from pakfashion.products.exclusion import (
    ProductClassifier,
    classify_catalogue,
    evaluate_labelled,
    product_codes,
)
from pakfashion.products.tables import (
    build_tables,
    classifier_from_config,
    score_labelled_sets,
)
from tests.helpers import site_settings


def composed(repo_root: Path, *overrides: str) -> Any:
    with initialize_config_dir(str(repo_root / "conf"), version_base=None):
        return compose(config_name="config", overrides=list(overrides))


@pytest.fixture(scope="module")
def classifier(repo_root: Path) -> ProductClassifier:
    return classifier_from_config(composed(repo_root))


def product(**fields: Any) -> dict[str, Any]:
    base = {"site": "s", "product_id": "1", "product_url": "http://s/products/x", "title": "Lawn Kurta",
            "description": "", "category": "Kurta", "tags": [], "price": 4990.0, "currency": "PKR",
            "image_urls": ["http://s/cdn/1.jpg"], "crawled_at": "2026-11-26T00:00:00+00:00", "options": {}}
    return {**base, **fields}


def silent(**fields: Any) -> dict[str, Any]:
    """A text-only listing (as a sitemap/JSON-LD crawl sees it): no type, tags or options."""
    return product(category="", **fields)


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
        # Shopify collection membership and JSON-LD breadcrumbs name the line.
        ({"title": "Gulnar", "collections": [{"handle": "kids-eid-edit", "title": "Kids Eid Edit"}]},
         "children", "collection"),
        ({"title": "Gulnar", "breadcrumbs": ["Home", "Kids", "Girls", "Gulnar"]}, "children", "breadcrumb"),
        ({"title": "Noor", "category": "", "collections": [{"handle": "fragrances", "title": "Fragrances"}]},
         "non_clothing", "collection"),
        ({"title": "Noor", "category": "", "collections": [{"handle": "home-living", "title": "Home & Living"}]},
         "non_clothing", "collection"),
        ({"title": "Noor", "category": "", "collections": [{"handle": "frontpage", "title": "Home page"}]}, "keep", ""),
        ({"title": "Gulnar", "category": "", "breadcrumbs": ["Home", "Women", "Gulnar"]}, "keep", ""),
    ],
)
def test_classification_and_signal(classifier: ProductClassifier, fields: dict[str, Any], reason: str, signal_part: str) -> None:
    decision = classifier.classify(product(**fields))
    assert decision.reason == reason, decision
    assert signal_part in decision.signal


@pytest.mark.parametrize(
    ("fields", "reason", "signal_part"),
    [
        # The URL says it.
        ({"title": "Sunshine Angrakha", "product_url": "https://x.pk/collections/girls-eid/products/sunshine-angrakha"},
         "children", "url"),
        ({"title": "Printed Shirt", "product_url": "https://pk.x.com/kids/A11-26-216KB1.html"}, "children", "url"),
        ({"title": "Festive Kurta", "product_url": "https://x.pk/products/juniors-festive-kurta"}, "children", "handle"),
        # The description says it (copy about or addressed to a child).
        ({"title": "Gulnar Angrakha", "description": "Let your little one twirl through Eid in soft cotton."},
         "children", "description"),
        ({"title": "Sunny Days Co-ord", "description": "Soft cotton that keeps them comfy from school run to playtime."},
         "children", "description"),
        ({"title": "Printed Kurta", "description": "A tiny, adorable kurta for the cute birthday girl."},
         "children", "description"),
        # Non-clothing named only by shape and use.
        ({"title": "Zarri Noor", "description": "Hand-embroidered uppers on a cushioned sole with a low block heel "
          "keep every step light."}, "non_clothing", "footwear"),
        ({"title": "Midnight Bloom", "description": "Top notes: bergamot. Heart notes: rose. Base notes: oud and amber."},
         "non_clothing", "fragrance"),
        ({"title": "Saffron Glow", "description": "Hand-poured in small batches. Burn time: 40 hours."},
         "non_clothing", "candles"),
        ({"title": "Set of 4 Coasters", "description": "Block printed."}, "non_clothing", "tableware"),
        ({"title": "Ceramic Hot Plate", "description": "Keeps your dishes warm."}, "non_clothing", "tableware"),
        ({"title": "Eidi Envelopes - Pack of 10"}, "non_clothing", "stationery"),
        ({"title": "Floral Gift Wrap Sheets"}, "non_clothing", "stationery"),
        ({"title": "Rattan Storage Box"}, "non_clothing", "tableware"),
        ({"title": "Gulabi Jhumkay", "description": "Gold plated jhumkas with kundan stones."}, "non_clothing", "jewellery"),
        # Adult traps: kept.
        ({"title": "Baby Pink Printed Lawn Kurti"}, "keep", ""),
        ({"title": "Girls Day Out Printed Shirt"}, "keep", ""),
        ({"title": "Jewel Embroidered Lawn Suit"}, "keep", ""),
        ({"title": "Misty Lilac Chiffon Dupatta"}, "keep", ""),
        ({"title": "Mughal Era Jacquard Shalwar Kameez"}, "keep", ""),
        ({"title": "Embroidered Lawn Suit", "description": "Pair it with heels and a clutch for the evening."}, "keep", ""),
        ({"title": "Printed Kurta", "description": "A ring of embroidery frames the neckline."}, "keep", ""),
    ],
)
def test_text_only_listings(classifier: ProductClassifier, fields: dict[str, Any], reason: str, signal_part: str) -> None:
    decision = classifier.classify(silent(**fields))
    assert decision.reason == reason, decision
    assert signal_part in decision.signal, decision


def test_disagreeing_signals_are_all_kept(classifier: ProductClassifier) -> None:
    decision = classifier.classify(product(title="Kids Kurta", options={"Size": ["S", "M", "XL"]}, tags=["Women"]))
    assert decision.reason == "keep"
    assert any("'kids'" in line and "+1.0 children" in line for line in decision.evidence)
    assert any("adult size XL" in line for line in decision.evidence)


def site_line(prefix: str, n: int, *, title: str, category: str, start: int) -> list[dict[str, Any]]:
    return [product(product_id=str(start + i), title=f"{title} {i}", category=category, skus=[f"{prefix}{start + i:04d}-38"],
                    image_urls=[f"http://s/cdn/{prefix}{start + i}.jpg"]) for i in range(n)]


def test_site_code_convention_is_learned_and_applied(classifier: ProductClassifier) -> None:
    footwear = site_line("FW", 6, title="Embroidered Khussa", category="Footwear", start=100)
    silent_footwear = site_line("FW", 2, title="Zarri Noor", category="", start=200)
    garments = site_line("DB", 10, title="Lawn Kurta", category="Kurta", start=300)
    products = footwear + silent_footwear + garments
    decisions, conventions = classify_catalogue(products, classifier)
    assert [d.reason for d in decisions[6:8]] == ["non_clothing", "non_clothing"]
    assert all("convention" in d.signal for d in decisions[6:8])
    assert all(d.reason == "keep" for d in decisions[8:])
    learned = {c.code: c for c in conventions}
    rule = learned["code prefix 'fw'"]
    assert (rule.family, rule.support, rule.applied) == ("footwear", 6, 2)
    assert "in 6 of 6 decided products of s" in rule.describe()


def test_a_convention_needs_support_and_purity(classifier: ProductClassifier) -> None:
    few = site_line("FW", 4, title="Embroidered Khussa", category="Footwear", start=100)
    mixed = site_line("FW", 6, title="Embroidered Khussa", category="Footwear", start=200) + \
        [product(product_id="9", title="Lawn Kurta", tags=["Women"], skus=["FW0999"], image_urls=["http://s/9.jpg"])]
    for products in (few, mixed):
        silent_one = product(product_id="x", title="Zarri Noor", category="", skus=["FW7777"], image_urls=["http://s/x.jpg"])
        decisions, _ = classify_catalogue([*products, silent_one], classifier)
        assert decisions[-1].reason == "keep"


def test_codes_of_a_product() -> None:
    codes = product_codes({"skus": ["KG0012-PINK"], "handle": "ss25-kg-gulnar",
                           "product_url": "https://x.pk/girls-eid/ss25-kg-gulnar.html",
                           "image_urls": ["https://cdn/x/A11-216FA1_1.jpg"]})
    assert {"code prefix 'kg'", "code 'kg'", "code prefix 'ss'", "code infix 'fa'", "URL segment 'girls-eid'"} <= codes


def test_build_tables_writes_contract_columns_and_counts(tmp_path: Path, classifier: ProductClassifier) -> None:
    rows = [
        product(product_id="1"),
        product(product_id="2", category="Kids", image_urls=["http://s/cdn/2.jpg"]),
        product(product_id="3", title="Perfume", category="", image_urls=["http://s/cdn/3.jpg"]),
        product(product_id="4", image_urls=["http://s/cdn/1.jpg?v=2"]),  # same photo as product 1
        product(product_id="5", image_urls=["http://s/cdn/5.jpg"], vendor="Khaadi Khaas"),
    ]
    write_jsonl(tmp_path / "s" / PRODUCTS_FILE, rows)
    write_json(tmp_path / "s" / CRAWL_REPORT_FILE, {"site": "s", "opted_out": False})
    kept, excluded, metrics = build_tables(tmp_path, classifier, brands={"s": "Khaadi"})
    assert tuple(kept.columns) == PRODUCT_COLUMNS and tuple(excluded.columns) == EXCLUDED_COLUMNS
    assert kept["product_id"].tolist() == ["1", "5"]
    # the vendor the store lists, else the site's configured brand
    assert kept["brand"].tolist() == ["Khaadi", "Khaadi Khaas"] and set(excluded["brand"]) == {"Khaadi"}
    assert json.loads(kept.loc[0, "image_urls"]) == ["http://s/cdn/1.jpg"]
    assert dict(zip(excluded["product_id"], excluded["reason"])) == {
        "2": "children", "3": "non_clothing", "4": "duplicate_product"}
    assert excluded["signal"].str.len().gt(0).all()
    assert "+1.0 children" in excluded.set_index("product_id").loc["2", "evidence"]
    assert metrics["excluded"] == {"children": 1, "duplicate_product": 1, "non_clothing": 1}
    assert metrics["deciding_field"]["children"] == {"product_type": 1}
    assert metrics["per_site"]["s"]["keep"] == 2


def test_site_brands_come_from_each_crawled_sites_conf_file(tmp_path: Path, repo_root: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """As the stage composes them (stage.yaml's site group): a site crawled as site=generic has no file."""
    from pakfashion.csv import site_brands

    for name in ("khaadi", "demo_shop", "mystore"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(repo_root)
    with initialize_config_dir(str(repo_root), version_base="1.3"):
        assert site_brands(tmp_path) == {"demo_shop": "Demo Shop", "khaadi": "Khaadi"}


def test_no_crawled_sites_is_a_clear_error(tmp_path: Path, classifier: ProductClassifier) -> None:
    with pytest.raises(FileNotFoundError, match="run `dvc repro crawl`"):
        build_tables(tmp_path, classifier, brands={})


def test_a_missing_labelled_set_is_a_clear_error(classifier: ProductClassifier, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="csv.labelled_sets.mine"):
        score_labelled_sets(classifier, {"mine": str(tmp_path / "nope.jsonl")})


def test_rules_hold_on_the_in_house_regression_set(classifier: ProductClassifier, repo_root: Path) -> None:
    labelled = list(read_jsonl(repo_root / "data/labelled/in_house.jsonl"))
    assert len(labelled) >= 200
    scores = evaluate_labelled(classifier, labelled)
    for label in ("children", "non_clothing"):
        assert scores[label]["precision"] >= 0.95 and scores[label]["recall"] >= 0.95, scores
    assert scores["keep_excluded"]["share"] < 0.01, scores


def test_rules_on_public_listings_they_were_not_written_from(classifier: ProductClassifier, repo_root: Path) -> None:
    """Real text-only listings labelled by someone who never saw the rules; the test split was never tuned on.

    Recall of children is bounded by the material: about half its children's listings say so only in
    fields a text-only crawl does not see (sizes in ages, tags); see data/labelled/PUBLIC_LISTINGS.md.
    """
    labelled = list(read_jsonl(repo_root / "data/labelled/public_listings.jsonl"))
    scores = evaluate_labelled(classifier, [r for r in labelled if r["split"] == "test"])
    assert scores["products"] >= 250
    for label in ("children", "non_clothing"):
        assert scores[label]["precision"] >= 0.95, scores
    assert scores["non_clothing"]["recall"] >= 0.9 and scores["children"]["recall"] >= 0.5, scores
    assert scores["keep_excluded"]["share"] < 0.01, scores


# Which field a demo product's notes say gives it away ("children: only its collection ..." -> collection).
EVIDENCE_FIELDS = {"collection": ("collection",), "description": ("description",), "URL": ("url", "breadcrumb"),
                   "code": ("convention",), "SKU": ("convention",), "type": ("product_type", "options")}


def expected_outcome(product: Any, image_urls: bool) -> str:
    # A product whose only image 404s is "no_image" for the download stage, "keep" here (and a re-listing
    # with pixel-identical photos under other URLs is the download stage's duplicate, kept here).
    return "keep" if product.expected == "no_image" and image_urls else product.expected


def expected_fields(notes: str) -> tuple[str, ...]:
    evidence = notes.split("only", 1)[-1] if "only" in notes else notes
    return next((fields for word, fields in EVIDENCE_FIELDS.items() if word in evidence), ())


@pytest.mark.network
def test_demo_store_crawl_every_product_decided_right_with_its_signal(demo_store, tmp_path: Path, repo_root: Path) -> None:  # noqa: ANN001
    """Crawl the three demo sites as the stage does (collections within budget), then classify them."""
    from pakfashion.config import CrawlConfig, WebConfig, as_typed
    from pakfashion.crawling.site import crawl_site, write_crawl_outputs
    from pakfashion.web.frontier import Frontier

    cfg = composed(repo_root)
    settings, web = as_typed(cfg.crawl, CrawlConfig), as_typed(cfg.web, WebConfig)
    for name in demo_store.world.sites:
        site_config = site_settings(name, demo_store.base_url(name))
        with Frontier(tmp_path / f"{name}.sqlite") as frontier:
            records, report = crawl_site(site_config, settings, web, frontier=frontier)
        assert report.collections.get("requests", 0) <= settings.collections.max_requests
        write_crawl_outputs(records, report, tmp_path / "raw" / name)
    kept, excluded, metrics = build_tables(tmp_path / "raw", classifier_from_config(cfg), brands={})
    decided = {(r.site, urlsplit(r.product_url).path): (r.reason, r.signal) for r in excluded.itertuples()}
    decided |= {(r.site, urlsplit(r.product_url).path): ("keep", "") for r in kept.itertuples()}
    wrong = []
    for product in demo_store.world.products():
        reason, signal = decided[(product.site, demo_store.world.sites[product.site].product_path(product))]
        fields = expected_fields(product.notes) if product.expected in ("children", "non_clothing") else ()
        if reason != expected_outcome(product, bool(product.image_specs)) or (fields and not signal.startswith(fields)):
            wrong.append((product.site, product.title, product.notes, reason, signal))
    assert not wrong
    learned = {(c["site"], c["code"]): c for c in metrics["conventions"] if c["applied"]}
    assert learned[("demo_boutique", "code prefix 'fw'")]["family"] == "footwear"
    assert learned[("demo_shop", "code prefix 'kg'")]["reason"] == "children"
