"""The app's readers and views on small fixture files: dataset search and pages, exclusions, curation
decisions and their images, crawl ledger, trained runs, the `dvc exp show` table, settings from params.yaml."""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from pakfashion.app import data, views
from pakfashion.app.data import DataMissing, DatasetQuery
from pakfashion.app.settings import load_settings
from pakfashion.common.files import write_json, write_jsonl
from pakfashion.contracts import (
    CRAWL_REPORT_FILE,
    EVAL_METRICS,
    METADATA_FILE,
    SAMPLES_REPORT,
    CurationDecision,
    CurationReason,
    CurationRow,
)
from pakfashion.images.store import ImageStore
from tests.helpers import store_image
from tests.helpers.browser import write_curation_csv

ROWS = [
    # split, product_id, site, garment, colours, caption
    ("train", "P1", "shop", "kurta", ["red"], "red lawn kurta, Red Embroidered Lawn Kurta"),
    ("train", "P2", "shop", "kurta", ["blue"], "blue embroidered kurta, Blue Embroidered Kurta"),
    ("train", "P3", "boutique", "shawl", ["red", "black"], "black and red khaddar shawl"),
    ("validation", "P4", "boutique", "dupatta", ["green"], "green silk dupatta, off-red trim"),
    ("validation", "P5", "shop", "abaya", [], "plain abaya <b>bold</b>"),
]


def write_dataset(root: Path) -> Path:
    dataset = root / "dataset"
    for split in data.SPLITS:
        rows = [
            {
                "file_name": f"{pid}.jpg",
                "text": text,
                "site": site,
                "product_id": pid,
                "garment": garment,
                "colours": colours,
                "product_url": f"http://127.0.0.1:8765/products/{pid}",
                "title": pid,
            }
            for row_split, pid, site, garment, colours, text in ROWS
            if row_split == split
        ]
        write_jsonl(dataset / split / METADATA_FILE, rows)
    return dataset


@pytest.fixture()
def dataset(tmp_path: Path) -> pd.DataFrame:
    return data.load_dataset(write_dataset(tmp_path))


def crawl_report(site: str, *, forbidden: int = 0, opted_out: bool = False) -> dict:
    return {
        "site": site,
        "platform": "shopify",
        "products": 4,
        "opted_out": opted_out,
        "stopped_reason": None,
        "http": {"requests": 3, "robots/forbidden": forbidden},
        "pages": {"opted_out": 1},
        "robots": [
            {
                "url": f"http://{site}/robots.txt",
                "status": 200,
                "policy": "parsed",
                "sha256": "ab" * 32,
                "content_signals": {"ai-train": "no"} if opted_out else {},
                "text": "User-agent: *\nDisallow: /cart\n",
                "fetched_at": "2026-11-26T11:30:44+00:00",
            }
        ],
    }


def test_load_dataset_reads_both_splits_with_image_paths(tmp_path: Path) -> None:
    frame = data.load_dataset(write_dataset(tmp_path))
    assert frame["split"].tolist() == ["train", "train", "train", "validation", "validation"]
    assert frame.loc[3, "image_path"] == str(tmp_path / "dataset" / "validation" / "P4.jpg")
    assert frame.loc[4, "colours"] == []


def test_missing_dataset_names_the_stage(tmp_path: Path) -> None:
    with pytest.raises(DataMissing, match=r"dvc repro caption"):
        data.load_dataset(tmp_path / "dataset")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (DatasetQuery(), ["P1", "P2", "P3", "P4", "P5"]),
        (DatasetQuery(text="red"), ["P1", "P3"]),  # not "embroidered", not "off-red"
        (DatasetQuery(text="RED Kurta"), ["P1"]),  # every word, any case
        (DatasetQuery(text="kurta", site="shop"), ["P1", "P2"]),
        (DatasetQuery(garment="shawl"), ["P3"]),
        (DatasetQuery(colour="red"), ["P1", "P3"]),
        (DatasetQuery(colour="red", site="boutique"), ["P3"]),
        (DatasetQuery(text="velvet"), []),
    ],
)
def test_filter_dataset(dataset: pd.DataFrame, query: DatasetQuery, expected: list[str]) -> None:
    assert data.filter_dataset(dataset, query)["product_id"].tolist() == expected


