"""GPU-ready benchmark: training steps/s, peak memory and model FLOPs utilisation of the real-size architectures,
the captioners (BLIP-2, SmolVLM) at batch 1 vs their best batch, and evaluation images/s.

Every model is built from its architecture's config with random weights (nothing comes from a hub):

- ``sd15``: Stable Diffusion 1.5's UNet (860M), VAE and CLIP ViT-L/14 text encoder, 512 px;
- ``sdxl``: SDXL's UNet (2.6B), VAE and both text encoders (CLIP ViT-L and OpenCLIP bigG), 1024 px;
- ``blip2``: BLIP-2 opt-2.7b's ViT-g, Q-Former and OPT-2.7b (3.9B);
- ``smolvlm``: SmolVLM-500M-Instruct's SigLIP-B/16 at 512 px, pixel shuffle to 64 image tokens and SmolLM2-360M
  (Idefics3 class, 0.5B), each image prompted as the caption stage prompts it (caption=smolvlm's template).

Training runs LoRA (rank 16 on the attention projections) and full fine-tunes in bf16 through our own step
(`pakfashion.training.loss.train_step`, AdamW) on cached VAE latents and text states, at our batch size, beside
the step of diffusers' ``examples/text_to_image/train_text_to_image_lora.py`` at the same settings: batch 1,
pixels through the VAE encoder and captions through the text encoder(s) every step, then the same UNet loss,
backward and AdamW step. That is the script's per-step work re-enacted on the same modules in this process, not
the script itself (it needs torchvision and a model folder; ``benchmarks/train.py`` runs the real script on
CPU). Samples/s compare the two. MFU = the step's FLOPs (``torch.utils.flop_counter``) per second over the
device's dense bf16 peak (``--peak-tflops``, else known for H100/H200/A100).

Published anchors: SimpleTuner's SD 1.5 LoRA (rank 16, 512 px, batch 1, bf16) at 0.181 s/step = 5.5 samples/s
on an H100, and its SDXL LoKr at 1024 px, batch 1, at 0.606 s/step = 1.65 samples/s.

    python benchmarks/gpu.py                # on a GPU: results/gpu.json
    python benchmarks/gpu.py --tiny         # the tiny models on CPU, seconds (make test runs this)

Ends with ``ratio=<ours/baseline samples/s, SD 1.5 LoRA> ours=<samples/s> baseline=<samples/s> unit=samples/s``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "assets" / "tiny"
PEAK_BF16_TFLOPS = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L40S": 362.1, "A10G": 70.0}
ANCHORS = {"sd15_lora": {"samples_per_s": 1 / 0.181, "source": "SimpleTuner SD 1.5 LoRA r16 512px bs1 bf16, H100"},
           "sdxl_lora": {"samples_per_s": 1 / 0.606, "source": "SimpleTuner SDXL LoKr 1024px bs1 bf16, H100"}}
CAPTION = "a red embroidered lawn kurta with gold buttis"

SD_VAE = {"block_out_channels": (128, 256, 512, 512), "down_block_types": ("DownEncoderBlock2D",) * 4,
          "up_block_types": ("UpDecoderBlock2D",) * 4, "layers_per_block": 2, "latent_channels": 4}
CLIP_L = {"vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
          "num_attention_heads": 12, "max_position_embeddings": 77, "hidden_act": "quick_gelu"}
CLIP_BIG_G = {"vocab_size": 49408, "hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32,
              "num_attention_heads": 20, "max_position_embeddings": 77, "hidden_act": "gelu", "projection_dim": 1280}
BLIP2_VISION = {"hidden_size": 1408, "intermediate_size": 6144, "num_hidden_layers": 39, "num_attention_heads": 16,
                "image_size": 224, "patch_size": 14}
SMOLVLM_VISION = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                  "image_size": 512, "patch_size": 16}
SMOLLM2_360M = {"hidden_size": 960, "intermediate_size": 2560, "num_hidden_layers": 32, "num_attention_heads": 15,
                "num_key_value_heads": 5, "head_dim": 64, "vocab_size": 49280, "max_position_embeddings": 8192,
                "rope_theta": 100000.0, "rms_norm_eps": 1e-5}
OPT_2_7B = {"hidden_size": 2560, "ffn_dim": 10240, "num_hidden_layers": 32, "num_attention_heads": 32,
            "word_embed_proj_dim": 2560, "vocab_size": 50272, "max_position_embeddings": 2048}


@dataclass
class Diffusion:
    """The modules one SD-family training or evaluation run needs."""

    name: str
    unet: torch.nn.Module
    vae: torch.nn.Module
    text_encoders: list[torch.nn.Module]
    tokenizers: list[Any]
    scheduler: Any
    resolution: int
    sdxl: bool


def tiny_diffusion(name: str, work: Path) -> Diffusion:
    """The repo's tiny SD (assets/tiny/sd) or a freshly built tiny SDXL."""
    from diffusers import DDPMScheduler, DiffusionPipeline

    from pakfashion.models.tiny import build_tiny_sdxl

    folder = TINY / "sd"
    if name == "sdxl":
        folder = work / "sdxl"
        if not folder.exists():
            build_tiny_sdxl(folder, seed=0)
    pipe = DiffusionPipeline.from_pretrained(folder)
    encoders = [pipe.text_encoder] + ([pipe.text_encoder_2] if name == "sdxl" else [])
    tokenizers = [pipe.tokenizer] + ([pipe.tokenizer_2] if name == "sdxl" else [])
    return Diffusion(name, pipe.unet, pipe.vae, encoders, tokenizers, DDPMScheduler.from_config(pipe.scheduler.config),
                     64, name == "sdxl")


