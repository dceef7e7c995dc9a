"""The dataset's two layouts: the same rows and image bytes from an imagefolder and from Parquet shards, for
`datasets.load_dataset`, the train stage's latent cache, evaluation and the app."""

from __future__ import annotations

import io
import typing
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image

from pakfashion.app import data as app_data
from pakfashion.common.dataset_files import (
    ROW_GROUP_ROWS,
    DatasetSplit,
    write_dataset_files,
)
from pakfashion.config import DatasetLayout, TrainConfig
from pakfashion.contracts import PARQUET_DIR, MetadataRow
from pakfashion.images.store import ImageStore
from pakfashion.training.data import training_data
from tests.helpers import configured, store_image

COLOURS = ["red", "blue", "green", "black", "yellow", "white", "teal", "maroon", "pink"]


def metadata_rows(images_dir: Path, count: int) -> list[dict[str, object]]:
    """``count`` products' rows (every fifth in validation) and their JPEGs, as the caption stage has them."""
    rows = []
    for i in range(count):
        colour = COLOURS[i % len(COLOURS)]
        name = f"{i:064x}.jpg"
        store_image(images_dir, name[:-4], Image.new("RGB", (60 + i % 3 * 10, 80), colour))
        row = {key: "" for key in typing.get_type_hints(MetadataRow)}
        row.update(file_name=name, text=f"{colour} lawn kurta {i}", colours=[colour], fabrics=["lawn"], garment="kurta",
                   site="demo", product_id=str(i), sha256=name[:-4])
        rows.append({**row, "split": "validation" if i % 5 == 4 else "train"})
    return rows


@pytest.fixture()
def both(tmp_path: Path) -> tuple[Path, Path, list[dict[str, object]]]:
    rows = metadata_rows(tmp_path / "images", 150)
    folder, shards = tmp_path / "imagefolder", tmp_path / "parquet"
    write_dataset_files(rows, ImageStore(tmp_path / "images").get, folder, layout=DatasetLayout.imagefolder, images_per_shard=50)
    write_dataset_files(rows, ImageStore(tmp_path / "images").get, shards, layout=DatasetLayout.parquet, images_per_shard=50)
    return folder, shards, rows


def test_both_layouts_hold_the_same_rows_and_image_bytes(both: tuple[Path, Path, list[dict[str, object]]]) -> None:
    folder, shards, rows = both
    assert sorted(p.name for p in (shards / PARQUET_DIR).iterdir()) == [
        "train-00000-of-00003.parquet", "train-00001-of-00003.parquet", "train-00002-of-00003.parquet",
        "validation-00000-of-00001.parquet"]
    assert len(list(shards.rglob("*"))) < 10 < len(list(folder.rglob("*")))
    for name in ("train", "validation"):
        a, b = DatasetSplit.open(folder, name), DatasetSplit.open(shards, name)
        assert (a.layout, b.layout) == (DatasetLayout.imagefolder, DatasetLayout.parquet)
        assert a.rows() == b.rows() == [{k: v for k, v in r.items() if k != "split"} for r in rows if r["split"] == name]
        assert [img.tobytes() for _, img in a.images()] == [img.tobytes() for _, img in b.images()]
        # Random access across row groups and shards, in any order, gives the stored file.
        for index in (len(a.rows()) - 1, 0, ROW_GROUP_ROWS, ROW_GROUP_ROWS - 1, 57):
            if index < len(a.rows()):
                assert a.image_bytes(index) == b.image_bytes(index)
        with pytest.raises(IndexError):
            b.image_bytes(len(b.rows()))


def test_fingerprint_names_the_content(both: tuple[Path, Path, list[dict[str, object]]], tmp_path: Path) -> None:
    _, shards, rows = both
    again = tmp_path / "again"
    write_dataset_files(rows, ImageStore(tmp_path / "images").get, again, layout=DatasetLayout.parquet, images_per_shard=50)
    assert DatasetSplit.open(again, "train").fingerprint() == DatasetSplit.open(shards, "train").fingerprint()
    rows[0] = {**rows[0], "text": "a changed caption"}
    write_dataset_files(rows, ImageStore(tmp_path / "images").get, again, layout=DatasetLayout.parquet, images_per_shard=50)
    assert DatasetSplit.open(again, "train").fingerprint() != DatasetSplit.open(shards, "train").fingerprint()


def test_load_dataset_reads_the_parquet_shards_with_decoded_images(
    both: tuple[Path, Path, list[dict[str, object]]],
) -> None:
    from datasets import load_dataset

    _, shards, rows = both
    loaded = load_dataset("parquet", data_dir=str(shards / PARQUET_DIR))
    assert set(loaded) == {"train", "validation"}
    train = [r for r in rows if r["split"] == "train"]
    assert loaded["train"].num_rows == len(train)
    first = loaded["train"][0]
    assert isinstance(first["image"], Image.Image) and first["image"].size == (60, 80)
    assert first["text"] == train[0]["text"] and first["colours"] == ["red"]


def test_training_caches_the_same_latents_from_either_layout(
    both: tuple[Path, Path, list[dict[str, object]]], tiny_sd: str, tmp_path: Path
) -> None:
    folder, shards, _ = both
    captions = configured(TrainConfig).captions
    caches = [training_data(DatasetSplit.open(root, "train"), tmp_path / f"cache-{root.name}", pretrained=tiny_sd,
                            buckets=[(64, 64), (48, 80)], flips=True, captions=captions, seed=0,
                            weight_dtype=torch.float32, batch_size=8, device="cpu")
              for root in (folder, shards)]  # fmt: skip
    (a, a_texts), (b, b_texts) = [(data.latents, data.texts) for data in caches]
    assert [t.shape for t in a.buckets] == [t.shape for t in b.buckets] and len(a.buckets) == 2
    assert all(torch.equal(x, y) for x, y in zip(a.buckets, b.buckets, strict=True))
    assert torch.equal(a.example_bucket, b.example_bucket) and torch.equal(a.time_ids, b.time_ids)
    assert a_texts.captions == b_texts.captions and torch.equal(a_texts.text_states, b_texts.text_states)


def test_app_shows_parquet_rows_and_writes_out_only_the_page_images(
    both: tuple[Path, Path, list[dict[str, object]]], tmp_path: Path
) -> None:
    folder, shards, _ = both
    from_folder, from_shards = app_data.load_dataset(folder), app_data.load_dataset(shards)
    columns = [c for c in from_folder.columns if c != "image_path"]
    pd.testing.assert_frame_equal(from_folder[columns], from_shards[columns])
    assert (from_shards["image_path"] == "").all() and (from_folder["image_path"] != "").all()
    assert app_data.dataset_files(shards) != app_data.dataset_files(folder)
    page = app_data.page_of(from_shards, 2, size=10).rows
    shown = app_data.with_image_files(page, shards, tmp_path / "page-images")
    assert len(list((tmp_path / "page-images").iterdir())) == 10
    for path, folder_path in zip(shown["image_path"], app_data.page_of(from_folder, 2, size=10).rows["image_path"],
                                 strict=True):  # fmt: skip
        assert Path(path).read_bytes() == Path(folder_path).read_bytes()
        assert Image.open(io.BytesIO(Path(path).read_bytes())).mode == "RGB"


def test_a_missing_split_says_which_stage_makes_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="dvc repro caption"):
        DatasetSplit.open(tmp_path, "train")