def test_search_over_300000_captions_answers_in_under_a_second() -> None:
    rng = random.Random(0)
    colours, garments = ["red", "off-red", "blue", "purple", "pink"], ["kurta", "lehenga", "abaya", "shalwar kameez"]
    frame = pd.DataFrame([{"text": f"a {rng.choice(colours)} embroidered {rng.choice(garments)} from site{i % 19}",
                           "site": f"site{i % 19}", "garment": rng.choice(garments), "colours": [rng.choice(colours)]}
                          for i in range(300_000)])
    query = DatasetQuery(text="red KURTA", colour="red")
    started = time.perf_counter()
    page = data.page_of(data.filter_dataset(frame, query), 1, size=48)
    seconds = time.perf_counter() - started
    naive = frame[frame["colours"].map(lambda c: "red" in c)
                  & frame["text"].map(lambda t: " red " in f" {t} " and " kurta " in f" {t} ")]
    assert page.total == len(naive) > 0 and seconds < 1.0, f"{seconds:.2f} s"


@pytest.mark.parametrize(
    ("number", "size", "expected_number", "expected_ids", "count"),
    [
        (1, 2, 1, ["P1", "P2"], 3),
        (3, 2, 3, ["P5"], 3),
        (9, 2, 3, ["P5"], 3),
        (0, 10, 1, ["P1", "P2", "P3", "P4", "P5"], 1),
    ],
)
def test_page_of_clamps_to_existing_pages(
    dataset: pd.DataFrame, number: int, size: int, expected_number: int, expected_ids: list[str], count: int
) -> None:
    page = data.page_of(dataset, number, size=size)
    assert (page.number, page.count, page.total) == (expected_number, count, 5)
    assert page.rows["product_id"].tolist() == expected_ids


def test_page_of_nothing_is_one_empty_page(dataset: pd.DataFrame) -> None:
    page = data.page_of(dataset.iloc[:0], 3, size=24)
    assert (page.number, page.count, page.total, len(page.rows)) == (1, 1, 0, 0)


def test_facets(dataset: pd.DataFrame) -> None:
    found = data.facets(dataset)
    assert found.sites == ["boutique", "shop"]
    assert found.garments == ["abaya", "dupatta", "kurta", "shawl"]
    assert found.colours == ["black", "blue", "green", "red"]


def test_excluded_rows_with_reason_and_signal(tmp_path: Path) -> None:
    path = tmp_path / "excluded.csv"
    pd.DataFrame(
        [
            {
                "site": "shop",
                "product_id": "K1",
                "title": "Girls Frock",
                "reason": "children",
                "signal": "options: age size '2-3Y'",
                "evidence": "options: 'age size 2-3Y' (+3.0 children) | options: 'adult size XL' (-1.0 children)",
                "product_url": "http://127.0.0.1/k1",
                "description": "x",
            },
            {
                "site": "boutique",
                "product_id": "F1",
                "title": "Oud",
                "reason": "non_clothing",
                "signal": "product_type: 'fragrance'",
                "product_url": "",
                "description": "y",
            },
        ]
    ).to_csv(path, index=False)
    frame = data.load_excluded(path)
    assert frame.columns.tolist() == data.EXCLUDED_COLUMNS
    assert data.filter_excluded(frame, reason="children")["signal"].tolist() == ["options: age size '2-3Y'"]
    assert data.filter_excluded(frame, site="boutique")["product_id"].tolist() == ["F1"]
    shown = views.explained(frame)
    assert shown["product_url"].tolist() == ["[open](http://127.0.0.1/k1)", "open"]
    assert shown["evidence"].tolist() == [
        r"**\+3\.0 children** options\: &#x27;age size 2\-3Y&#x27;<br>"
        r"**\-1\.0 children** options\: &#x27;adult size XL&#x27;", ""]  # Markdown syntax escaped
    with pytest.raises(DataMissing, match="dvc repro csv"):
        data.load_excluded(tmp_path / "absent.csv")


