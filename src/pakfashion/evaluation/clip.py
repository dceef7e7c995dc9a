"""CLIP for scoring image-text agreement, by name (``openai/clip-vit-base-patch32``) or folder."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from pakfashion.models.devices import inference_dtype

if TYPE_CHECKING:
    from PIL import Image
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


@torch.inference_mode()
def clip_scores(
    images: list[Image.Image], prompts: list[str], *, clip: ClipBundle, batch_size: int = 32
) -> list[float]:
    """CLIP score of each image with its prompt: 100 x cosine similarity, floored at 0 (torchmetrics).

    Args:
        images: images to score, paired with ``prompts`` by position.
        prompts: one text per image; longer texts are truncated to CLIP's 77 tokens.
        clip: from :func:`pakfashion.evaluation.clip.load_clip`.
        batch_size: pairs per forward pass.
    """
    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images but {len(prompts)} prompts: pass one prompt per image")
    scores: list[float] = []
    for start in range(0, len(images), batch_size):
        inputs = clip.processor(
            text=prompts[start : start + batch_size],
            images=images[start : start + batch_size],
            return_tensors="pt",
            padding=True,
            truncation=True,
        ).to(clip.device, clip.model.dtype)  # casts only the float tensors (pixel_values)
        outputs = clip.model(**inputs)  # image_embeds and text_embeds are L2-normalised
        cosine = (outputs.image_embeds * outputs.text_embeds).sum(dim=-1)
        scores += (100 * cosine).clamp(min=0).float().tolist()
    return scores
