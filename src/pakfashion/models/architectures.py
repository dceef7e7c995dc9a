"""The real SD 1.5 and SDXL UNets' configs (their hub ``unet/config.json`` values that differ from
``UNet2DConditionModel``'s defaults, which are SD 1.5's): the real architectures built with random weights where
the weights cannot be downloaded (``benchmarks/gpu.py``, the kohya layout tests)."""

from __future__ import annotations

from typing import Any

SD15_UNET: dict[str, Any] = {"cross_attention_dim": 768, "sample_size": 64}
SDXL_UNET: dict[str, Any] = {
    "sample_size": 128, "block_out_channels": (320, 640, 1280), "layers_per_block": 2,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "transformer_layers_per_block": (1, 2, 10), "attention_head_dim": (5, 10, 20), "cross_attention_dim": 2048,
    "use_linear_projection": True, "addition_embed_type": "text_time", "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,
}  # fmt: skip