KEEP, DROP = CurationDecision.keep, CurationDecision.drop
CURATION = [
    CurationRow("a" * 64, "shop", "P1", 0, "http://127.0.0.1/a.jpg", KEEP, scores='{"sharpness": 210.0}'),
    CurationRow("b" * 64, "shop", "P1", 1, "http://127.0.0.1/b.jpg", DROP, CurationReason.blurry,
                "sharpness 12.3 < 40.0",
                findings='{"blurry": "sharpness 12.3 < 40.0", "too_dark": "brightness 0.05 < 0.10"}',
                scores='{"sharpness": 12.3, "brightness": 0.05}'),
    CurationRow("c" * 64, "boutique", "P2", 0, "http://127.0.0.1/c.jpg", DROP, CurationReason.blurry,
                "sharpness 3.1 < 40.0", findings='{"blurry": "sharpness 3.1 < 40.0"}', face_boxes="[[1, 2, 3, 4]]"),
    CurationRow("d" * 64, "shop", "P3", 0, "http://127.0.0.1/d.jpg", DROP, CurationReason.size_chart,
                "text area 0.41 > 0.25", near_duplicates='["http://127.0.0.1/d2.jpg"]'),
    CurationRow("e" * 64, "boutique", "P4", 2, "http://127.0.0.1/e.jpg", KEEP),
]  # fmt: skip


@pytest.fixture()
def curation(tmp_path: Path) -> pd.DataFrame:
    write_curation_csv(tmp_path / "curation.csv", CURATION)
    return data.load_curation(tmp_path / "curation.csv")


@pytest.mark.parametrize(
    ("reason", "site", "expected"),
    [
        ("", "", ["b", "c", "d"]),  # every dropped image, no kept one
        ("blurry", "", ["b", "c"]),
        ("blurry", "boutique", ["c"]),
        ("size_chart", "boutique", []),
        ("too_dark", "", []),  # fired on b, but did not decide it
    ],
)
def test_filter_curation_by_reason_and_site(curation: pd.DataFrame, reason: str, site: str, expected: list) -> None:
    rows = data.filter_curation(curation, reason=reason, site=site)
    assert [sha[0] for sha in rows["sha256"]] == expected


def test_curation_summary_counts_and_facets(curation: pd.DataFrame) -> None:
    assert curation.columns.tolist() == data.CURATION_COLUMNS
    assert data.curation_facets(curation) == (["blurry", "size_chart"], ["boutique", "shop"])
    summary = data.curation_summary(curation)
    assert (summary.images, summary.kept, summary.dropped) == (5, 2, 3)
    assert summary.reasons == {"blurry": 2, "size_chart": 1} and summary.quality == {}
    line = views.curation_summary_markdown(summary)
    assert line == "**5** images: **2** kept, **3** dropped (blurry 2, size\\_chart 1)"


def test_curation_summary_shows_precision_and_recall_of_curation_json(curation: pd.DataFrame, tmp_path: Path) -> None:
    metrics = {"images": 5, "reasons": {"blurry": 2, "size_chart": 1},
               "ground_truth": {"blurry": {"precision": 1.0, "recall": 0.5, "support": 4}},
               "precision": {"size_chart": 0.25}}  # fmt: skip
    write_json(tmp_path / "curation.json", metrics)
    summary = data.curation_summary(curation, data.load_curation_metrics(tmp_path / "curation.json"))
    assert summary.quality == {"blurry": {"precision": 1.0, "recall": 0.5}, "size_chart": {"precision": 0.25}}
    assert views.curation_summary_markdown(summary).endswith(
        "  \nAgainst ground truth: blurry precision 1.00, recall 0.50; size\\_chart precision 0.25"
    )
    assert data.load_curation_metrics(tmp_path / "absent.json") == {}


def test_missing_curation_names_the_stage(tmp_path: Path) -> None:
    with pytest.raises(DataMissing, match=r"curation\.csv not found: run `dvc repro curate`"):
        data.load_curation(tmp_path / "curation.csv")


def test_store_images_are_written_once_for_the_page(curation: pd.DataFrame, tmp_path: Path) -> None:
    images, cache = tmp_path / "images", tmp_path / "cache"
    store_image(images, "b" * 64, Image.new("RGB", (32, 40), "red"))
    store_image(images, "c" * 64, Image.new("RGB", (32, 40), "blue"))
    rows = data.filter_curation(curation)
    shown = data.with_store_images(rows, images, cache)
    assert shown["image_path"].tolist() == [str(cache / f"{'b' * 64}.jpg"), str(cache / f"{'c' * 64}.jpg"), ""]
    assert Path(shown["image_path"].iloc[1]).read_bytes() == ImageStore(images).get("c" * 64)
    shutil.rmtree(images)  # shown again from the cache, not the store
    assert data.with_store_images(rows, images, cache)["image_path"].tolist() == shown["image_path"].tolist()
    assert data.with_store_images(rows.assign(sha256="../../etc/x"), images, cache)["image_path"].tolist() == [""] * 3


