"""The dataset repo: ``data/dataset`` as Parquet shards with the Image feature, and its card naming the version.

Why Parquet on the Hub, whatever ``dataset.layout`` wrote: a 100,000-image imagefolder is 100,000 files (the Hub
asks for under 10,000 per folder, and every clone and ``load_dataset`` pays per file), while a few hundred shards of
rows with the images inside load, stream and show in the dataset viewer as they are. A ``parquet`` dataset is
uploaded as it is; an ``imagefolder`` one is converted with the caption stage's own shard writer into
``<paths.state>/publish/dataset-<md5>/`` (kept while the md5 stays, so a rerun after a failed upload converts
nothing).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from pakfashion.captioning.card import as_parquet_card
from pakfashion.common.dataset_files import DatasetSplit, write_parquet_split
from pakfashion.config import DatasetLayout
from pakfashion.contracts import DATASET_CARD_FILE, PARQUET_DIR, SPLITS
from pakfashion.publishing.hub import RepoUpload
from pakfashion.publishing.version import SourceVersion, dataset_tag, rev_tag

log = logging.getLogger(__name__)

DONE_MARKER = ".complete"


def parquet_copy(dataset_dir: Path, staging: Path, *, images_per_shard: int) -> Path:
    """``staging/data/<split>-*.parquet`` from an imagefolder dataset (built once: a finished copy is reused)."""
    if (staging / DONE_MARKER).is_file():
        return staging / PARQUET_DIR
    shutil.rmtree(staging, ignore_errors=True)
    for split in SPLITS:
        source = DatasetSplit.open(dataset_dir, split)
        rows = source.rows()
        files = {row["sha256"]: source.image_path(row) for row in rows}
        write_parquet_split(rows, lambda sha256: files[sha256].read_bytes(), staging / PARQUET_DIR, split=split,
                            images_per_shard=images_per_shard)
        log.info("%s: %d rows into Parquet shards for the Hub", split, len(rows))
    (staging / DONE_MARKER).touch()
    return staging / PARQUET_DIR


def shard_files(dataset_dir: Path, layout: DatasetLayout, staging: Path, *, images_per_shard: int) -> dict[str, Path]:
    """The repo's shards (path in the repo -> local file), converted into ``staging`` first for an imagefolder."""
    shards = (dataset_dir / PARQUET_DIR if layout is DatasetLayout.parquet
              else parquet_copy(dataset_dir, staging, images_per_shard=images_per_shard))
    return {f"{PARQUET_DIR}/{shard.name}": shard for shard in sorted(shards.glob("*.parquet"))}


def version_section(version: SourceVersion, repo_id: str, *, dataset_dir: Path, tag: str) -> str:
    """The card's "Version" section: the tag, DVC md5 and git rev, and how to get exactly these bytes."""
    source = version.git_remote or "<this pipeline's git repository>"
    releases = f" (git tags: {', '.join(f'`{t}`' for t in version.git_tags)})" if version.git_tags else ""
    return (
        f"## Version\n\n"
        f"This is dataset version `{tag}`: DVC md5 `{version.dataset_md5}` of `{dataset_dir.as_posix()}`, built by the "
        f"pipeline at git rev `{version.git_rev}`{releases}. The Hub tags `{tag}` and `{rev_tag(version.git_rev)}` "
        f"name this commit of the repo.\n\n"
        f"```python\nfrom datasets import load_dataset\nds = load_dataset({repo_id!r}, revision={tag!r})\n```\n\n"
        f"The same bytes from the pipeline's DVC remote: `dvc get {source} {dataset_dir.as_posix()} --rev "
        f"{version.git_rev}`.\n"
    )


def dataset_upload(dataset_dir: Path, staging_root: Path, version: SourceVersion, repo_id: str, *,
                   images_per_shard: int) -> RepoUpload:
    """The dataset repo's upload: the shards, the card, and the version's tags (``dvc-<md5>``, ``rev-<git rev>``,
    ``make release-dataset``'s ``dataset-v*``)."""
    card_file = dataset_dir / DATASET_CARD_FILE
    if not card_file.is_file():
        raise FileNotFoundError(f"no dataset card {card_file}: run the caption stage (dvc repro caption)")
    layout, tag = DatasetSplit.open(dataset_dir, SPLITS[0]).layout, dataset_tag(version.dataset_md5)
    files: dict[str, Path | bytes] = dict(shard_files(dataset_dir, layout, staging_root / f"dataset-{tag}",
                                                      images_per_shard=images_per_shard))
    card = card_file.read_text()
    card = (as_parquet_card(card) if layout is DatasetLayout.imagefolder else card).rstrip("\n")
    card += "\n\n" + version_section(version, repo_id, dataset_dir=dataset_dir, tag=tag)
    files[DATASET_CARD_FILE] = card.encode()
    return RepoUpload(
        repo_id=repo_id, repo_type="dataset", files=files, card=card,
        commit_message=f"pakfashion dataset {tag} (DVC md5 {version.dataset_md5}, git rev {version.git_rev[:12]})",
        tags=[tag, rev_tag(version.git_rev), *[t for t in version.git_tags if t.startswith("dataset-v")]],
        tag_message=f"DVC md5 {version.dataset_md5} of {dataset_dir.as_posix()} at git rev {version.git_rev}",
    )
