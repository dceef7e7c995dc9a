"""BLIP-2 captioning by name or path: ``Salesforce/blip2-opt-2.7b`` or a tiny model folder."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from pakfashion.models.devices import inference_dtype

if TYPE_CHECKING:
    from PIL import Image
    from transformers import Blip2ForConditionalGeneration, Blip2Processor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Blip2Captioner:
    """A loaded BLIP-2 model and processor on one device."""

    model: Blip2ForConditionalGeneration
    processor: Blip2Processor
    device: str

    @property
    def input_px(self) -> int:
        """The larger side of the images the processor hands the model."""
        size = self.processor.image_processor.size
        return max(size.get("height", 0), size.get("width", 0), size.get("shortest_edge", 0))

    @torch.inference_mode()
    def caption(self, images: list[Image.Image], *, max_new_tokens: int) -> list[str]:
        """Caption a batch of images; returns one stripped string per image, in order.

        Args:
            images: PIL images of any size and mode (the processor converts to RGB and resizes).
            max_new_tokens: cap on generated tokens per caption.
        """
        if not images:
            return []
        inputs = self.processor(images=images, return_tensors="pt").to(self.device, self.model.dtype)
        tokens = self.model.generate(**inputs, max_new_tokens=max_new_tokens)
        return [text.strip() for text in self.processor.batch_decode(tokens, skip_special_tokens=True)]


def load_blip2(name_or_path: str, *, device: str) -> Blip2Captioner:
    """Load a BLIP-2 captioner: fp16 on CUDA, fp32 on CPU, in eval mode.

    Args:
        name_or_path: hub name (needs the weights cached or reachable) or a local folder.
        device: torch device string, e.g. ``"cuda"`` or ``"cpu"``.
    """
    from transformers import Blip2ForConditionalGeneration, Blip2Processor

    processor = Blip2Processor.from_pretrained(name_or_path)
    model = Blip2ForConditionalGeneration.from_pretrained(name_or_path, dtype=inference_dtype(device))
    model.to(device).eval()
    log.info("loaded BLIP-2 %s on %s (%s)", name_or_path, device, model.dtype)
    return Blip2Captioner(model=model, processor=processor, device=device)
