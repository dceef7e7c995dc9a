"""The kohya copy of a LoRA run (pakfashion.training.kohya): the names ComfyUI's and AUTOMATIC1111's LoRA
loaders look up on the real SD 1.5 and SDXL UNets, and the same weights and scale as the diffusers file
when diffusers loads it back.

The loaders' key rules are re-implemented here as oracles, from
- ComfyUI comfy/lora.py ``model_lora_keys_unet`` and comfy/utils.py ``unet_to_diffusers``,
- AUTOMATIC1111 stable-diffusion-webui extensions-builtin/Lora/networks.py ``convert_diffusers_name_to_compvis``
  and ``load_network`` (its fallback for SDXL keys already in compvis/SGM names).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from pakfashion.config import TrainMethod
from pakfashion.contracts import LORA_WEIGHTS_FILE, kohya_lora_file
from pakfashion.models.tiny import build_tiny_sdxl
from pakfashion.training.kohya import kohya_layers
from pakfashion.models.architectures import SD15_UNET, SDXL_UNET
from pakfashion.training.models import as_denoiser, has_sdxl_conditioning, lora_state, save_lora
from tests.conftest import REPO_ROOT

TINY_SD = REPO_ROOT / "assets" / "tiny" / "sd"
RANK, ALPHA = 4, 8  # alpha != rank on purpose: a loader that takes alpha = rank scales by 1 instead of 2

# ComfyUI's unet_config for those checkpoints (comfy/model_detection.py reads it off the SGM weights; SDXL's
# transformer_depth as in comfy/supported_models.py): transformer blocks per input/output block.
COMFY_CONFIGS: dict[str, dict[str, Any]] = {
    "sd15": {"num_res_blocks": [2, 2, 2, 2], "channel_mult": [1, 2, 4, 4],
             "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "transformer_depth_middle": 1,
             "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]},
    "sdxl": {"num_res_blocks": [2, 2, 2], "channel_mult": [1, 2, 4],
             "transformer_depth": [0, 0, 2, 2, 10, 10], "transformer_depth_middle": 10,
             "transformer_depth_output": [0, 0, 0, 2, 2, 2, 10, 10, 10]},
}  # fmt: skip
UNETS = {"sd15": SD15_UNET, "sdxl": SDXL_UNET}
TRANSFORMER_BLOCKS = {"sd15": 16, "sdxl": 70}
# comfy/utils.py TRANSFORMER_BLOCKS: the attention projection weights among them.
ATTENTION_WEIGHTS = [f"attn{a}.{p}.weight" for a in (1, 2) for p in ("to_q", "to_k", "to_v", "to_out.0")]
KOHYA_PARTS = {"lora_down.weight", "lora_up.weight", "alpha"}


def comfy_unet_to_diffusers(config: dict[str, Any]) -> dict[str, str]:
    """diffusers -> SGM names of the transformer blocks' attention weights, by the loops of ComfyUI's
    ``unet_to_diffusers`` (comfy/utils.py)."""
    res_blocks = config["num_res_blocks"]
    depth, depth_out = list(config["transformer_depth"]), list(config["transformer_depth_output"])
    names: dict[str, str] = {}

    def add(diffusers: str, sgm: str, transformers: int) -> None:
        for t in range(transformers):
            for weight in ATTENTION_WEIGHTS:
                names[f"{diffusers}.transformer_blocks.{t}.{weight}"] = f"{sgm}.transformer_blocks.{t}.{weight}"

    for x in range(len(config["channel_mult"])):
        n = 1 + (res_blocks[x] + 1) * x
        for i in range(res_blocks[x]):
            add(f"down_blocks.{x}.attentions.{i}", f"input_blocks.{n}.1", depth.pop(0))
            n += 1
    add("mid_block.attentions.0", "middle_block.1", config["transformer_depth_middle"])
    for x, blocks in enumerate(reversed(res_blocks)):
        n = (blocks + 1) * x
        for i in range(blocks + 1):
            add(f"up_blocks.{x}.attentions.{i}", f"output_blocks.{n}.1", depth_out.pop())
            n += 1
    return names


def comfy_lora_keys(config: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """ComfyUI's ``model_lora_keys_unet`` key map (kohya module -> model weight), split in its two rules:
    ``lora_unet_`` + the SGM name (from the model's own weights), ``lora_unet_`` + the diffusers name."""
    sgm_keys, diffusers_keys = {}, {}
    for diffusers, sgm in comfy_unet_to_diffusers(config).items():
        sgm_keys["lora_unet_" + sgm.removesuffix(".weight").replace(".", "_")] = f"diffusion_model.{sgm}"
        diffusers_keys["lora_unet_" + diffusers.removesuffix(".weight").replace(".", "_")] = f"diffusion_model.{sgm}"
    return sgm_keys, diffusers_keys


def a1111_convert(key: str) -> str:
    """A1111's ``convert_diffusers_name_to_compvis``, its UNet attention rules (``suffix_conversion`` leaves
    the part after ``attentions_<j>_`` as it is; the other rules are for resnets, samplers, conv_in/out, the
    time embedding and text encoders); a key no rule matches comes back unchanged, as there."""
    rules = (
        (r"lora_unet_down_blocks_(\d+)_attentions_(\d+)_(.+)",
         lambda m: f"diffusion_model_input_blocks_{1 + int(m[1]) * 3 + int(m[2])}_1_{m[3]}"),
        (r"lora_unet_mid_block_attentions_(\d+)_(.+)", lambda m: f"diffusion_model_middle_block_1_{m[2]}"),
        (r"lora_unet_up_blocks_(\d+)_attentions_(\d+)_(.+)",
         lambda m: f"diffusion_model_output_blocks_{int(m[1]) * 3 + int(m[2])}_1_{m[3]}"),
    )  # fmt: skip
    for pattern, convert in rules:
        if match := re.match(pattern, key):
            return convert(match)
    return key


def a1111_module(key: str, modules: set[str]) -> str | None:
    """The compvis module A1111's ``load_network`` patches for the kohya module ``key``: the converted name,
    else (SDXL LoRAs already have compvis names) ``lora_unet`` -> ``diffusion_model``."""
    converted = a1111_convert(key)
    if converted in modules:
        return converted
    fallback = key.replace("lora_unet", "diffusion_model")
    return fallback if fallback in modules else None


def meta_lora_unet(arch: str) -> torch.nn.Module:
    """The real UNet of ``arch`` on the meta device (no memory) with the train stage's LoRA adapter."""
    from diffusers import DDPMScheduler, UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel(**UNETS[arch])
    as_denoiser(unet, DDPMScheduler(), weight_dtype=torch.float32, method=TrainMethod.lora, rank=RANK,
                lora_alpha=ALPHA)
    return unet


def by_module(layers: dict[str, torch.Tensor]) -> dict[str, set[str]]:
    modules: dict[str, set[str]] = {}
    for key in layers:
        module, part = key.split(".", 1)
        modules.setdefault(module, set()).add(part)
    return modules


@pytest.mark.parametrize("arch", ["sd15", "sdxl"])
def test_kohya_keys_are_the_ones_comfyui_and_a1111_patch(arch: str) -> None:
    unet = meta_lora_unet(arch)
    sdxl = arch == "sdxl"
    assert has_sdxl_conditioning(unet) is sdxl
    state = lora_state(unet)
    layers = kohya_layers(state, sdxl=sdxl, layers_per_block=unet.config.layers_per_block, lora_alpha=ALPHA)
    modules = by_module(layers)
    assert len(modules) == TRANSFORMER_BLOCKS[arch] * 2 * 4
    assert all(parts == KOHYA_PARTS for parts in modules.values())
    assert {float(layers[f"{m}.alpha"]) for m in modules} == {ALPHA}

    to_sgm = comfy_unet_to_diffusers(COMFY_CONFIGS[arch])
    sgm_keys, diffusers_keys = comfy_lora_keys(COMFY_CONFIGS[arch])
    # the oracle's config is the real one: its diffusers names are the UNet's own attention projections
    assert {f"{key.removesuffix('.lora_A.weight')}.weight" for key in state if "lora_A" in key} == set(to_sgm)
    # kohya's flavour: SDXL in SGM names, SD 1.x in diffusers names; ComfyUI maps each to the trained weight,
    # A1111 to the trained module (its compvis modules: the SGM ones, "." -> "_")
    comfy = sgm_keys if sdxl else diffusers_keys
    compvis = {target.removesuffix(".weight").replace(".", "_") for target in sgm_keys.values()}
    for key in state:
        target = f"diffusion_model.{to_sgm[key.rpartition('.lora_')[0] + '.weight']}"
        one = kohya_layers({key: state[key]}, sdxl=sdxl, layers_per_block=unet.config.layers_per_block,
                           lora_alpha=ALPHA)
        (module,) = by_module(one)
        assert comfy.get(module) == target, (key, module)
        assert a1111_module(module, compvis) == target.removesuffix(".weight").replace(".", "_"), (key, module)
        if sdxl:  # no A1111 diffusers rule rewrites it: it is already a compvis name
            assert a1111_convert(module) == module


def test_kohya_keys_literal() -> None:
    sd15 = kohya_layers(lora_state(meta_lora_unet("sd15")), sdxl=False, layers_per_block=2, lora_alpha=ALPHA)
    sdxl = kohya_layers(lora_state(meta_lora_unet("sdxl")), sdxl=True, layers_per_block=2, lora_alpha=ALPHA)
    assert "lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_attn2_to_out_0.lora_up.weight" in sd15
    assert "lora_unet_down_blocks_0_attentions_1_transformer_blocks_0_attn1_to_q.lora_down.weight" in sd15
    assert "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k.alpha" in sd15
    assert "lora_unet_input_blocks_4_1_transformer_blocks_1_attn1_to_k.lora_down.weight" in sdxl
    assert "lora_unet_middle_block_1_transformer_blocks_9_attn2_to_v.alpha" in sdxl
    assert "lora_unet_output_blocks_5_1_transformer_blocks_1_attn2_to_out_0.lora_up.weight" in sdxl
    assert "lora_unet_input_blocks_8_1_transformer_blocks_9_attn1_to_q.lora_up.weight" in sdxl
    assert not any("down_blocks" in key or "up_blocks" in key or "mid_block" in key for key in sdxl)
    assert sd15["lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k.alpha"].shape == ()


def test_diffusers_maps_the_sdxl_names_back_to_the_trained_modules() -> None:
    from diffusers.loaders.lora_conversion_utils import (
        _convert_non_diffusers_lora_to_diffusers,
        _maybe_map_sgm_blocks_to_diffusers,
    )
    from diffusers.utils import convert_unet_state_dict_to_peft

    unet = meta_lora_unet("sdxl")
    state = lora_state(unet)
    layers = kohya_layers(state, sdxl=True, layers_per_block=unet.config.layers_per_block, lora_alpha=ALPHA)
    diffusers_names = _maybe_map_sgm_blocks_to_diffusers(layers, unet.config)
    converted, alphas = _convert_non_diffusers_lora_to_diffusers(diffusers_names)
    peft = convert_unet_state_dict_to_peft({key.removeprefix("unet."): value for key, value in converted.items()})
    assert set(peft) == set(state)
    assert set(alphas.values()) == {ALPHA}


@pytest.mark.parametrize(
    "key",
    [
        "down_blocks.0.resnets.0.conv1.lora_A.weight",
        "down_blocks.1.attentions.0.transformer_blocks.0.ff.net.2.lora_B.weight",
        "down_blocks.1.attentions.0.proj_in.lora_A.weight",
        "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.lora_magnitude_vector",
        "text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight",
    ],
)
@pytest.mark.parametrize("sdxl", [False, True])
def test_lora_outside_the_attention_is_refused(key: str, sdxl: bool) -> None:
    with pytest.raises(ValueError, match=rf"{re.escape(key)}.*only the UNet's attention LoRA"):
        kohya_layers({key: torch.zeros(4, 8)}, sdxl=sdxl, layers_per_block=2, lora_alpha=ALPHA)


# --- round trip on the tiny models ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_sdxl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "sdxl"
    build_tiny_sdxl(out, seed=0)
    return out


def pipeline_class(base: Path) -> Any:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    return StableDiffusionXLPipeline if (base / "text_encoder_2").is_dir() else StableDiffusionPipeline


def trained_lora(base: Path, run_dir: Path) -> torch.nn.Module:
    """The base's UNet with a rank-4, alpha-8 LoRA whose lora_B is random (a fresh one is zero), saved."""
    from diffusers import DDPMScheduler, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet")
    as_denoiser(unet, DDPMScheduler(), weight_dtype=torch.float32, rank=RANK, lora_alpha=ALPHA)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in unet.named_parameters():
            if "lora_B" in name:
                param.copy_(0.1 * torch.randn(param.shape, generator=generator))
    run_dir.mkdir()
    assert save_lora(unet, run_dir) == run_dir / LORA_WEIGHTS_FILE
    return unet


def unet_output(unet: torch.nn.Module) -> torch.Tensor:
    """The UNet's prediction for a fixed noisy latent, timestep and text (and SDXL's pooled text, time ids)."""
    config = unet.config
    generator = torch.Generator().manual_seed(1)
    sample = torch.randn(1, config.in_channels, config.sample_size, config.sample_size, generator=generator)
    text = torch.randn(1, 77, config.cross_attention_dim, generator=generator)
    extra = {}
    if has_sdxl_conditioning(unet):
        pooled = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
        time_ids = torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]])
        pooled_text = torch.randn(1, pooled, generator=generator)
        extra = {"added_cond_kwargs": {"text_embeds": pooled_text, "time_ids": time_ids}}
    with torch.no_grad():
        return unet(sample, torch.tensor([500]), encoder_hidden_states=text, **extra).sample


