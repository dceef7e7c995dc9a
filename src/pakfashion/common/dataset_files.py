"""The caption stage's dataset on disk, in either layout, for every reader (train, evaluate, app).

- ``imagefolder`` (small runs, the default): ``<split>/<sha256>.jpg`` beside ``<split>/metadata.jsonl``;
  ``datasets.load_dataset("imagefolder", data_dir=...)`` reads it.
- ``parquet`` (large runs): ``data/<split>-NNNNN-of-MMMMM.parquet`` shards (the Hub's own layout), each row the
  metadata columns plus ``image`` (``{"bytes", "path"}``, recorded in the schema as the ``datasets.Image``
  feature), in row groups of :data:`ROW_GROUP_ROWS` so one image is read without its whole shard;
  ``datasets.load_dataset("parquet", data_dir=<dataset>/data)`` reads it. 300,000 images are then a few
  hundred files, not 300,000, for DVC to hash and push.

Readers open a split with :meth:`DatasetSplit.open`, which finds the layout from the files.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import json
import os
import shutil
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from PIL import Image

from pakfashion.common.files import file_sha256, read_jsonl, write_jsonl
from pakfashion.config import DatasetLayout
from pakfashion.contracts import METADATA_FILE, PARQUET_DIR, SPLITS, MetadataRow

ROW_GROUP_ROWS = 64
IMAGE_COLUMN = "image"


def shard_name(split: str, index: int, count: int) -> str:
    """``train-00003-of-00012.parquet``: the file name the Hub's loaders read the split from."""
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


def parquet_schema() -> Any:
    """The shards' Arrow schema: ``image`` and every :class:`MetadataRow` column, with the ``datasets``
    features in its metadata (so ``load_dataset`` decodes ``image`` as a PIL image)."""
    import datasets

    columns: dict[str, Any] = {IMAGE_COLUMN: datasets.Image()}
    for name, kind in typing.get_type_hints(MetadataRow).items():
        columns[name] = datasets.List(datasets.Value("string")) if kind == list[str] else datasets.Value("string")
    return datasets.Features(columns).arrow_schema


ImageBytes = Callable[[str], bytes]
"""An image's stored JPEG by its sha256 (the download stage's :class:`pakfashion.images.store.ImageStore.get`)."""


