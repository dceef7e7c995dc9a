"""The app's readers and views on small fixture files: dataset search and pages, exclusions, crawl ledger,
trained runs, the `dvc exp show` table, settings from params.yaml."""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pakfashion.app import data, views
from pakfashion.app.data import DataMissing, DatasetQuery
from pakfashion.app.settings import load_settings
from pakfashion.common.files import write_json, write_jsonl
from pakfashion.contracts import (
    CRAWL_REPORT_FILE,
    EVAL_METRICS,
    METADATA_FILE,
    SAMPLES_REPORT,
)

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
