"""The tiny BLIP-2 captioner, pretrained on the world to say what it sees: "a red embroidered kurta".

The class is the real ``Blip2ForConditionalGeneration`` (ViT on 64 px, Q-Former, OPT decoder), trained with
teacher-forced cross-entropy on captions naming the drawing's colour, pattern and garment, over every
colour and every shape of :data:`~pakfashion.pretraining.world.SHAPE_GARMENTS`. The caption stage loads
it with ``load_blip2`` and captions with a plain ``generate`` (no prompt), so training starts each caption
where generation does: the query tokens' ``<image>`` slots, then BOS.

Catalogue photos come in many frames (portrait 2:3, 3:4, square, landscape) and the processor stretches
each to a square, so a garment on a tall photo reaches the model squat: the training drawings are
stretched likewise (:func:`as_framed`).
"""

from __future__ import annotations

import logging
import math
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image
from tqdm import tqdm

from pakfashion.captioning.text import Attributes, AttributeFinder, CaptionScore
from pakfashion.config import VocabConfig
from pakfashion.demo.images import COLOURS
from pakfashion.models.tiny import make_opt_tokenizer
from pakfashion.pretraining.world import PATTERN_WORDS, SHAPE_GARMENTS, WorldImage, world_images

if TYPE_CHECKING:
    from transformers import Blip2Config, Blip2ForConditionalGeneration, Blip2Processor, GPT2Tokenizer

    from pakfashion.captioning.captioner import ImageCaptioner

log = logging.getLogger(__name__)

IMAGE_PX = 64
PATCH_PX = 16
QUERY_TOKENS = 8
WIDTH = 64
TRAIN_IMAGES = 6000
HELD_OUT_IMAGES = 400
STEPS = 5000
BATCH = 64
LR = 1e-3
WARMUP_STEPS = 60
MAX_NEW_TOKENS = 12
FRAME_ASPECTS = (0.7, 1.55)
"""Height / width of the photos drawn from (landscape 10:7 to tall portrait 2:3), log-uniform."""


def caption_for(item: WorldImage) -> str:
    """What the captioner learns to say: colour, pattern and the garment word, e.g. "a red embroidered kurta"."""
    word = SHAPE_GARMENTS[item.shape][1]  # type: ignore[index]
    return f"a {item.colour} {PATTERN_WORDS[item.pattern]} {word}"  # type: ignore[index]


def world_vocab() -> VocabConfig:
    """The world's own words: each canonical garment with its caption words, the drawn colours.

    Garments whose words contain another's ("shalwar kameez" vs "shalwar") come first, as in conf/vocab.
    """
    words: dict[str, set[str]] = {}
    for garment, word in SHAPE_GARMENTS.values():
        words.setdefault(garment, {garment}).add(word)
    ordered = sorted(words, key=lambda g: -max(len(w) for w in words[g]))
    return VocabConfig(garments={g: sorted(words[g]) for g in ordered}, colours=sorted(COLOURS), fabrics=[], pieces={},
                       stitching={}, palette={})