def real_diffusion(name: str) -> Diffusion:
    """SD 1.5 or SDXL at full size, random weights, with the repo's generated CLIP tokenizer."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

    from pakfashion.models.architectures import SD15_UNET, SDXL_UNET
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
    )

    tokenizer = CLIPTokenizer.from_pretrained(TINY / "sd" / "tokenizer")
    schedule = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "steps_offset": 1}
    vae = AutoencoderKL(**SD_VAE, sample_size=1024 if name == "sdxl" else 512)
    if name == "sd15":
        return Diffusion(name, UNet2DConditionModel(**SD15_UNET), vae, [CLIPTextModel(CLIPTextConfig(**CLIP_L))],
                         [tokenizer], DDPMScheduler(**schedule), 512, False)
    encoders = [CLIPTextModel(CLIPTextConfig(**CLIP_L)), CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_BIG_G))]
    return Diffusion(name, UNet2DConditionModel(**SDXL_UNET), vae, encoders, [tokenizer, tokenizer],
                     DDPMScheduler(**schedule), 1024, True)


def encode_text(model: Diffusion, batch: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Text states (and SDXL's pooled embedding and time ids) for ``batch`` copies of CAPTION."""
    states, pooled = [], None
    for tokenizer, encoder in zip(model.tokenizers, model.text_encoders):
        ids = tokenizer([CAPTION] * batch, padding="max_length", max_length=77, truncation=True,
                        return_tensors="pt").input_ids.to(device)
        out = encoder(ids, output_hidden_states=True)
        states.append(out.hidden_states[-2] if model.sdxl else out.last_hidden_state)
        pooled = out[0] if model.sdxl else None
    batch_out = {"text_states": torch.cat(states, dim=-1)}
    if model.sdxl:
        side = model.resolution
        batch_out["pooled_text"] = pooled
        batch_out["time_ids"] = torch.tensor([[side, side, 0, 0, side, side]] * batch, device=device,
                                             dtype=torch.float32)
    return batch_out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed_steps(step: Callable[[], None], *, steps: int, warmup: int, device: torch.device) -> dict[str, float]:
    """Seconds per step after ``warmup`` steps, and the peak memory of the whole run."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(warmup):
        step()
    sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    seconds = (time.perf_counter() - started) / steps
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return {"s_per_step": seconds, "peak_gib": peak}


def step_flops(step: Callable[[], None]) -> float:
    """FLOPs of one call of ``step`` (forward, backward and optimizer matmuls/convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return float(counter.get_total_flops())


def train_case(model: Diffusion, *, method: str, batch: int, cached: bool, args: argparse.Namespace,
               device: torch.device) -> dict[str, Any]:
    """One training configuration: our cached-latent step at ``batch``, or the script's step (pixels) at 1."""
    from pakfashion.config import TrainMethod
    from pakfashion.training.loop import build_optimizer
    from pakfashion.training.loss import train_step
    from pakfashion.training.models import as_denoiser

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    denoiser = as_denoiser(model.unet, model.scheduler, weight_dtype=dtype, method=TrainMethod(method), rank=16,
                           lora_alpha=16, gradient_checkpointing=method == "full" and not args.tiny)
    denoiser.unet.to(device).train()
    model.vae.to(device, dtype).requires_grad_(False)
    for encoder in model.text_encoders:
        encoder.to(device, dtype).requires_grad_(False)
    params = [p for p in denoiser.unet.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, lr=1e-4, kind=args.optimizer)
    settings = args.train_settings
    generator = torch.Generator(device).manual_seed(0)
    side = model.resolution
    pixels = torch.rand(batch, 3, side, side, device=device, dtype=dtype) * 2 - 1
    with torch.no_grad():
        cache = {**encode_text(model, batch, device), "latent_params": model.vae.encode(pixels).latent_dist.parameters}

    def step() -> None:
        with torch.no_grad():
            if cached:
                batch_in = cache
            else:  # the script: VAE-encode the pixels and run the text encoder(s) every step
                batch_in = {**encode_text(model, batch, device),
                            "latent_params": model.vae.encode(pixels).latent_dist.parameters}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = train_step(denoiser, batch_in, settings, scaling_factor=model.vae.config.scaling_factor, generator=generator)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    timing = timed_steps(step, steps=args.steps, warmup=args.warmup, device=device)
    flops = step_flops(step)
    result = {"method": method, "batch": batch, "resolution": side, "cached_latents": cached, **timing,
              "samples_per_s": batch / timing["s_per_step"], "tflops_per_step": flops / 1e12,
              "achieved_tflops": flops / timing["s_per_step"] / 1e12}
    if args.peak_tflops:
        result["mfu"] = result["achieved_tflops"] / args.peak_tflops
    return result


CAPTIONERS = {"blip2": "BLIP-2 opt-2.7b architecture, random", "smolvlm": "SmolVLM-500M architecture, random"}


def caption_prompt() -> str:
    """caption=smolvlm's prompt filled for one product (as the caption stage fills it)."""
    from pakfashion.captioning.captioner import product_prompts
    from pakfashion.config import CaptionConfig, VocabConfig, compose_config, settings_from

    cfg = compose_config(REPO / "conf", ["caption=smolvlm"])
    product = {"title": "Red Embroidered Lawn Kurta", "description": "A red lawn kurta with gold buttis."}
    return product_prompts(settings_from(cfg, "caption", CaptionConfig).prompt, [product],
                           settings_from(cfg, "vocab", VocabConfig))[0]


def caption_case(args: argparse.Namespace, device: torch.device, name: str = "blip2") -> dict[str, Any]:
    """Captions/s of captioner ``name`` at batch 1 and at each of ``--caption-batches``; the best batch is
    reported. The tiny models are the committed ones (assets/tiny/<name>)."""
    from PIL import Image

    from pakfashion.captioning.captioner import load_captioner
    from pakfashion.config import Captioner

    if args.tiny:
        captioner = load_captioner(Captioner(name), str(TINY / name), device=str(device))
    else:
        captioner = {"blip2": real_blip2, "smolvlm": real_smolvlm}[name](device)
    images = [Image.new("RGB", (640, 800), (200, 30, 40))] * max(args.caption_batches)
    prompts = [caption_prompt()] * len(images)

    def rate(batch: int) -> float:
        captioner.caption(images[:batch], prompts[:batch], max_new_tokens=args.caption_tokens)
        sync(device)
        started = time.perf_counter()
        for _ in range(args.caption_rounds):
            captioner.caption(images[:batch], prompts[:batch], max_new_tokens=args.caption_tokens)
        sync(device)
        return batch * args.caption_rounds / (time.perf_counter() - started)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rates = {batch: rate(batch) for batch in sorted({1, *args.caption_batches})}
    best = max(rates, key=rates.get)
    return {"images_per_s": {str(k): v for k, v in rates.items()}, "batch_1": rates[1], "best_batch": best,
            "best": rates[best], "speedup": rates[best] / rates[1], "max_new_tokens": args.caption_tokens,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan"),
            "model": f"tiny {name} (assets/tiny/{name})" if args.tiny else CAPTIONERS[name]}


def real_blip2(device: torch.device) -> Any:
    """BLIP-2 opt-2.7b's architecture with random weights in fp16, and a processor at its 224 px input."""
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        Blip2QFormerConfig,
        Blip2VisionConfig,
        BlipImageProcessor,
        OPTConfig,
    )

    from pakfashion.captioning.captioner import Blip2Captioner

    tokenizer = Blip2Processor.from_pretrained(TINY / "blip2").tokenizer
    processor = Blip2Processor(BlipImageProcessor(size={"height": 224, "width": 224}), tokenizer, num_query_tokens=32)
    text = OPTConfig(**OPT_2_7B, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                     pad_token_id=tokenizer.pad_token_id)
    config = Blip2Config(vision_config=Blip2VisionConfig(**BLIP2_VISION).to_dict(),
                         qformer_config=Blip2QFormerConfig(encoder_hidden_size=1408).to_dict(),
                         text_config=text.to_dict(), num_query_tokens=32,
                         image_token_index=processor.tokenizer.convert_tokens_to_ids("<image>"))
    with torch.device(device):
        model = Blip2ForConditionalGeneration(config).to(torch.float16).eval()
    return Blip2Captioner(model=model, processor=processor, device=str(device))


