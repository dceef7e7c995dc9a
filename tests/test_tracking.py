"""W&B tracking switched by config: offline writes a local run, disabled writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from pakfashion.common.tracking import finish_run, start_run
from pakfashion.config import WandbConfig, WandbMode
from tests.helpers import configured


def test_disabled_writes_nothing(tmp_path: Path) -> None:
    run = start_run(configured(WandbConfig, mode=WandbMode.disabled), job_type="train", config={"a": 1}, state_dir=tmp_path)
    finish_run(run)
    assert run is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_offline_run_is_written_locally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    run = start_run(configured(WandbConfig, mode=WandbMode.offline), job_type="train", config={"lr": 0.1}, state_dir=tmp_path)
    run.log({"loss": 1.0})
    finish_run(run)
    runs = list((tmp_path / "wandb" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert any(runs[0].glob("*.wandb"))


def test_runs_name_the_dvc_hashes_of_their_data(tmp_path: Path) -> None:
    from pakfashion.common.tracking import dvc_output_hashes

    lock = tmp_path / "dvc.lock"
    lock.write_text("schema: '2.0'\nstages:\n  caption:\n    cmd: x\n    outs:\n    - path: data/dataset\n"
                    "      md5: abc.dir\n      size: 1\n")
    assert dvc_output_hashes(lock) == {"data/dataset": "abc.dir"}
    assert dvc_output_hashes(tmp_path / "missing.lock") == {}
