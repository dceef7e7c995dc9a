"""The download stage's image store: tar shards by hash prefix that threads and processes share, survive a killed
run, and always hold the same bytes for the same images."""

from __future__ import annotations

import hashlib
import multiprocessing
import random
import subprocess
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pakfashion.images.store import ImageStore, _header


def images(count: int, seed: int = 0) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {hashlib.sha256(f"{seed}:{i}".encode()).hexdigest(): rng.randbytes(rng.randrange(10, 3000))
            for i in range(count)}


def shard_bytes(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.glob("*.tar"))}


def _put_all(directory: Path, items: list[tuple[str, bytes]]) -> None:
    store = ImageStore(directory)
    for sha, data in items:
        store.put(sha, data)


def test_threads_and_processes_share_shards_and_sealing_makes_the_bytes_of_the_content(tmp_path: Path) -> None:
    stored = images(3000)
    items = list(stored.items())
    store = ImageStore(tmp_path / "a")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda item: store.put(*item), items))
    with multiprocessing.get_context("fork").Pool(3) as pool:  # the same images again, from other processes
        pool.starmap(_put_all, [(tmp_path / "a", items[i::3]) for i in range(3)])
    assert len(list((tmp_path / "a").glob("*.tar"))) == 256
    assert store.seal() > 0
    reread = ImageStore(tmp_path / "a")
    assert sorted(reread.names()) == sorted(stored)
    assert all(reread.get(sha) == data for sha, data in stored.items())
    random.Random(1).shuffle(items)
    _put_all(tmp_path / "b", items)
    ImageStore(tmp_path / "b").seal()
    assert shard_bytes(tmp_path / "a") == shard_bytes(tmp_path / "b"), "the same images, in any order, same bytes"
    assert ImageStore(tmp_path / "a").seal() == 0, "a sealed store is left alone"


def test_a_member_cut_short_by_a_killed_run_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    stored = images(40)
    _put_all(tmp_path, list(stored.items()))
    victim = next(iter(stored))
    shard = ImageStore(tmp_path).shard_path(victim)
    whole = shard.stat().st_size
    with shard.open("ab") as handle:  # a header and part of its data: the kill came mid-write
        handle.write(_header("f" * 64 + ".jpg", 5000) + b"x" * 100)
    store = ImageStore(tmp_path)
    assert store.get(victim) == stored[victim]
    same_shard = "".join(victim[:2]) + "0" * 62
    store.put(same_shard, b"after the crash")
    assert ImageStore(tmp_path).get(same_shard) == b"after the crash"
    assert shard.stat().st_size == whole + 512 + 512, "the torn member was cut off before the append"
    with tarfile.open(shard) as archive:
        assert f"{victim}.jpg" in archive.getnames() and archive.extractfile(f"{victim}.jpg").read() == stored[victim]


def test_keep_only_drops_the_rest_and_gnu_tar_reads_the_shards(tmp_path: Path) -> None:
    stored = images(300)
    _put_all(tmp_path / "images", list(stored.items()))
    keep = set(list(stored)[:50])
    store = ImageStore(tmp_path / "images")
    assert store.keep_only(keep) == 250
    assert sorted(ImageStore(tmp_path / "images").names()) == sorted(keep)
    with pytest.raises(FileNotFoundError, match="dvc repro download"):
        store.get(list(stored)[-1])
    out = tmp_path / "out"
    out.mkdir()
    for shard in sorted((tmp_path / "images").glob("*.tar")):
        subprocess.run(["tar", "-xf", str(shard), "-C", str(out)], check=True, capture_output=True)
    assert {path.name for path in out.iterdir()} == {f"{sha}.jpg" for sha in keep}
    assert all((out / f"{sha}.jpg").read_bytes() == stored[sha] for sha in keep)
