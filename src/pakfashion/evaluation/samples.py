"""What the evaluate stage generates: images labelled with prompt, seed and model (base or fine-tuned)."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

BASE, FINETUNED = "base", "finetuned"
MODEL_LABELS = {BASE: "base", FINETUNED: "fine-tuned"}


@dataclass(frozen=True)
class Sample:
    """One generated image and the prompt, seed and model that made it."""

    prompt: str
    seed: int
    model: str
    image: Image.Image