def real_smolvlm(device: torch.device) -> Any:
    """SmolVLM-500M-Instruct's architecture with random weights in fp16, one 512-px tile (64 image tokens), the
    committed tiny model's generated tokenizer and SmolVLM's chat template."""
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
        LlamaConfig,
    )
    from transformers.models.idefics3.configuration_idefics3 import Idefics3VisionConfig

    from pakfashion.captioning.captioner import SmolVLMCaptioner, one_tile

    tiny = Idefics3Processor.from_pretrained(TINY / "smolvlm")
    image_processor = Idefics3ImageProcessorPil(do_image_splitting=False, size={"longest_edge": 512},
                                                max_image_size={"longest_edge": 512})
    processor = one_tile(Idefics3Processor(image_processor, tiny.tokenizer, image_seq_len=64,
                                           chat_template=tiny.chat_template))
    tokenizer = processor.tokenizer
    text = LlamaConfig(**SMOLLM2_360M, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)
    config = Idefics3Config(vision_config=Idefics3VisionConfig(**SMOLVLM_VISION).to_dict(), text_config=text.to_dict(),
                            scale_factor=4, image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
                            pad_token_id=tokenizer.pad_token_id)
    with torch.device(device):
        model = Idefics3ForConditionalGeneration(config).to(torch.float16).eval()
    model.generation_config.eos_token_id = None  # random weights: every caption runs to --caption-tokens
    return SmolVLMCaptioner(model=model, processor=processor, device=str(device))