def as_peft(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    from diffusers.utils import convert_unet_state_dict_to_peft

    return convert_unet_state_dict_to_peft({key.removeprefix("unet."): value for key, value in state.items()})


@pytest.fixture(params=["sd", "sdxl"])
def base(request: pytest.FixtureRequest) -> Path:
    return TINY_SD if request.param == "sd" else request.getfixturevalue("tiny_sdxl")


def test_kohya_file_holds_the_trained_weights_and_alpha(base: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "lora-tiny"
    unet = trained_lora(base, run_dir)
    pipeline = pipeline_class(base)
    kohya_file = kohya_lora_file(run_dir)
    assert sorted(path.name for path in run_dir.iterdir()) == sorted([LORA_WEIGHTS_FILE, "lora-tiny.safetensors"])

    from_kohya, alphas = pipeline.lora_state_dict(kohya_file, unet_config=unet.config)
    from_diffusers, _ = pipeline.lora_state_dict(run_dir, weight_name=LORA_WEIGHTS_FILE)
    trained = lora_state(unet)
    kohya, diffusers = as_peft(from_kohya), as_peft(from_diffusers)
    assert set(kohya) == set(diffusers) == set(trained)
    assert all(torch.equal(kohya[key], diffusers[key]) and kohya[key].dtype == trained[key].dtype for key in trained)
    assert all(torch.equal(kohya[key], trained[key]) for key in trained)
    assert len(alphas) == len(trained) // 2 and set(alphas.values()) == {ALPHA}

    with safe_open(kohya_file, framework="pt") as file:
        metadata = file.metadata()
    sdxl = has_sdxl_conditioning(unet)
    assert metadata == {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(RANK),
        "ss_network_alpha": str(ALPHA),
        "ss_base_model_version": "sdxl_base_v1-0" if sdxl else "sd_v1",
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": "stable-diffusion-xl-v1-base/lora" if sdxl else "stable-diffusion-v1/lora",
        "modelspec.implementation": "https://github.com/Stability-AI/generative-models" if sdxl else "diffusers",
        "modelspec.title": "lora-tiny",
    }


def test_kohya_file_loads_to_the_same_unet_as_the_diffusers_file(base: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    trained_lora(base, run_dir)
    pipeline = pipeline_class(base)
    # Without weight_name diffusers picks pytorch_lora_weights.safetensors over the kohya file: the one with
    # the adapter metadata and no kohya alphas.
    _, alphas, metadata = pipeline.lora_state_dict(run_dir, return_lora_metadata=True)
    assert alphas is None and metadata["unet.lora_alpha"] == ALPHA

    plain, from_diffusers, from_kohya = (pipeline.from_pretrained(base) for _ in range(3))
    from_diffusers.load_lora_weights(run_dir)
    from_kohya.load_lora_weights(kohya_lora_file(run_dir))
    without, expected, got = (unet_output(pipe.unet) for pipe in (plain, from_diffusers, from_kohya))
    assert (expected - without).abs().max() > 1e-3  # the LoRA changes the prediction
    assert torch.equal(got, expected)  # and the kohya file's alpha scales it as training did
