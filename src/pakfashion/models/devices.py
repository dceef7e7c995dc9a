"""Device and dtype choices shared by the inference stages (caption, evaluate)."""

from __future__ import annotations

import torch


def default_device() -> str:
    """``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def inference_dtype(device: str) -> torch.dtype:
    """fp16 on CUDA (half the memory, tensor cores); fp32 on CPU, where fp16 kernels are slow or missing."""
    return torch.float16 if torch.device(device).type == "cuda" else torch.float32
