"""One repo's upload to the Hugging Face Hub: the files, one commit that makes the repo exactly them, its tags.

The client is :class:`huggingface_hub.HfApi` (or anything with its methods, for tests). The token is read from
the environment (``HF_TOKEN``) or the standard login (``hf auth login``), never from a file of this repository,
and no file is uploaded that contains it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pakfashion.common.errors import StageError

log = logging.getLogger(__name__)

# Kept on the Hub whatever we upload: the repo's LFS rules, which the Hub writes itself.
HUB_OWN_FILES = frozenset({".gitattributes"})
# Files larger than this are not scanned for the token (weights and images: binary, and never written with it).
MAX_SCANNED_BYTES = 8 * 1024 * 1024


class HubClient(Protocol):
    """The :class:`huggingface_hub.HfApi` methods an upload uses."""

    def create_repo(self, repo_id: str, **kwargs: Any) -> Any: ...
    def list_repo_files(self, repo_id: str, **kwargs: Any) -> list[str]: ...
    def create_commit(self, repo_id: str, operations: Any, **kwargs: Any) -> Any: ...
    def create_tag(self, repo_id: str, **kwargs: Any) -> None: ...
    def whoami(self, token: Any = None, **kwargs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RepoUpload:
    """Everything one repo receives: its files (path in the repo -> a local file or bytes), commit and tags."""

    repo_id: str
    repo_type: str  # "dataset" or "model"
    files: dict[str, Path | bytes]
    card: str  # README.md, also among ``files``
    commit_message: str
    tags: list[str] = field(default_factory=list)
    tag_message: str = ""

    def sizes(self) -> dict[str, int]:
        """Bytes of each file, by its path in the repo."""
        return {path: len(src) if isinstance(src, bytes) else src.stat().st_size for path, src in self.files.items()}

    def listing(self) -> str:
        """The dry run's view: the repo, its files with sizes, the commit message and tags."""
        sizes = self.sizes()
        lines = [f"{self.repo_type} repo {self.repo_id}: {len(sizes)} files, {sum(sizes.values()):,} bytes"]
        lines += [f"  {size:>12,}  {path}" for path, size in sorted(sizes.items())]
        lines.append(f"  commit: {self.commit_message}")
        lines += [f"  tag: {tag}" for tag in self.tags]
        return "\n".join(lines)


def hub_token() -> str:
    """The token of the environment or the standard login; a :class:`StageError` saying how to log in without one."""
    from huggingface_hub import constants, get_token

    if constants.HF_HUB_OFFLINE:
        raise StageError(
            "HF_HUB_OFFLINE=1 is set (the Makefile sets it for the demo and tests): publish with `make publish`, "
            "which unsets it, or `HF_HUB_OFFLINE=0 python -m pakfashion.publish`; --dry-run needs no network"
        )
    token = get_token()
    if not token:
        raise StageError(
            "no Hugging Face token: set HF_TOKEN in the environment or run `hf auth login` (a token with write "
            "access, from https://huggingface.co/settings/tokens); never put it in a file of this repository"
        )
    return token


def refuse_token_leak(upload: RepoUpload, token: str) -> None:
    """Stop before uploading any file whose bytes contain ``token``."""
    needle = token.encode()
    for path, src in upload.files.items():
        if isinstance(src, Path) and src.stat().st_size > MAX_SCANNED_BYTES:
            continue
        data = src if isinstance(src, bytes) else src.read_bytes()
        if needle in data:
            raise StageError(f"{path} contains the Hugging Face token: nothing was uploaded; remove it from that file")


def push(api: HubClient, upload: RepoUpload, *, private: bool) -> Any:
    """Create the repo if needed, commit ``upload.files`` (removing remote files it no longer has), tag the commit.

    Returns the commit's :class:`huggingface_hub.CommitInfo`. Re-running after a failure uploads only what the
    Hub does not hold yet (files are addressed by their sha256).

    Raises:
        StageError: the Hub refused (401/403: a read-only token or someone else's namespace), saying what to fix;
            nothing is tagged then, and repos pushed before stay as they are.
    """
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return _commit_and_tag(api, upload, private=private)
    except HfHubHTTPError as err:
        status = getattr(err.response, "status_code", None)
        hint = (" The token cannot write there: use a token with write access to that namespace (a fine-grained "
                "token needs 'write' on it), or set publish.namespace to yours." if status in (401, 403) else "")
        raise StageError(f"{upload.repo_type} {upload.repo_id} not published: the Hub answered {err}.{hint} "
                         "Publishing again sends only what the Hub does not hold yet.") from None


def _commit_and_tag(api: HubClient, upload: RepoUpload, *, private: bool) -> Any:
    """:func:`push`'s calls to the Hub."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    api.create_repo(upload.repo_id, repo_type=upload.repo_type, private=private, exist_ok=True)
    remote = api.list_repo_files(upload.repo_id, repo_type=upload.repo_type)
    gone = sorted(set(remote) - set(upload.files) - HUB_OWN_FILES)
    operations: list[Any] = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=src)
                             for path, src in sorted(upload.files.items(), key=lambda item: item[0])]
    operations += [CommitOperationDelete(path_in_repo=path) for path in gone]
    log.info("%s %s: uploading %d files, removing %d", upload.repo_type, upload.repo_id, len(upload.files), len(gone))
    commit = api.create_commit(upload.repo_id, operations, commit_message=upload.commit_message,
                               repo_type=upload.repo_type)
    for tag in upload.tags:
        api.create_tag(upload.repo_id, tag=tag, tag_message=upload.tag_message, revision=commit.oid,
                       repo_type=upload.repo_type, exist_ok=True)
    log.info("%s %s: %s (tags: %s)", upload.repo_type, upload.repo_id, commit.commit_url, ", ".join(upload.tags))
    return commit
