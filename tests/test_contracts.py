"""The contracts between stages: each file name is written once, and one loader opens every kind of run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pakfashion import contracts
from pakfashion.contracts import LORA_WEIGHTS_FILE, PIPELINE_INDEX_FILE, is_trained_run
from pakfashion.models.sd import load_pipeline, load_run
from tests.helpers import write_random_lora

SRC = Path(__file__).resolve().parents[1] / "src" / "pakfashion"
# Every file one stage hands to another (the two README.md cards share a name, so they are left out).
HANDED_OVER = [
    contracts.PRODUCTS_FILE, contracts.CRAWL_REPORT_FILE, contracts.METADATA_FILE, LORA_WEIGHTS_FILE,
    PIPELINE_INDEX_FILE, contracts.CSV_METRICS, contracts.DOWNLOAD_METRICS, contracts.CAPTION_METRICS,
    contracts.TRAIN_METRICS, contracts.EVAL_METRICS, contracts.CONTACT_SHEET_REPORT, contracts.SAMPLES_REPORT,
    contracts.EVAL_REPORT,
]  # fmt: skip


@pytest.mark.parametrize("name", HANDED_OVER)
def test_each_file_name_is_written_once_in_the_contracts(name: str) -> None:
    """The check `git grep -n '"model_index.json"' src/` makes: the quoted name is in contracts.py only."""
    quoted = re.compile(rf"""["']{re.escape(name)}["']""")
    found = [f"{path.relative_to(SRC)}:{number}" for path in sorted(SRC.rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), start=1) if quoted.search(line)]
    assert len(found) == 1 and found[0].startswith("contracts.py:"), f"import it from pakfashion.contracts: {found}"


def test_contracts_import_no_heavy_library() -> None:
    code = "import sys, pakfashion.contracts; print(sorted({'torch', 'diffusers', 'pandas'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


@pytest.fixture(scope="module")
def runs(tiny_sd: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Under ``models/``: a LoRA run, a whole-pipeline run (a copy of the base) and an empty folder."""
    root = tmp_path_factory.mktemp("models")
    write_random_lora(tiny_sd, root / "lora-run")
    shutil.copytree(tiny_sd, root / "full-run")
    (root / "empty").mkdir()
    return root


def image(pipe, seed: int = 0) -> np.ndarray:  # noqa: ANN001
    import torch

    generator = torch.Generator("cpu").manual_seed(seed)
    return pipe("red lawn kurta", num_inference_steps=1, height=64, width=64, guidance_scale=1.0,
                generator=generator, output_type="np").images[0]


def test_a_lora_run_is_added_to_the_base(tiny_sd: str, runs: Path) -> None:
    base = load_pipeline(tiny_sd, device="cpu")
    plain = image(base)
    pipe = load_run(runs / "lora-run", base=base, device="cpu")
    assert pipe is base and pipe.get_list_adapters() == {"unet": ["default_0"]}
    assert not np.allclose(image(pipe), plain), "the LoRA changed nothing"
    by_name = load_run(runs / "lora-run", base=tiny_sd, device="cpu")
    assert np.allclose(image(by_name), image(pipe))


def test_a_full_run_is_its_own_pipeline_and_never_loads_the_base(tiny_sd: str, runs: Path) -> None:
    pipe = load_run(runs / "full-run", base="no/such-base-model", device="cpu")
    assert pipe.get_list_adapters() == {}
    assert np.allclose(image(pipe), image(load_pipeline(tiny_sd, device="cpu")))


def test_a_folder_without_a_run_says_what_to_do(runs: Path) -> None:
    assert [is_trained_run(runs / name) for name in ("lora-run", "full-run", "empty")] == [True, True, False]
    expected = rf"neither {re.escape(LORA_WEIGHTS_FILE)} nor {re.escape(PIPELINE_INDEX_FILE)}: run the train stage"
    with pytest.raises(FileNotFoundError, match=expected):
        load_run(runs / "empty", base="no/such-base-model", device="cpu")
