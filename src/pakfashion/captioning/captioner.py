"""Captioners by name or path, behind one interface (:class:`ImageCaptioner`).

- BLIP-2 (``Salesforce/blip2-opt-2.7b`` or a tiny folder) captions the image alone and ignores prompts.
- SmolVLM (``HuggingFaceTB/SmolVLM-500M-Instruct``, the Idefics3 class, or a tiny folder) is a chat model
  asked, per image, a prompt filled from the image's product (:func:`product_prompts`): its title and listed
  attributes, so it describes what the photo shows rather than inventing names.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch

from pakfashion.captioning.text import AttributeFinder, template_fields
from pakfashion.config import Captioner, VocabConfig
from pakfashion.models.devices import inference_dtype

if TYPE_CHECKING:
    from PIL import Image
    from transformers import Blip2ForConditionalGeneration, Blip2Processor, Idefics3Processor, PreTrainedModel

log = logging.getLogger(__name__)


class ImageCaptioner(Protocol):
    """A loaded captioner: one caption per image, each image with its own prompt (a captioner without
    prompts ignores them)."""

    @property
    def input_px(self) -> int:
        """The larger side of the images the model sees (a JPEG need not be decoded larger)."""
        ...

    def caption(self, images: list[Image.Image], prompts: Sequence[str] | None = None, *,
                max_new_tokens: int) -> list[str]:
        """One stripped caption per image, in order."""
        ...


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
    def caption(self, images: list[Image.Image], prompts: Sequence[str] | None = None, *,
                max_new_tokens: int) -> list[str]:
        """Caption a batch of images (BLIP-2 captions the image alone: ``prompts`` are ignored).

        Args:
            images: PIL images of any size and mode (the processor converts to RGB and resizes).
            max_new_tokens: cap on generated tokens per caption.
        """
        if not images:
            return []
        inputs = self.processor(images=images, return_tensors="pt").to(self.device, self.model.dtype)
        tokens = self.model.generate(**inputs, max_new_tokens=max_new_tokens)
        return [text.strip() for text in self.processor.batch_decode(tokens, skip_special_tokens=True)]


def user_turn(prompt: str) -> list[dict[str, Any]]:
    """One chat with the image first, then the prompt (as SmolVLM's model card asks)."""
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]


@dataclass(frozen=True)
class SmolVLMCaptioner:
    """A loaded SmolVLM (Idefics3) model and processor on one device; prompts padded on the left."""

    model: PreTrainedModel
    processor: Idefics3Processor
    device: str

    @property
    def input_px(self) -> int:
        """The side of the one tile the model sees (image splitting is off)."""
        return int(self.processor.image_processor.max_image_size["longest_edge"])

    @torch.inference_mode()
    def caption(self, images: list[Image.Image], prompts: Sequence[str] | None = None, *,
                max_new_tokens: int) -> list[str]:
        """Answer each image's prompt; returns only the generated answers (the prompt stripped), in order.

        Args:
            images: PIL images of any size and mode.
            prompts: one filled prompt per image (:func:`product_prompts`).
            max_new_tokens: cap on generated tokens per caption.
        """
        if prompts is None or len(prompts) != len(images):
            raise ValueError(f"SmolVLM needs one prompt per image: got {len(images)} images and "
                             f"{'no' if prompts is None else len(prompts)} prompts (set caption.prompt)")
        if not images:
            return []
        texts = self.processor.apply_chat_template([user_turn(p) for p in prompts], add_generation_prompt=True)
        inputs = self.processor(text=texts, images=[[image] for image in images], padding=True,
                                return_tensors="pt").to(self.device, self.model.dtype)
        tokens = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        answers = tokens[:, inputs["input_ids"].shape[1] :]  # left padding: every prompt ends at the same column
        return [text.strip() for text in self.processor.batch_decode(answers, skip_special_tokens=True)]


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


def one_tile(processor: Idefics3Processor) -> Idefics3Processor:
    """``processor`` set to show the model one square tile per image, prompts padded on the left.

    SmolVLM's processor by default splits an image into up to 4x4 tiles of 64 tokens each plus a global view;
    a one-sentence caption of a catalogue photo reads as well from the global tile at 13x fewer image tokens.
    """
    image_processor = processor.image_processor
    image_processor.do_image_splitting = False
    image_processor.size = {"longest_edge": image_processor.max_image_size["longest_edge"]}
    processor.tokenizer.padding_side = "left"
    return processor


def load_smolvlm(name_or_path: str, *, device: str) -> SmolVLMCaptioner:
    """Load a SmolVLM captioner (any Idefics3-class chat model): fp16 on CUDA, fp32 on CPU, in eval mode.

    Args:
        name_or_path: hub name (needs the weights cached or reachable) or a local folder.
        device: torch device string, e.g. ``"cuda"`` or ``"cpu"``.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = one_tile(AutoProcessor.from_pretrained(name_or_path))
    model = AutoModelForImageTextToText.from_pretrained(name_or_path, dtype=inference_dtype(device))
    model.to(device).eval()
    log.info("loaded SmolVLM %s on %s (%s)", name_or_path, device, model.dtype)
    return SmolVLMCaptioner(model=model, processor=processor, device=device)


LOADERS: dict[Captioner, Callable[..., ImageCaptioner]] = {Captioner.blip2: load_blip2,
                                                           Captioner.smolvlm: load_smolvlm}


def load_captioner(kind: Captioner, name_or_path: str, *, device: str) -> ImageCaptioner:
    """The ``kind`` captioner loaded from ``name_or_path`` on ``device``."""
    if kind not in LOADERS:
        raise ValueError(f"captioner {kind.value!r} loads no model: choose one of {[k.value for k in LOADERS]}")
    return LOADERS[kind](name_or_path, device=device)


_EMPTY_ITEM = re.compile(r"\s*,\s*(?=[,.])|(?<=:)\s*,")
"""A list item left empty by a field: its comma goes (", ," and ", ." and ": ,")."""


def fill_prompt(template: str, fields: dict[str, str]) -> str:
    """``template`` filled; empty fields leave no stray commas or doubled spaces, an empty list says "none"."""
    try:
        text = template.format(**fields)
    except KeyError as err:
        raise ValueError(f"caption.prompt names {{{err.args[0]}}}, which products lack: use {sorted(fields)}") from None
    while _EMPTY_ITEM.search(text):
        text = _EMPTY_ITEM.sub("", text)
    return re.sub(r"\s+", " ", re.sub(r":(?=\s*\.)", ": none", text)).strip()


def product_prompts(template: str, products: Iterable[dict[str, Any]], vocab: VocabConfig) -> list[str]:
    """Each product row's prompt: ``template`` with its ``{title}``, ``{garment}``, ``{colours}`` and ``{fabrics}``
    (the attributes its own texts name, read with ``vocab``, as the dataset's texts read them); all "" for an
    empty template (a captioner without prompts)."""
    if not template:
        return ["" for _ in products]
    finder = AttributeFinder(vocab)
    prompts = []
    for product in products:
        tags = product.get("tags") or "[]"
        record = {**product, "tags": json.loads(tags) if isinstance(tags, str) else tags}
        prompts.append(fill_prompt(template, template_fields("", record, finder.find(record))))
    return prompts