def as_framed(image: Image.Image, aspect: float) -> Image.Image:
    """The square drawing as the processor gives a ``aspect`` (height / width) photo of it: stretched to a
    square, the garment is squat on a tall frame and narrow on a wide one."""
    side = image.width
    size = (side, round(side / aspect)) if aspect >= 1 else (round(side * aspect), side)
    canvas = Image.new("RGB", (side, side), image.getpixel((0, 0)))
    canvas.paste(image.resize(size, Image.Resampling.BICUBIC), ((side - size[0]) // 2, (side - size[1]) // 2))
    return canvas


def framed_world(seed: int, count: int, *, split: str) -> list[WorldImage]:
    """``count`` world drawings of ``split`` in every colour, each in a random photo frame (seeded)."""
    rng = random.Random(f"pakfashion-blip2-frames:{seed}:{split}")
    low, high = map(math.log, FRAME_ASPECTS)
    return [WorldImage(as_framed(item.image, math.exp(rng.uniform(low, high))), caption_for(item), item.colour,
                       item.garment, item.shape, item.pattern)
            for item in world_images(seed, count, split=split, px=IMAGE_PX)]  # type: ignore[arg-type]


def blip2_config(tokenizer: GPT2Tokenizer) -> Blip2Config:
    """A small ``Blip2Config``: 2-layer ViT on 8 px patches, 1-layer Q-Former, 2-layer OPT, width 64, no dropout."""
    from transformers import Blip2Config, Blip2QFormerConfig, Blip2VisionConfig, OPTConfig

    small = {"hidden_size": WIDTH, "intermediate_size": 2 * WIDTH, "num_attention_heads": 4}
    vision = Blip2VisionConfig(**small, num_hidden_layers=2, image_size=IMAGE_PX, patch_size=PATCH_PX,
                               attention_dropout=0.0, initializer_range=0.02)
    qformer = Blip2QFormerConfig(**small, num_hidden_layers=1, vocab_size=64, encoder_hidden_size=WIDTH,
                                 hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    text = OPTConfig(
        vocab_size=len(tokenizer), hidden_size=WIDTH, word_embed_proj_dim=WIDTH, ffn_dim=2 * WIDTH,
        num_attention_heads=4, num_hidden_layers=2, max_position_embeddings=tokenizer.model_max_length,
        dropout=0.0, attention_dropout=0.0, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    return Blip2Config(vision_config=vision.to_dict(), qformer_config=qformer.to_dict(), text_config=text.to_dict(),
                       num_query_tokens=QUERY_TOKENS, image_token_index=tokenizer.convert_tokens_to_ids("<image>"))


def make_processor(folder: Path) -> Blip2Processor:
    """BLIP-2's processor at the model's size with the generated OPT tokenizer (``<image>`` added)."""
    from transformers import Blip2Processor, BlipImageProcessor

    image_processor = BlipImageProcessor(size={"height": IMAGE_PX, "width": IMAGE_PX})
    return Blip2Processor(image_processor, make_opt_tokenizer(folder), num_query_tokens=QUERY_TOKENS)


def caption_batch(captions: Sequence[str], tokenizer: GPT2Tokenizer, image_token: int) -> tuple[torch.Tensor, ...]:
    """input_ids (``<image>`` x queries, BOS, caption, EOS; right-padded), attention mask, and targets
    (-100 where nothing is predicted: the image slots, BOS and padding)."""
    texts = [tokenizer(c, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for c in captions]
    prefix = [image_token] * QUERY_TOKENS + [tokenizer.bos_token_id]
    length = len(prefix) + max(map(len, texts))
    ids = torch.full((len(texts), length), tokenizer.pad_token_id)
    targets = torch.full((len(texts), length), -100)
    mask = torch.zeros((len(texts), length), dtype=torch.long)
    for row, text in enumerate(texts):
        end = len(prefix) + len(text)
        ids[row, :end] = torch.tensor(prefix + text)
        targets[row, len(prefix) : end] = torch.tensor(text)
        mask[row, :end] = 1
    return ids, mask, targets


def caption_loss(model: Blip2ForConditionalGeneration, pixels: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
                 targets: torch.Tensor) -> torch.Tensor:
    """Teacher-forced next-token cross-entropy over the caption tokens."""
    logits = model(pixel_values=pixels, input_ids=ids, attention_mask=mask).logits
    return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), targets[:, 1:].flatten(), ignore_index=-100)


@dataclass(frozen=True)
class Schedule:
    """How long and how fast a captioner trains: AdamW steps of random batches, warm-up then cosine decay."""

    steps: int
    batch: int
    lr: float
    warmup_steps: int

    def lr_at(self, step: int) -> float:
        """Linear warm-up, then cosine decay to a tenth."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
        return self.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


SCHEDULE = Schedule(steps=STEPS, batch=BATCH, lr=LR, warmup_steps=WARMUP_STEPS)
LossFn = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""(model, pixels, input_ids, attention_mask, targets) to the teacher-forced loss of the batch."""


def train(model: torch.nn.Module, pixels: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
          targets: torch.Tensor, *, seed: int, schedule: Schedule = SCHEDULE, loss_fn: LossFn = caption_loss,
          desc: str = "blip2") -> float:
    """``schedule.steps`` AdamW steps on random batches (each image flipped left-right half the time); the
    last loss. ``pixels`` are (N, 3, H, W), the other tensors one row per image."""
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=schedule.lr, weight_decay=0.01)
    model.train()
    loss = torch.tensor(float("nan"))
    for step in (bar := tqdm(range(schedule.steps), desc=desc, unit="step", mininterval=2.0)):
        for group in optimiser.param_groups:
            group["lr"] = schedule.lr_at(step)
        batch = torch.randint(len(pixels), (schedule.batch,), generator=generator)
        flip = torch.rand(schedule.batch, generator=generator) < 0.5
        images = torch.where(flip[:, None, None, None], pixels[batch].flip(-1), pixels[batch])
        loss = loss_fn(model, images, ids[batch], mask[batch], targets[batch])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    model.eval()
    return float(loss.item())


def caption_in_batches(captioner: ImageCaptioner, images: Sequence[Image.Image], prompts: Sequence[str] | None = None,
                       *, batch: int = BATCH, max_new_tokens: int = MAX_NEW_TOKENS) -> list[str]:
    """Every image captioned (with its prompt, if any), ``batch`` at a time."""
    return [caption for start in range(0, len(images), batch)
            for caption in captioner.caption(list(images[start : start + batch]),
                                             None if prompts is None else prompts[start : start + batch],
                                             max_new_tokens=max_new_tokens)]


def score_captions(captions: Sequence[str], items: Sequence[WorldImage], vocab: VocabConfig) -> CaptionScore:
    """How many ``captions`` name their drawing's colour and canonical garment, read with ``vocab``."""
    finder, score = AttributeFinder(vocab), CaptionScore()
    for caption, item in zip(captions, items, strict=True):
        score = score.add(finder.find({"title": caption}), Attributes(item.garment, [item.colour], []))
    return score


def pretrain_blip2(out_dir: Path, *, seed: int) -> dict[str, float | int | None]:
    """Train the tiny captioner on the world and save it with its processor to ``out_dir``.

    Returns the held-out split's caption metrics (``caption_colour_accuracy``, ``caption_garment_accuracy``
    and their counts, read with :func:`world_vocab`), the final loss, the steps and the seconds taken.
    """
    from transformers import Blip2ForConditionalGeneration

    from pakfashion.captioning.captioner import load_blip2

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        processor = make_processor(Path(tmp))
    items = framed_world(seed, TRAIN_IMAGES, split="train")
    pixels = processor.image_processor([item.image for item in items], return_tensors="pt")["pixel_values"]
    ids, mask, targets = caption_batch([item.caption for item in items], processor.tokenizer,
                                       processor.tokenizer.convert_tokens_to_ids("<image>"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Blip2ForConditionalGeneration(blip2_config(processor.tokenizer))
        loss = train(model, pixels, ids, mask, targets, seed=seed)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    held_out = framed_world(seed, HELD_OUT_IMAGES, split="held_out")
    captioner = load_blip2(str(out_dir), device="cpu")
    captions = caption_in_batches(captioner, [item.image for item in held_out])
    metrics = {**score_captions(captions, held_out, world_vocab()).metrics(), "final_loss": round(loss, 4),
               "steps": STEPS, "seconds": round(time.monotonic() - started, 1)}
    log.info("tiny BLIP-2 in %s: %s (e.g. %r)", out_dir, metrics, captions[:3])
    return metrics