def evaluation_case(model: Diffusion, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Sample images/s of the pipeline the evaluate stage runs (DPM-Solver++, classifier-free guidance)."""
    from diffusers import (
        DPMSolverMultistepScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
    )

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    scheduler = DPMSolverMultistepScheduler.from_config(model.scheduler.config)
    parts = {"unet": model.unet.to(device, dtype).eval(), "vae": model.vae.to(device, dtype), "scheduler": scheduler,
             "text_encoder": model.text_encoders[0].to(device, dtype), "tokenizer": model.tokenizers[0]}
    if model.sdxl:
        pipe = StableDiffusionXLPipeline(**parts, text_encoder_2=model.text_encoders[1].to(device, dtype),
                                         tokenizer_2=model.tokenizers[1])
    else:
        pipe = StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    batch, side = args.eval_batch, model.resolution

    def generate() -> None:
        with torch.inference_mode():
            pipe([CAPTION] * batch, num_inference_steps=args.eval_steps, guidance_scale=2.0, height=side, width=side,
                 output_type="np")

    generate()
    sync(device)
    started = time.perf_counter()
    generate()
    sync(device)
    seconds = time.perf_counter() - started
    return {"images_per_s": batch / seconds, "batch": batch, "steps": args.eval_steps, "resolution": side}


def build(arch: str, args: argparse.Namespace, device: torch.device, work: Path) -> Diffusion:
    """A fresh copy of the architecture (random weights made on ``device`` for the real sizes)."""
    if args.tiny:
        return tiny_diffusion(arch, work)
    with torch.device(device):
        return real_diffusion(arch)


@contextlib.contextmanager
def freed(device: torch.device) -> Iterator[None]:
    try:
        yield
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    args.peak_tflops = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    out: dict[str, Any] = {"device": name, "torch": torch.__version__, "tiny": args.tiny,
                           "peak_bf16_tflops": args.peak_tflops, "train": {}, "anchors": ANCHORS}
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.archs:
            batches = {"sd15": args.batch_sd15, "sdxl": args.batch_sdxl}
            for method in args.methods:
                for cached, batch in ((True, batches[arch]), (False, 1)):
                    with freed(device):
                        model = build(arch, args, device, Path(tmp))
                        case = train_case(model, method=method, batch=batch, cached=cached, args=args, device=device)
                    key = f"{arch}_{method}_{'ours' if cached else 'script_step'}"
                    out["train"][key] = case
                    print(f"{key}: {case['samples_per_s']:.2f} samples/s, {case['s_per_step']:.3f} s/step, "
                          f"peak {case['peak_gib']:.1f} GiB, {case['achieved_tflops']:.2f} TFLOP/s"
                          + (f", MFU {case['mfu']:.1%}" if "mfu" in case else ""), flush=True)
            with freed(device):
                model = build(arch, args, device, Path(tmp))
                out.setdefault("evaluation", {})[arch] = evaluation_case(model, args, device)
            print(f"evaluation {arch}: {out['evaluation'][arch]['images_per_s']:.2f} images/s", flush=True)
        for name in args.captioners:
            key = "caption" if name == "blip2" else f"caption_{name}"
            with freed(device):
                out[key] = caption_case(args, device, name)
            print(f"{key}: batch 1 {out[key]['batch_1']:.2f}/s, batch {out[key]['best_batch']} "
                  f"{out[key]['best']:.2f}/s, peak {out[key]['peak_gib']:.1f} GiB", flush=True)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="the repo's tiny models, for CPU and tests")
    parser.add_argument("--device", help="torch device (default: cuda if available)")
    parser.add_argument("--archs", nargs="+", default=["sd15", "sdxl"], choices=["sd15", "sdxl"])
    parser.add_argument("--methods", nargs="+", default=["lora", "full"], choices=["lora", "full"])
    parser.add_argument("--batch-sd15", type=int, default=16)
    parser.add_argument("--batch-sdxl", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--optimizer", default="adamw")
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak, for MFU")
    parser.add_argument("--caption-batches", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--caption-tokens", type=int, default=30)
    parser.add_argument("--captioners", nargs="+", default=list(CAPTIONERS), choices=list(CAPTIONERS),
                        help="captioners to time (the results' caption and caption_<name> keys)")
    parser.add_argument("--caption-rounds", type=int, default=3)
    parser.add_argument("--eval-batch", type=int, default=8)
    parser.add_argument("--eval-steps", type=int, default=20)
    parser.add_argument("--out", type=Path, help="results JSON (default: results/gpu.json; --tiny: none)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.steps, args.warmup, args.batch_sd15, args.batch_sdxl = min(args.steps, 3), 1, 4, 4
        args.caption_batches, args.caption_rounds, args.caption_tokens = [4], 1, 8
        args.eval_batch, args.eval_steps = 2, 4
    elif args.out is None:
        args.out = REPO / "benchmarks" / "results" / "gpu.json"
    return args


def train_settings() -> Any:
    """The train group's defaults (``conf/train/lora.yaml``), as the train stage reads them."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from pakfashion.config import TrainConfig, as_typed

    with initialize_config_dir(str(REPO / "conf"), version_base=None):
        cfg = compose("config", overrides=["profile=full"])
    OmegaConf.resolve(cfg)
    return as_typed(cfg.train, TrainConfig)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import diffusers
    import transformers

    from pakfashion.config import Optimizer

    for library in (diffusers, transformers):
        library.utils.logging.set_verbosity_error()
        library.utils.logging.disable_progress_bar()

    args.optimizer = Optimizer(args.optimizer)
    args.train_settings = train_settings()
    torch.manual_seed(0)
    results = run(args)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    arch = args.archs[0]
    ours = results["train"][f"{arch}_{args.methods[0]}_ours"]["samples_per_s"]
    baseline = results["train"][f"{arch}_{args.methods[0]}_script_step"]["samples_per_s"]
    print(f"ratio={ours / baseline:.2f} ours={ours:.3f} baseline={baseline:.3f} unit=samples/s "
          f"({arch} {args.methods[0]}, {'tiny, ' if args.tiny else ''}{results['device']})")


if __name__ == "__main__":
    sys.exit(main())