def write_dataset_files(rows: list[dict[str, Any]], images: ImageBytes, out_dir: Path, *, layout: DatasetLayout,
                        images_per_shard: int) -> None:
    """Write ``rows`` (:class:`MetadataRow` and ``split``) and their images into ``out_dir``, replacing what was
    there."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for split in SPLITS:
        split_rows = [{k: v for k, v in r.items() if k != "split"} for r in rows if r["split"] == split]
        if layout is DatasetLayout.imagefolder:
            (out_dir / split).mkdir(parents=True, exist_ok=True)
            for row in split_rows:
                (out_dir / split / row["file_name"]).write_bytes(images(row["sha256"]))
            write_jsonl(out_dir / split / METADATA_FILE, split_rows)
        else:
            write_parquet_split(split_rows, images, out_dir / PARQUET_DIR, split=split,
                                images_per_shard=images_per_shard)


def write_parquet_split(rows: list[dict[str, Any]], images: ImageBytes, out_dir: Path, *, split: str,
                        images_per_shard: int) -> None:
    """One split as ``images_per_shard``-image Parquet shards (at least one, so an empty split still exists)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if images_per_shard < 1:
        raise ValueError(f"dataset.images_per_shard={images_per_shard}: must be at least 1")
    schema = parquet_schema()
    out_dir.mkdir(parents=True, exist_ok=True)
    count = max(1, -(-len(rows) // images_per_shard))
    for index in range(count):
        chunk = rows[index * images_per_shard : (index + 1) * images_per_shard]
        records = [{IMAGE_COLUMN: {"bytes": images(row["sha256"]), "path": row["file_name"]}, **row} for row in chunk]
        path = out_dir / shard_name(split, index, count)
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(pa.Table.from_pylist(records, schema=schema), tmp, row_group_size=ROW_GROUP_ROWS)
        os.replace(tmp, path)


@dataclass
class DatasetSplit:
    """One split of a dataset directory, whichever layout wrote it.

    Attributes:
        directory: The dataset directory (``paths.dataset``).
        split: ``train`` or ``validation``.
        layout: Found from the files by :meth:`open`.
    """

    directory: Path
    split: str
    layout: DatasetLayout
    _row_group: tuple[tuple[int, int], list[bytes]] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, directory: Path, split: str) -> DatasetSplit:
        """The split in whichever layout ``directory`` holds.

        Raises:
            FileNotFoundError: neither ``<split>/metadata.jsonl`` nor ``data/<split>-*.parquet`` is there.
        """
        if (directory / split / METADATA_FILE).is_file():
            return cls(directory, split, DatasetLayout.imagefolder)
        if sorted((directory / PARQUET_DIR).glob(f"{split}-*.parquet")):
            return cls(directory, split, DatasetLayout.parquet)
        raise FileNotFoundError(
            f"no {split} split in {directory} (neither {split}/{METADATA_FILE} nor {PARQUET_DIR}/{split}-*.parquet): "
            "run the caption stage (dvc repro caption) or set paths.dataset"
        )

    @cached_property
    def shards(self) -> list[Path]:
        """The split's Parquet shards in order (none for an imagefolder)."""
        return sorted((self.directory / PARQUET_DIR).glob(f"{self.split}-*.parquet"))

    @cached_property
    def _row_groups(self) -> list[tuple[int, int, int]]:
        """``(first row index, shard, row group)`` of every row group, in order."""
        import pyarrow.parquet as pq

        groups, total = [], 0
        for shard_index, shard in enumerate(self.shards):
            metadata = pq.ParquetFile(shard).metadata
            for group in range(metadata.num_row_groups):
                groups.append((total, shard_index, group))
                total += metadata.row_group(group).num_rows
        return groups

    @cached_property
    def _row_group_starts(self) -> list[int]:
        """The first row index of each row group (what a lookup bisects)."""
        return [start for start, _, _ in self._row_groups]

    def rows(self) -> list[dict[str, Any]]:
        """The metadata rows (no image bytes), in storage order."""
        if self.layout is DatasetLayout.imagefolder:
            return list(read_jsonl(self.directory / self.split / METADATA_FILE))
        import pyarrow.parquet as pq

        # The MetadataRow columns each shard has (one written before a column was added lacks it).
        names = list(typing.get_type_hints(MetadataRow))
        return [row for shard in self.shards
                for row in pq.read_table(shard, columns=[n for n in names if n in pq.read_schema(shard).names]).to_pylist()]

    def fingerprint(self) -> str:
        """sha256 naming this version of the split: of its ``metadata.jsonl``, or of the shards' rows (whose
        ``file_name`` is each image's content hash, so the rows name the images too)."""
        if self.layout is DatasetLayout.imagefolder:
            return file_sha256(self.directory / self.split / METADATA_FILE)
        return hashlib.sha256(json.dumps(self.rows(), sort_keys=True).encode()).hexdigest()

    def image_path(self, row: dict[str, Any]) -> Path | None:
        """An imagefolder image's file; None in Parquet shards."""
        return self.directory / self.split / row["file_name"] if self.layout is DatasetLayout.imagefolder else None

    def images(self) -> Iterator[tuple[int, Image.Image]]:
        """Every image (opened, not yet decoded) with its row index, in storage order, one row group in memory."""
        if self.layout is DatasetLayout.imagefolder:
            for index, row in enumerate(self.rows()):
                yield index, Image.open(self.directory / self.split / row["file_name"])
            return
        import pyarrow.parquet as pq

        index = 0
        for shard in self.shards:
            reader = pq.ParquetFile(shard)
            for group in range(reader.num_row_groups):
                for cell in reader.read_row_group(group, columns=[IMAGE_COLUMN]).column(0).to_pylist():
                    yield index, Image.open(io.BytesIO(cell["bytes"]))
                    index += 1

    def image(self, index: int) -> Image.Image:
        """Image ``index`` (opened, not yet decoded); reads only its row group from a shard."""
        return Image.open(io.BytesIO(self.image_bytes(index)))

    def image_bytes(self, index: int) -> bytes:
        """The stored file of image ``index`` (a JPEG as the download stage wrote it)."""
        if self.layout is DatasetLayout.imagefolder:
            return (self.directory / self.split / self._imagefolder_rows[index]["file_name"]).read_bytes()
        import pyarrow.parquet as pq

        position = bisect.bisect_right(self._row_group_starts, index) - 1
        if index < 0 or position < 0:
            raise IndexError(f"image {index} of {self.split}")
        start, shard, group = self._row_groups[position]
        if self._row_group is None or self._row_group[0] != (shard, group):
            table = pq.ParquetFile(self.shards[shard]).read_row_group(group, columns=[IMAGE_COLUMN])
            self._row_group = ((shard, group), [cell["bytes"] for cell in table.column(0).to_pylist()])
        cells = self._row_group[1]
        if index - start >= len(cells):
            raise IndexError(f"image {index} of {self.split}: the split has {start + len(cells)}")
        return cells[index - start]

    def files(self) -> list[Path]:
        """The files holding the split's rows (a reader reloads when one changes)."""
        if self.layout is DatasetLayout.imagefolder:
            return [self.directory / self.split / METADATA_FILE]
        return list(self.shards)

    @cached_property
    def _imagefolder_rows(self) -> list[dict[str, Any]]:
        return self.rows()