def test_curation_cards_show_reason_signal_findings_and_link(curation: pd.DataFrame) -> None:
    rows = data.filter_curation(curation).assign(image_path=["/cache/b.jpg", "/cache/c.jpg", ""])
    html = views.curation_cards(rows)
    assert html.count('class="pf-card"') == 3
    assert [html.count(f'data-reason="{reason}"') for reason in ("blurry", "size_chart")] == [2, 1]
    assert '<span class="pf-signal">sharpness 12.3 &lt; 40.0</span>' in html
    assert '<ul class="pf-findings"><li>too_dark: brightness 0.05 &lt; 0.10</li></ul>' in html
    assert html.count("pf-findings") == 1  # c and d: no finding beside the deciding one
    assert 'title="sharpness 12.3 · brightness 0.05"' in html
    assert 'href="http://127.0.0.1/b.jpg"' in html and views.FILE_ROUTE + "/cache/b.jpg" in html
    assert "boutique · P2 #0 · 1 face(s)" in html and "not in the image store" in html
    assert "1 near-duplicate(s)" in html and 'href="http://127.0.0.1/d2.jpg"' in html
    assert "No dropped image matches" in views.curation_cards(rows.iloc[:0])


def test_site_counts_and_robots_ledger(dataset: pd.DataFrame, tmp_path: Path) -> None:
    for report in (crawl_report("shop", forbidden=2), crawl_report("boutique", opted_out=True)):
        write_json(tmp_path / "raw" / report["site"] / CRAWL_REPORT_FILE, report)
    reports = data.load_crawl_reports(tmp_path / "raw")
    excluded = pd.DataFrame({"site": ["shop", "shop", "boutique"], "reason": ["children", "non_clothing", "children"]})
    images = pd.DataFrame({"site": ["shop", "shop", "boutique"], "status": ["ok", "opted_out", "ok"]})

    counts = data.site_counts(reports, dataset, excluded, images).set_index("site")
    assert counts.loc["shop", "products crawled"] == 4
    assert counts.loc["shop", "excluded: children"] == 1 and counts.loc["boutique", "excluded: non_clothing"] == 0
    assert counts.loc["shop", "images: opted_out"] == 1
    assert counts.loc["shop", "products in dataset"] == 3
    assert (counts.loc["boutique", "images in train"], counts.loc["boutique", "images in validation"]) == (1, 1)

    ledger = data.robots_ledger(reports, images).set_index("site")
    assert ledger.loc["shop", "refused by robots"] == 2 and ledger.loc["shop", "images opted out"] == 1
    assert ledger.loc["boutique", "Content-Signal"] == "ai-train=no" and ledger.loc["boutique", "site opted out"]
    assert ledger.loc["shop", "sha256"] == "ab" * 8
    assert "Disallow: /cart" in data.robots_texts(reports)["shop"]


def test_missing_crawl_names_the_stage(tmp_path: Path) -> None:
    with pytest.raises(DataMissing, match="dvc repro crawl"):
        data.load_crawl_reports(tmp_path / "raw")


def test_trained_runs_are_lora_or_full_pipeline_folders(tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "lora-a").mkdir(parents=True)
    (models / "lora-a" / "pytorch_lora_weights.safetensors").write_bytes(b"")
    (models / "full-b").mkdir()
    (models / "full-b" / "model_index.json").write_text("{}")
    (models / "tiny" / "sd").mkdir(parents=True)  # tiny builders' output, not a run
    (models / "empty").mkdir()
    assert data.trained_runs(models) == ["full-b", "lora-a"]
    assert data.trained_runs(tmp_path / "absent") == []


# How `dvc exp show --json` names the evaluate stage's metrics file.
EVAL_FILE = f"metrics/{EVAL_METRICS}"


def exp_state(rev: str, name: str | None, *, steps: int, clip: float | None) -> dict:
    metrics = (
        {"data": {"clip_score_finetuned": clip, "num_images": 32}}
        if clip is not None
        else {"error": {"type": "FileNotFoundError", "msg": "no metrics"}}
    )
    return {
        "rev": rev,
        "name": name,
        "data": {
            "rev": rev,
            "timestamp": None if rev == "workspace" else "2026-11-26T12:00:00",
            "params": {
                "params.yaml": {
                    "data": {
                        "model": {"name": "tiny"},
                        "train": {"max_steps": steps, "lr": 0.001},
                        "evaluate": {"seeds": [0, 1]},
                    }
                }
            },
            "metrics": {EVAL_FILE: metrics},
        },
        "error": None,
        "experiments": None,
    }


