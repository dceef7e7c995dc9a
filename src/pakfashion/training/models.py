"""Loading the trained UNet (LoRA adapter or all weights) and the frozen encoders; saving what was trained.

Stable Diffusion 1.x/2.x and SDXL are told apart by the base model's ``model_index.json``: SDXL has a second
text encoder (``text_encoder_2``, with projection) whose pooled output and the image's size/crop
``time_ids`` condition its UNet (``addition_embed_type: text_time``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from pakfashion.config import PredictionType, TrainMethod
from pakfashion.contracts import LORA_WEIGHTS_FILE, PIPELINE_INDEX_FILE

if TYPE_CHECKING:
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

LORA_TARGETS = ["to_k", "to_q", "to_v", "to_out.0"]
WEIGHT_DTYPES = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class Denoiser:
    """What a training step needs: the UNet (LoRA or all weights trainable), noise schedule, input dtype."""

    unet: UNet2DConditionModel
    noise_scheduler: DDPMScheduler
    weight_dtype: torch.dtype
    sdxl: bool = False  # the UNet takes SDXL's pooled text embedding and size/crop time ids


@dataclass(frozen=True)
class TextEncoders:
    """The frozen tokenizer(s) and text encoder(s), needed only to fill the text cache (``*_2``: SDXL's second)."""

    tokenizer: CLIPTokenizer
    text_encoder: CLIPTextModel
    tokenizer_2: CLIPTokenizer | None = None
    text_encoder_2: CLIPTextModelWithProjection | None = None


def is_sdxl(pretrained: str) -> bool:
    """Whether ``pretrained`` (hub name or folder) is an SDXL pipeline (it has ``text_encoder_2``)."""
    from diffusers import DiffusionPipeline

    return "text_encoder_2" in DiffusionPipeline.load_config(pretrained)


def has_sdxl_conditioning(unet: torch.nn.Module) -> bool:
    """Whether ``unet`` takes SDXL's pooled text embedding and size/crop time ids (``text_time``)."""
    return unet.config.addition_embed_type == "text_time"


def latent_stride(pretrained: str) -> int:
    """Pixels per UNet bottleneck cell (VAE downsampling x UNet downsampling): image sides must be multiples."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    vae = AutoencoderKL.load_config(pretrained, subfolder="vae")
    unet = UNet2DConditionModel.load_config(pretrained, subfolder="unet")
    return 2 ** (len(vae["block_out_channels"]) - 1) * 2 ** (len(unet["block_out_channels"]) - 1)


def model_files(pretrained: str, folders: tuple[str, ...]) -> list[list[Any]]:
    """(name, size, mtime) of the files in ``folders`` of a local model; [] for a hub name.

    Identifies the weights behind a path: a rebuilt or re-downloaded model has new files.
    """
    root = Path(pretrained)
    if not root.is_dir():
        return []
    files = sorted(path for folder in folders for path in (root / folder).glob("*") if path.is_file())
    return [[str(path.relative_to(root)), path.stat().st_size, path.stat().st_mtime_ns] for path in files]


def weight_dtype_for(mixed_precision: str) -> torch.dtype:
    """dtype of the frozen weights for accelerate's ``mixed_precision`` setting."""
    if mixed_precision not in WEIGHT_DTYPES:
        raise ValueError(f"train.mixed_precision={mixed_precision!r}; use one of {sorted(WEIGHT_DTYPES)}")
    return WEIGHT_DTYPES[mixed_precision]


def load_denoiser(
    pretrained: str,
    *,
    weight_dtype: torch.dtype,
    method: TrainMethod = TrainMethod.lora,
    rank: int = 4,
    lora_alpha: int = 4,
    prediction_type: PredictionType | None = None,
    gradient_checkpointing: bool = False,
) -> Denoiser:
    """Load the UNet for training, and the DDPM noise scheduler.

    ``lora``: the UNet frozen in ``weight_dtype`` with an fp32 LoRA adapter (``rank``, ``lora_alpha``) on its
    attention projections. ``full``: every UNet weight trainable, in fp32 (mixed precision autocasts).
    ``prediction_type`` overrides the scheduler's own (epsilon or v_prediction) when given;
    ``gradient_checkpointing`` trades compute for activation memory.
    """
    from diffusers import DDPMScheduler, UNet2DConditionModel

    scheduler = DDPMScheduler.from_pretrained(pretrained, subfolder="scheduler")
    if prediction_type is not None:
        scheduler.register_to_config(prediction_type=prediction_type.value)
    unet = UNet2DConditionModel.from_pretrained(
        pretrained, subfolder="unet", dtype=torch.float32 if method is TrainMethod.full else weight_dtype
    )
    return as_denoiser(unet, scheduler, weight_dtype=weight_dtype, method=method, rank=rank, lora_alpha=lora_alpha,
                       gradient_checkpointing=gradient_checkpointing)


def as_denoiser(
    unet: UNet2DConditionModel,
    scheduler: DDPMScheduler,
    *,
    weight_dtype: torch.dtype,
    method: TrainMethod = TrainMethod.lora,
    rank: int = 4,
    lora_alpha: int = 4,
    gradient_checkpointing: bool = False,
) -> Denoiser:
    """Make ``unet`` trainable as ``load_denoiser`` says (a LoRA adapter, or every weight in fp32)."""
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig

    if gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    sdxl = has_sdxl_conditioning(unet)
    if method is TrainMethod.full:
        unet.to(torch.float32).requires_grad_(True)
        return Denoiser(unet=unet, noise_scheduler=scheduler, weight_dtype=torch.float32, sdxl=sdxl)
    unet.to(weight_dtype).requires_grad_(False)
    lora = LoraConfig(r=rank, lora_alpha=lora_alpha, init_lora_weights="gaussian", target_modules=LORA_TARGETS)
    unet.add_adapter(lora)
    cast_training_params(unet, dtype=torch.float32)
    return Denoiser(unet=unet, noise_scheduler=scheduler, weight_dtype=weight_dtype, sdxl=sdxl)


def load_vae(pretrained: str, *, weight_dtype: torch.dtype) -> AutoencoderKL:
    """The VAE, frozen in ``weight_dtype`` (in fp32 where its config asks for ``force_upcast``), to fill the
    latent cache."""
    from diffusers import AutoencoderKL

    # SDXL's VAE overflows in fp16 (its config says force_upcast, as diffusers' pipelines honour): encode in fp32.
    force_upcast = AutoencoderKL.load_config(pretrained, subfolder="vae").get("force_upcast", False)
    vae = AutoencoderKL.from_pretrained(pretrained, subfolder="vae", dtype=torch.float32 if force_upcast else weight_dtype)
    return vae.requires_grad_(False)


def load_text_encoders(pretrained: str, *, weight_dtype: torch.dtype) -> TextEncoders:
    """The tokenizer(s) and text encoder(s), frozen in ``weight_dtype``."""
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    second: dict[str, Any] = {}
    if is_sdxl(pretrained):
        second = {
            "tokenizer_2": CLIPTokenizer.from_pretrained(pretrained, subfolder="tokenizer_2"),
            "text_encoder_2": CLIPTextModelWithProjection.from_pretrained(
                pretrained, subfolder="text_encoder_2", dtype=weight_dtype
            ).requires_grad_(False),
        }
    return TextEncoders(
        tokenizer=CLIPTokenizer.from_pretrained(pretrained, subfolder="tokenizer"),
        text_encoder=CLIPTextModel.from_pretrained(pretrained, subfolder="text_encoder", dtype=weight_dtype
                                                   ).requires_grad_(False),
        **second,
    )  # fmt: skip


def trainable_parameters(unet: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The trainable parameters (LoRA, or all) as a list, so clipping, the optimizer and EMA see the same ones."""
    params = [p for p in unet.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the UNet has no trainable parameters: load it with load_denoiser")
    return params


def lora_state(unet: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The UNet's LoRA tensors in peft naming (what the optimizer updates)."""
    from peft.utils import get_peft_model_state_dict

    return get_peft_model_state_dict(unet)


def save_lora(unet: torch.nn.Module, out_dir: Path) -> Path:
    """Save the UNet's LoRA in diffusers' format (SD or SDXL ``load_lora_weights`` reads it), and beside it in
    the kohya layout for ComfyUI and AUTOMATIC1111 (:func:`pakfashion.training.kohya.save_kohya_lora`); returns
    the diffusers file, which ``load_lora_weights(out_dir)`` without ``weight_name`` still picks."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline
    from diffusers.utils import convert_state_dict_to_diffusers

    from pakfashion.training.kohya import save_kohya_lora  # imported here: kohya imports this module

    layers = convert_state_dict_to_diffusers(lora_state(unet))
    pipeline = StableDiffusionXLPipeline if has_sdxl_conditioning(unet) else StableDiffusionPipeline
    # The adapter config (rank, alpha) travels in the file; without it a loader assumes alpha == rank.
    pipeline.save_lora_weights(
        out_dir,
        unet_lora_layers=layers,
        unet_lora_adapter_metadata=unet.peft_config["default"].to_dict(),
        weight_name=LORA_WEIGHTS_FILE,
    )
    save_kohya_lora(unet, out_dir)
    return out_dir / LORA_WEIGHTS_FILE


def restore_lora(unet: torch.nn.Module, lora_dir: Path) -> None:
    """Copy the LoRA saved by :func:`save_lora` in ``lora_dir`` into the UNet's adapter, in place.

    Raises:
        ValueError: when the file's LoRA layers do not match the adapter's (another rank or model).
    """
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_unet_state_dict_to_peft
    from peft import set_peft_model_state_dict

    saved, _ = StableDiffusionPipeline.lora_state_dict(lora_dir, weight_name=LORA_WEIGHTS_FILE)
    unet_layers = {key.removeprefix("unet."): value for key, value in saved.items() if key.startswith("unet.")}
    result = set_peft_model_state_dict(unet, convert_unet_state_dict_to_peft(unet_layers), adapter_name="default")
    missing = [key for key in result.missing_keys if "lora_" in key]
    if result.unexpected_keys or missing or not unet_layers:
        raise ValueError(
            f"LoRA in {lora_dir} does not fit the UNet (unexpected {result.unexpected_keys[:3]}, missing "
            f"{missing[:3]}): it was trained with another model or rank; set train.resume=none to start over"
        )


def save_pipeline(unet: torch.nn.Module, pretrained: str, out_dir: Path, *, scheduler: DDPMScheduler) -> Path:
    """Save the base pipeline with the trained ``unet`` to ``out_dir`` (``from_pretrained(out_dir)`` loads it).

    The base's own pipeline and scheduler classes are kept, with the training ``prediction_type``; returns
    ``model_index.json``.
    """
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(pretrained, unet=unet)
    pipe.scheduler.register_to_config(prediction_type=scheduler.config.prediction_type)
    pipe.save_pretrained(out_dir)
    return out_dir / PIPELINE_INDEX_FILE
