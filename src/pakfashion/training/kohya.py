"""The UNet's LoRA in the kohya layout: the file ComfyUI's and AUTOMATIC1111's LoRA loaders read.

kohya sd-scripts names each LoRA module ``lora_unet_<module path, "." -> "_">`` and stores three tensors
for it: ``.lora_down.weight`` (peft's ``lora_A``), ``.lora_up.weight`` (``lora_B``) and ``.alpha`` (0-d),
which every loader turns into the scale ``alpha / rank``. SD 1.x keeps diffusers' module paths
(``down_blocks.1.attentions.0...``); SDXL uses the original SGM UNet's (``input_blocks.4.1...``), as
sd-scripts writes SDXL LoRAs. diffusers' ``load_lora_weights`` reads both back (SDXL with the UNet's config).

diffusers' own ``convert_state_dict_to_kohya`` is not used: it writes ``alpha = rank`` whatever the adapter's
``lora_alpha``, so those loaders apply a LoRA trained with ``lora_alpha != rank`` at scale 1 instead of
``lora_alpha / rank`` (rank 4, alpha 8: half the trained effect), and it keeps diffusers' names for SDXL.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch

from pakfashion.contracts import kohya_lora_file
from pakfashion.training.models import has_sdxl_conditioning, lora_state

log = logging.getLogger(__name__)

KOHYA_PREFIX = "lora_unet_"
# peft's tensor name -> kohya's
KOHYA_PARTS = {"lora_A.weight": "lora_down.weight", "lora_B.weight": "lora_up.weight"}
# An attention projection of a UNet transformer block: the modules the train stage puts LoRA on.
ATTENTION_MODULE = re.compile(
    r"(?:(?P<blocks>down_blocks|up_blocks)\.(?P<block>\d+)\.attentions\.(?P<layer>\d+)|mid_block\.attentions\.0)"
    r"\.(?P<inner>transformer_blocks\.\d+\.attn[12]\.(?:to_q|to_k|to_v|to_out\.0))"
)
# kohya sd-scripts' metadata values (library/sai_model_spec.py, library/sdxl_model_util.py).
BASE_MODEL_VERSION = {False: "sd_v1", True: "sdxl_base_v1-0"}
ARCHITECTURE = {False: "stable-diffusion-v1/lora", True: "stable-diffusion-xl-v1-base/lora"}
# sd-scripts' determine_implementation: an SDXL LoRA has SGM names, an SD 1.x one diffusers' names.
IMPLEMENTATION = {False: "diffusers", True: "https://github.com/Stability-AI/generative-models"}


def kohya_layers(
    state: dict[str, torch.Tensor], *, sdxl: bool, layers_per_block: int, lora_alpha: float
) -> dict[str, torch.Tensor]:
    """``state`` (peft names, as :func:`~pakfashion.training.models.lora_state` gives) in kohya's names.

    Tensors keep their dtype; each module gets ``.alpha = lora_alpha`` (float32, 0-d).

    Raises:
        ValueError: for a tensor that is not the ``lora_A``/``lora_B`` of a UNet attention projection.
    """
    layers: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        module, _, part = key.rpartition(".lora_")
        match = ATTENTION_MODULE.fullmatch(module)
        if match is None or f"lora_{part}" not in KOHYA_PARTS:
            raise ValueError(
                f"LoRA tensor {key!r} has no kohya name: only the UNet's attention LoRA (lora_A/lora_B of "
                "transformer_blocks.*.attn1/attn2.to_q/to_k/to_v/to_out.0) is exported in the kohya layout; "
                "train with the default LoRA targets (pakfashion.training.models.LORA_TARGETS)"
            )
        name = KOHYA_PREFIX + (_sgm_path(match, layers_per_block) if sdxl else module).replace(".", "_")
        layers[f"{name}.{KOHYA_PARTS[f'lora_{part}']}"] = tensor.detach()
        layers[f"{name}.alpha"] = torch.tensor(float(lora_alpha), dtype=torch.float32)
    return layers


def kohya_metadata(*, sdxl: bool, rank: int, lora_alpha: float, title: str) -> dict[str, str]:
    """The safetensors metadata sd-scripts writes that A1111 and model browsers read (A1111 tells SDXL
    LoRAs from SD 1.x ones by ``ss_base_model_version``)."""
    return {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(rank),
        "ss_network_alpha": str(lora_alpha),
        "ss_base_model_version": BASE_MODEL_VERSION[sdxl],
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": ARCHITECTURE[sdxl],
        "modelspec.implementation": IMPLEMENTATION[sdxl],
        "modelspec.title": title,
    }


def save_kohya_lora(unet: torch.nn.Module, run_dir: Path) -> Path:
    """Write the UNet's LoRA adapter in the kohya layout to :func:`~pakfashion.contracts.kohya_lora_file`
    of ``run_dir`` (titled with the run's name); returns the file.

    Raises:
        ValueError: when the adapter has LoRA outside the UNet's attention projections, or the SDXL UNet
            has a per-block ``layers_per_block`` (SGM block numbers need one count).
    """
    from safetensors.torch import save_file

    sdxl = has_sdxl_conditioning(unet)
    layers_per_block = unet.config.layers_per_block
    if sdxl and not isinstance(layers_per_block, int):
        raise ValueError(
            f"UNet layers_per_block={layers_per_block!r}: the kohya SDXL layout numbers SGM blocks with one "
            "layers_per_block for every level; this UNet cannot be exported in it"
        )
    adapter = unet.peft_config["default"]
    layers = kohya_layers(lora_state(unet), sdxl=sdxl, layers_per_block=layers_per_block, lora_alpha=adapter.lora_alpha)
    path = kohya_lora_file(run_dir)
    metadata = kohya_metadata(sdxl=sdxl, rank=adapter.r, lora_alpha=adapter.lora_alpha, title=run_dir.name)
    save_file(layers, path, metadata=metadata)
    log.info("wrote %d LoRA modules in the kohya layout to %s", len(layers) // 3, path)
    return path


def _sgm_path(match: re.Match[str], layers_per_block: int) -> str:
    """The SGM (original SDXL UNet) path of the diffusers attention projection ``match`` found.

    ``down_blocks.i.attentions.j`` is ``input_blocks.(1 + i*(L+1) + j).1``, ``mid_block.attentions.0`` is
    ``middle_block.1`` and ``up_blocks.i.attentions.j`` is ``output_blocks.(i*(L+1) + j).1`` with
    ``L = layers_per_block`` (SGM counts each down level's L resnets and its downsampler, each up level's
    L + 1 resnets; ``input_blocks.0`` is conv_in).
    """
    if match["blocks"] is None:
        return f"middle_block.1.{match['inner']}"
    block, layer, stride = int(match["block"]), int(match["layer"]), layers_per_block + 1
    if match["blocks"] == "down_blocks":
        return f"input_blocks.{1 + block * stride + layer}.1.{match['inner']}"
    return f"output_blocks.{block * stride + layer}.1.{match['inner']}"