EXP_SHOW = [
    exp_state("workspace", None, steps=60, clip=1.5),
    {
        **exp_state("a" * 40, "main", steps=60, clip=None),
        "experiments": [
            {
                "revs": [exp_state("b" * 40, "steps7", steps=7, clip=0.5)],
                "executor": {"state": "success"},
                "name": "steps7",
            }
        ],
    },
]


def test_runs_table_lists_workspace_baseline_and_experiments() -> None:
    table = data.runs_table(EXP_SHOW, metrics_file=EVAL_FILE)
    assert table["run"].tolist() == ["workspace", "main", "steps7"]
    assert table["rev"].tolist() == ["workspace", "aaaaaaa", "bbbbbbb"]
    assert table["state"].tolist() == ["", "", "success"]
    assert table.columns.tolist()[4:] == [
        "clip_score_finetuned",
        "num_images",
        "model.name",
        "train.max_steps",
        "train.lr",
    ]
    assert table["train.max_steps"].tolist() == [60, 60, 7] and isinstance(table.loc[0, "num_images"], int)
    assert table.loc[1, "clip_score_finetuned"] == ""  # the baseline's metrics are not committed


def test_runs_table_only_changed_keeps_what_differs() -> None:
    table = data.runs_table(EXP_SHOW, metrics_file=EVAL_FILE, only_changed=True)
    assert table.columns.tolist() == [
        "run",
        "rev",
        "created",
        "state",
        "clip_score_finetuned",
        "num_images",
        "train.max_steps",
    ]
    assert [ref.rev for ref in data.run_refs(EXP_SHOW)] == ["workspace", "a" * 40, "b" * 40]


def test_exp_show_outside_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="dvc exp show"):
        data.read_exp_show(tmp_path)


def test_workspace_samples(tmp_path: Path) -> None:
    samples = Path("reports") / SAMPLES_REPORT
    with pytest.raises(DataMissing, match="dvc repro evaluate"):
        data.read_samples(tmp_path, data.WORKSPACE, samples)
    (tmp_path / "reports").mkdir()
    (tmp_path / samples).write_bytes(b"png")
    assert data.read_samples(tmp_path, data.WORKSPACE, samples) == b"png"


def test_snapshot_cache_reloads_when_a_file_changes(tmp_path: Path) -> None:
    path, calls = tmp_path / "a.txt", []
    cache = data.FileSnapshotCache()

    def load() -> str:
        calls.append(1)
        return path.read_text()

    path.write_text("one")
    assert cache.get("a", [path], load) == "one" and cache.get("a", [path], load) == "one"
    path.write_text("two!")
    os.utime(path, ns=(0, 0))
    assert cache.get("a", [path], load) == "two!" and len(calls) == 2


def test_cards_escape_text_and_link_products(dataset: pd.DataFrame) -> None:
    html = views.dataset_cards(dataset)
    assert html.count('class="pf-card"') == 5
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold" not in html
    assert 'href="http://127.0.0.1:8765/products/P1"' in html
    assert views.FILE_ROUTE + str(dataset.loc[0, "image_path"]) in html
    assert "No image matches" in views.dataset_cards(dataset.iloc[:0])
    assert views.page_line(data.page_of(dataset, 2, size=2)) == "Page 2 of 3 · **5** images match"


def test_settings_anchor_paths_at_the_repo(repo_root: Path, tmp_path: Path) -> None:
    shutil.copy(repo_root / "params.yaml", tmp_path / "params.yaml")
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    settings = load_settings(tmp_path)
    assert settings.paths.dataset == tmp_path.resolve() / params["paths"]["dataset"]
    assert settings.model.pretrained == params["model"]["pretrained"]  # no such folder here: kept as written
    assert settings.default_run == params["train"]["run_name"]
    assert settings.base_model_name == params["model"]["pretrained"]
    (tmp_path / params["model"]["pretrained"]).mkdir(parents=True)
    assert load_settings(tmp_path).model.pretrained == str(tmp_path.resolve() / params["model"]["pretrained"])
    with pytest.raises(FileNotFoundError, match=r"params\.yaml"):
        load_settings(tmp_path / "nowhere")
