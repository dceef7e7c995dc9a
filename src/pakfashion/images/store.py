"""The download stage's image store: JPEGs named by their pixels' sha256, in tar shards by hash prefix.

``<paths.images>/<pp>.tar`` holds the images whose sha256 starts with the two hex digits ``pp`` (256 shards at
most), each as the member ``<sha256>.jpg``. 300,000 images are then 256 files for DVC to hash, check and push,
where one file per image cost ``dvc status`` about 13 s per 300,000 files for each stage that reads or writes
them. A shard is a plain ustar archive (``tar -xf data/images/3f.tar`` gives the JPEGs back).

Threads and processes append under an exclusive ``flock`` per shard; a member cut short by a killed run is
dropped when the shard is next written. :meth:`ImageStore.seal` rewrites every shard whose members are not in
name order (or hold a copy twice), so the same images always make the same bytes, and the same DVC hashes,
whatever order the downloads finished in.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

BLOCK = 512
SUFFIX = ".jpg"
SHARD_SUFFIX = ".tar"


def member_name(sha256: str) -> str:
    """``<sha256>.jpg``: an image's name in its shard (and in the dataset)."""
    return f"{sha256}{SUFFIX}"


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def _header(name: str, size: int) -> bytes:
    """A ustar header with no time, owner or mode of this machine in it (the same images, the same bytes)."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    return info.tobuf(format=tarfile.USTAR_FORMAT)


@dataclass
class _Shard:
    """What is known of one shard file: member offsets and sizes, read up to ``end``."""

    path: Path
    members: dict[str, tuple[int, int]] = field(default_factory=dict)
    end: int = 0

    def refresh(self, *, repair: bool = False) -> None:
        """Read the headers appended since ``end``; with ``repair`` (under the lock), cut off a torn member."""
        if not self.path.exists():
            return
        size = self.path.stat().st_size
        with self.path.open("rb") as handle:
            while self.end + BLOCK <= size:
                handle.seek(self.end)
                block = handle.read(BLOCK)
                if block == bytes(BLOCK):
                    break
                try:
                    info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
                except tarfile.HeaderError:
                    log.warning("%s: no tar header at byte %d; what follows is ignored%s", self.path, self.end,
                                " and cut off" * repair)
                    break
                if self.end + BLOCK + _padded(info.size) > size:
                    break
                self.members.setdefault(info.name, (self.end + BLOCK, info.size))
                self.end += BLOCK + _padded(info.size)
        if repair and self.end < size:
            os.truncate(self.path, self.end)


class ImageStore:
    """The images of one ``paths.images`` folder. Safe to share between threads; each process opens its own."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._shards: dict[str, _Shard] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, object]:
        """Only the folder crosses to another process (a DataLoader worker reads its own headers)."""
        return {"directory": self.directory}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["directory"])  # type: ignore[misc, arg-type]

    def shard_path(self, sha256: str) -> Path:
        """The shard an image with this hash lives in."""
        return self.directory / f"{sha256[:2]}{SHARD_SUFFIX}"

    def _shard(self, sha256: str) -> _Shard:
        key = sha256[:2]
        with self._lock:
            shard = self._shards.get(key)
            if shard is None:
                shard = self._shards[key] = _Shard(self.directory / f"{key}{SHARD_SUFFIX}")
        return shard

    def has(self, sha256: str) -> bool:
        """Whether the image is stored (as a whole member)."""
        shard = self._shard(sha256)
        with self._lock:
            if member_name(sha256) not in shard.members:
                shard.refresh()
            return member_name(sha256) in shard.members

    def put(self, sha256: str, data: bytes) -> None:
        """Store an image unless it already is (another thread or process may have stored it first)."""
        shard = self._shard(sha256)
        name = member_name(sha256)
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock, shard.path.open("ab") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                shard.refresh(repair=True)
                if name in shard.members:
                    return
                handle.seek(0, os.SEEK_END)
                handle.write(_header(name, len(data)) + data + bytes(_padded(len(data)) - len(data)))
                handle.flush()
                shard.members[name] = (shard.end + BLOCK, len(data))
                shard.end += BLOCK + _padded(len(data))
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def get(self, sha256: str) -> bytes:
        """The stored JPEG.

        Raises:
            FileNotFoundError: it is not in its shard.
        """
        if not self.has(sha256):
            raise FileNotFoundError(f"{member_name(sha256)} is not in {self.shard_path(sha256)}: "
                                    "run the download stage (dvc repro download)")
        shard = self._shard(sha256)
        offset, size = shard.members[member_name(sha256)]
        with shard.path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(size)

    def size(self, sha256: str) -> int:
        """The stored JPEG's size in bytes (0 if absent)."""
        return self._shard(sha256).members[member_name(sha256)][1] if self.has(sha256) else 0

    def names(self) -> Iterator[str]:
        """The sha256 of every stored image, shard by shard."""
        for path in sorted(self.directory.glob(f"*{SHARD_SUFFIX}")):
            shard = self._shard(path.stem)
            with self._lock:
                shard.refresh()
                yield from (name.removesuffix(SUFFIX) for name in list(shard.members))

    def keep_only(self, keep: set[str]) -> int:
        """Drop every image not in ``keep`` (sha256s); returns how many were dropped."""
        dropped = 0
        for path in sorted(self.directory.glob(f"*{SHARD_SUFFIX}")):
            shard = self._shard(path.stem)
            with self._lock:
                shard.refresh(repair=True)
                stale = [name for name in shard.members if name.removesuffix(SUFFIX) not in keep]
            if stale:
                dropped += len(stale)
                self._rewrite(path.stem, drop=set(stale))
        return dropped

    def seal(self) -> int:
        """Rewrite each shard not in name order or holding a copy twice (deterministic bytes); returns how many
        were rewritten. Run it when no one else writes."""
        rewritten = 0
        for path in sorted(self.directory.glob(f"*{SHARD_SUFFIX}")):
            shard = self._shard(path.stem)
            with self._lock:
                shard.refresh(repair=True)
                names = list(shard.members)
                whole = sum(BLOCK + _padded(size) for _, size in shard.members.values())
            if names != sorted(names) or whole != shard.end:
                self._rewrite(path.stem, drop=set())
                rewritten += 1
        return rewritten

    def _rewrite(self, key: str, *, drop: set[str]) -> None:
        """Shard ``key`` again without ``drop``, members sorted by name, replacing the file atomically."""
        shard = self._shard(key)
        with self._lock:
            shard.refresh(repair=True)
            kept = sorted(name for name in shard.members if name not in drop)
            tmp = shard.path.with_name(f".{shard.path.name}.{os.getpid()}.tmp")
            with shard.path.open("rb") as source, tmp.open("wb") as out:
                for name in kept:
                    offset, size = shard.members[name]
                    source.seek(offset)
                    data = source.read(size)
                    out.write(_header(name, size) + data + bytes(_padded(size) - size))
            if kept:
                os.replace(tmp, shard.path)
            else:
                tmp.unlink()
                shard.path.unlink()
            self._shards[key] = _Shard(shard.path)
