"""benchmarks/gpu.py --tiny: every case of the GPU benchmark runs on CPU with the tiny models (about 30 s).

What it checks is what the GPU run reports: our cached-latent step skips the VAE and text encoders the
script's step runs every time (fewer FLOPs per sample), both train every configuration, and the captioner's
larger batch is measured beside batch 1."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

LAST_LINE = re.compile(r"^ratio=(?P<ratio>\S+) ours=(?P<ours>\S+) baseline=(?P<baseline>\S+) unit=samples/s")


def test_gpu_benchmark_runs_tiny_on_cpu(repo_root: Path, tmp_path: Path) -> None:
    results = tmp_path / "gpu.json"
    command = [sys.executable, str(repo_root / "benchmarks" / "gpu.py"), "--tiny", "--out", str(results)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, cwd=repo_root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    match = LAST_LINE.match(done.stdout.strip().splitlines()[-1])
    assert match, done.stdout
    recorded = json.loads(results.read_text())
    train = recorded["train"]
    assert set(train) == {f"{arch}_{method}_{side}" for arch in ("sd15", "sdxl") for method in ("lora", "full")
                          for side in ("ours", "script_step")}
    for arch in ("sd15", "sdxl"):
        for method in ("lora", "full"):
            ours, script = train[f"{arch}_{method}_ours"], train[f"{arch}_{method}_script_step"]
            assert ours["cached_latents"] and not script["cached_latents"]
            assert ours["batch"] > script["batch"] == 1
            # Per sample, the script's step also runs the VAE encoder and the text encoder(s).
            assert script["tflops_per_step"] > ours["tflops_per_step"] / ours["batch"] > 0
            assert ours["samples_per_s"] > 0 and script["samples_per_s"] > 0
    assert train["sd15_full_ours"]["tflops_per_step"] > train["sd15_lora_ours"]["tflops_per_step"] * 1.2, \
        "a full fine-tune computes every weight's gradient, LoRA only the adapters' and the activations'"
    assert float(match["ours"]) == pytest.approx(train["sd15_lora_ours"]["samples_per_s"], rel=1e-3)
    caption = recorded["caption"]
    assert caption["batch_1"] > 0 and caption["best"] >= caption["batch_1"]
    assert all(recorded["evaluation"][arch]["images_per_s"] > 0 for arch in ("sd15", "sdxl"))


def test_real_size_architectures_have_the_published_parameter_counts(repo_root: Path) -> None:
    """The configs gpu.py builds on a GPU are the real models: built on the meta device (no memory), each counts
    exactly the parameters of the released checkpoint."""
    code = """
import sys, torch
sys.path.insert(0, "benchmarks")
import gpu
count = lambda module: sum(p.numel() for p in module.parameters())
with torch.device("meta"):
    sd15, sdxl = gpu.real_diffusion("sd15"), gpu.real_diffusion("sdxl")
blip2 = gpu.real_blip2(torch.device("meta")).model
print(count(sd15.unet), count(sd15.vae), *map(count, sd15.text_encoders), count(sdxl.unet), *map(count, sdxl.text_encoders),
      count(blip2), count(blip2.language_model))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=repo_root, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    counts = [int(value) for value in done.stdout.split()]
    assert counts == [
        859_520_964,  # SD 1.5 UNet
        83_653_863,  # its VAE (SDXL's has the same shape)
        123_060_480,  # CLIP ViT-L/14 text encoder
        2_567_463_684,  # SDXL UNet
        123_060_480, 694_659_840,  # SDXL's CLIP ViT-L and OpenCLIP ViT-bigG (with projection)
        3_744_679_936,  # BLIP-2 opt-2.7b
        2_651_596_800,  # its OPT-2.7b
    ]
