"""CLIP for scoring image-text agreement, by name (``openai/clip-vit-base-patch32``) or folder."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pakfashion.models.devices import inference_dtype

if TYPE_CHECKING:
    from transformers import CLIPModel, CLIPProcessor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipBundle:
    """A loaded CLIP model and processor on one device."""

    model: CLIPModel
    processor: CLIPProcessor
    device: str


def load_clip(name_or_path: str, *, device: str) -> ClipBundle:
    """Load CLIP in eval mode: fp16 on CUDA, fp32 on CPU."""
    from transformers import CLIPModel, CLIPProcessor

    processor = CLIPProcessor.from_pretrained(name_or_path)
    model = CLIPModel.from_pretrained(name_or_path, dtype=inference_dtype(device)).to(device).eval()
    log.info("loaded CLIP %s on %s (%s)", name_or_path, device, model.dtype)
    return ClipBundle(model=model, processor=processor, device=device)
