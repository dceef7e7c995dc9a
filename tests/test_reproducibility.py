"""Remotes and dataset versions: S3 round trip (moto on loopback), `dvc get`/`dvc import` of a tag."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.repo import clone_with_outputs, commit_all, run

pytestmark = [pytest.mark.slow, pytest.mark.network]



def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 with the remote's bucket created (as a real S3 would have it)."""
    import requests

    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        requests.put(f"{endpoint}/pakfashion-dvc", timeout=10).raise_for_status()  # moto: no auth needed
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_push_to_s3_clear_cache_pull_is_clean(tmp_path: Path, demo_repo: Path, moto_endpoint: str) -> None:
    repo = clone_with_outputs(demo_repo, tmp_path / "clone")
    # Endpoint and (test) credentials go to .dvc/config.local, which git never sees.
    for key, value in (("endpointurl", moto_endpoint), ("access_key_id", "testing"),
                       ("secret_access_key", "testing"), ("region", "us-east-1")):
        run(["dvc", "remote", "modify", "--local", "s3", key, value], repo)
    run(["dvc", "push", "-r", "s3"], repo)
    before = tree_digest(repo / "data" / "dataset")
    fresh_cache = tmp_path / "empty-cache"
    run(["dvc", "cache", "dir", "--local", str(fresh_cache)], repo)
    for output in ("data", "models", "reports"):
        shutil.rmtree(repo / output)
    run(["git", "checkout", "--", "."], repo)  # the .gitignore files DVC keeps beside outputs
    run(["dvc", "pull", "-r", "s3"], repo)
    assert "up to date" in run(["dvc", "status"], repo)
    assert tree_digest(repo / "data" / "dataset") == before
    assert any(fresh_cache.rglob("*"))
    assert "secret_access_key" not in subprocess.run(["git", "show", "HEAD:.dvc/config"], cwd=repo,
                                                     capture_output=True, text=True, check=True).stdout


def test_dvc_get_and_import_of_a_tag_return_its_bytes(tmp_path: Path, demo_repo: Path) -> None:
    repo = clone_with_outputs(demo_repo, tmp_path / "clone")
    run(["git", "tag", "dataset-v1"], repo)
    run(["dvc", "push", "-q"], repo)
    tagged = tree_digest(repo / "data" / "dataset")
    # A later change of the working copy: other caption texts, a new dataset committed on main.
    params = (repo / "params.yaml").read_text().replace("template: '{colours} {fabrics} {garment}, {caption}, {title}'",
                                                       "template: '{title}'")
    (repo / "params.yaml").write_text(params)
    run(["dvc", "repro", "-s", "caption"], repo)
    assert tree_digest(repo / "data" / "dataset") != tagged
    run(["dvc", "push", "-q"], repo)
    commit_all(repo, "later dataset")

    run(["dvc", "get", str(repo), "data/dataset", "--rev", "dataset-v1", "-o", str(tmp_path / "got")], tmp_path)
    assert tree_digest(tmp_path / "got") == tagged
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    run(["git", "init", "-q"], consumer)
    run(["dvc", "init", "-q"], consumer)
    run(["dvc", "import", str(repo), "data/dataset", "--rev", "dataset-v1", "-o", "dataset"], consumer)
    assert tree_digest(consumer / "dataset") == tagged
