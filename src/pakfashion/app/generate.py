"""Text-to-image for the app: the base model and a trained run from the same seeds, saved as PNGs that
carry their settings.

The base pipeline is ``model.pretrained`` (a folder such as ``models/tiny/sd`` or a hub name when its
weights are reachable); a run is ``paths.models/<run>``: a LoRA (loaded into the base pipeline, switched
off for the base images) or a whole pipeline (``train.method=full``, loaded on its own).
"""

from __future__ import annotations

import io
import json
import logging
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from pakfashion.app.data import DataMissing
from pakfashion.common.files import write_bytes_atomic
from pakfashion.models.devices import default_device
from pakfashion.models.sd import load_pipeline, load_run

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

log = logging.getLogger(__name__)

BASE = "base"
MAX_IMAGES = 8
MAX_STEPS = 150


@dataclass(frozen=True)
class GenerationRequest:
    """What the Generate tab asks for; image ``i`` of each model starts from seed ``seed + i``."""

    prompt: str
    negative_prompt: str = ""
    seed: int = 0
    steps: int = 25
    guidance_scale: float = 7.5
    num_images: int = 1

    def check(self) -> None:
        """Refuse requests that cannot run, with a message for the user."""
        if not self.prompt.strip():
            raise ValueError("write a prompt first")
        if not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"steps={self.steps}: choose 1 to {MAX_STEPS}")
        if not 1 <= self.num_images <= MAX_IMAGES:
            raise ValueError(f"number of images={self.num_images}: choose 1 to {MAX_IMAGES}")
        if self.seed < 0:
            raise ValueError(f"seed={self.seed}: must be 0 or more")


@dataclass(frozen=True)
class ModelImages:
    """The PNG files one model produced for a request, in seed order."""

    model: str
    files: list[Path]


class ModelPair:
    """The base pipeline and one trained run, loaded on first use and kept until another run is chosen.

    A LoRA run shares the base pipeline (its adapter is switched off for the base images), so a LoRA costs
    its own few MB only; a full run is a second pipeline. One lock serialises loading and generating.
    """

    def __init__(self, pretrained: str, models_dir: Path, *, name: str = "", device: str | None = None) -> None:
        self.pretrained = pretrained
        # How images name the base model (params.yaml's model.pretrained, not this machine's path).
        self.name = name or pretrained
        self.models_dir = models_dir
        self.device = device or default_device()
        self.lock = threading.Lock()
        self._base: DiffusionPipeline | None = None
        self._run: str | None = None
        self._full: DiffusionPipeline | None = None

    def base(self) -> DiffusionPipeline:
        """The base pipeline with any LoRA switched off."""
        if self._base is None:
            self._base = load_pipeline(self.pretrained, device=self.device)
        if self._run is not None and self._full is None:
            self._base.disable_lora()
        return self._base

    def run_dir(self, run: str) -> Path:
        """``models_dir/run``, or :class:`DataMissing` when the train stage has not written it."""
        if not run:
            raise DataMissing(f"no trained run in {self.models_dir}: run `dvc repro train` (or `make demo`) first")
        path = self.models_dir / run
        if not path.is_dir():
            raise DataMissing(f"{path} not found: train it with `dvc exp run -S train.run_name={run}`")
        return path

    def finetuned(self, run: str) -> DiffusionPipeline:
        """The run's pipeline: its own (full fine-tune) or the base one with its LoRA switched on."""
        path = self.run_dir(run)
        if run != self._run:
            self._switch_to(run, path)
        if self._full is not None:
            return self._full
        pipe = self.base()
        pipe.enable_lora()
        return pipe

    def _switch_to(self, run: str, path: Path) -> None:
        base = self.base()
        if self._run is not None and self._full is None:
            base.unload_lora_weights()
        self._run, self._full = None, None
        pipe = load_run(path, base=base, device=self.device)
        self._full = None if pipe is base else pipe
        self._run = run


def generate_images(
    pipe: DiffusionPipeline, request: GenerationRequest, *, resolution_px: int
) -> list[Image.Image]:
    """``request.num_images`` images in one pipeline call; CPU generators make each seed's noise device-independent."""
    count = request.num_images
    return pipe(
        prompt=[request.prompt] * count,
        negative_prompt=[request.negative_prompt] * count if request.negative_prompt else None,
        height=resolution_px,
        width=resolution_px,
        num_inference_steps=request.steps,
        guidance_scale=request.guidance_scale,
        generator=[torch.Generator("cpu").manual_seed(request.seed + i) for i in range(count)],
        output_type="pil",
    ).images


def png_settings(
    request: GenerationRequest, *, index: int, model: str, base_model: str, size: tuple[int, int]
) -> dict[str, str]:
    """PNG text chunks for image ``index``: ``parameters`` (the AUTOMATIC1111 layout many tools read) and
    ``pakfashion`` (the same settings as JSON)."""
    seed = request.seed + index
    settings = {
        **asdict(request),
        "seed": seed,
        "model": model,
        "base_model": base_model,
        "width": size[0],
        "height": size[1],
    }
    settings.pop("num_images")
    lines = [request.prompt]
    if request.negative_prompt:
        lines.append(f"Negative prompt: {request.negative_prompt}")
    lines.append(
        f"Steps: {request.steps}, CFG scale: {request.guidance_scale}, Seed: {seed}, "
        f"Size: {size[0]}x{size[1]}, Model: {model}, Base model: {base_model}"
    )
    return {"parameters": "\n".join(lines), "pakfashion": json.dumps(settings, sort_keys=True)}


def png_bytes(image: Image.Image, text: dict[str, str]) -> bytes:
    """``image`` as PNG with ``text`` as tEXt/iTXt chunks."""
    info = PngInfo()
    for key, value in text.items():
        info.add_itxt(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def save_images(
    images: list[Image.Image], request: GenerationRequest, *, model: str, base_model: str, out_dir: Path
) -> ModelImages:
    """Write ``out_dir/<model>-seed<seed>.png`` files with their settings embedded."""
    files = []
    for index, image in enumerate(images):
        text = png_settings(request, index=index, model=model, base_model=base_model, size=image.size)
        path = out_dir / f"{model}-seed{request.seed + index}.png"
        write_bytes_atomic(path, png_bytes(image, text))
        files.append(path)
    return ModelImages(model=model, files=files)


def compare(
    pair: ModelPair, request: GenerationRequest, *, run: str, resolution_px: int, out_dir: Path
) -> tuple[ModelImages, ModelImages]:
    """Base and ``run`` images from the same prompt and seeds, saved under ``out_dir``.

    Raises:
        ValueError: the request cannot run (see :meth:`GenerationRequest.check`).
        DataMissing: ``run`` has no folder under ``models``.
        OSError: a model could not be loaded (missing weights, offline hub name).
    """
    request.check()
    with pair.lock:
        pair.run_dir(run)  # fail before any generation when the run is missing
        base_images = generate_images(pair.base(), request, resolution_px=resolution_px)
        tuned_images = generate_images(pair.finetuned(run), request, resolution_px=resolution_px)
    log.info(
        "generated %d + %d images for %r (%s, seed %d)",
        len(base_images),
        len(tuned_images),
        request.prompt,
        run,
        request.seed,
    )
    return (
        save_images(base_images, request, model=BASE, base_model=pair.name, out_dir=out_dir / BASE),
        save_images(tuned_images, request, model=run, base_model=pair.name, out_dir=out_dir / "finetuned"),
    )
