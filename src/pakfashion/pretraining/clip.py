"""The tiny CLIP, pretrained contrastively on the world's drawings and captions (every colour).

A ``CLIPModel`` at toy size (a ViT on 64 px images, 8 px patches; a small text transformer) learns with
the symmetric InfoNCE loss and a learnable temperature from :func:`pakfashion.pretraining.world.world_images`
pairs. Half of the captions are the world's own ("red embroidered lawn kurti"), half name the canonical
garment ("a red kurta"), so zero-shot prompts over ``vocab.garments`` names mean something. The text
tower's hidden states are also what the tiny Stable Diffusion UNet attends to (its cross-attention width
is :data:`TEXT_HIDDEN`). The held-out split scores the result: zero-shot garment and colour accuracy, and
how often an image's own caption beats a shuffled one.
"""

from __future__ import annotations

import logging
import math
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from pakfashion.demo.images import COLOURS
from pakfashion.models.tiny import CLIP_MAX_TOKENS, make_clip_tokenizer
from pakfashion.pretraining.world import SHAPE_GARMENTS, WorldImage, world_images

if TYPE_CHECKING:
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPTokenizer

log = logging.getLogger(__name__)

IMAGE_PX = 64
PATCH_PX = 16
VISION_HIDDEN = 96
VISION_LAYERS = 4
TEXT_HIDDEN = 64
"""Width of the text tower's hidden states: the tiny SD UNet's ``cross_attention_dim``."""
TEXT_LAYERS = 3
HEADS = 4
PROJECTION = 64
TRAIN_IMAGES = 6000
HELD_OUT_IMAGES = 600
BATCH = 64
GROUP = 8
STEPS = 2500
LR = 1e-3
WARMUP_STEPS = 60
WEIGHT_DECAY = 0.05
THREADS = 2
GARMENT_TEMPLATE = "a {garment}"
"""Zero-shot prompt for a canonical garment name (``vocab.garments`` key)."""
COLOUR_TEMPLATE = "a {colour} {garment}"
"""Zero-shot colour prompts, averaged over the world's garments (prompt ensembling)."""


@dataclass(frozen=True)
class Pairs:
    """Images as pixel tensors and their captions as token ids (padded to the longest caption)."""

    pixels: torch.Tensor
    input_ids: torch.Tensor
    attention_mask: torch.Tensor


def clip_config(tokenizer: CLIPTokenizer) -> CLIPConfig:
    """The tiny CLIP's architecture, its text ids matching ``tokenizer``."""
    from transformers import CLIPConfig

    text = {
        "vocab_size": len(tokenizer), "hidden_size": TEXT_HIDDEN, "intermediate_size": 4 * TEXT_HIDDEN,
        "num_attention_heads": HEADS, "num_hidden_layers": TEXT_LAYERS, "max_position_embeddings": CLIP_MAX_TOKENS,
        "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision = {
        "hidden_size": VISION_HIDDEN, "intermediate_size": 4 * VISION_HIDDEN, "num_attention_heads": HEADS,
        "num_hidden_layers": VISION_LAYERS, "image_size": IMAGE_PX, "patch_size": PATCH_PX,
    }
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=PROJECTION)


def clip_processor(tokenizer: CLIPTokenizer) -> CLIPProcessor:
    """A ``CLIPProcessor`` resizing to :data:`IMAGE_PX` with CLIP's normalisation, and ``tokenizer``."""
    from transformers import CLIPImageProcessor, CLIPProcessor

    images = CLIPImageProcessor(size={"shortest_edge": IMAGE_PX}, crop_size={"height": IMAGE_PX, "width": IMAGE_PX})
    return CLIPProcessor(image_processor=images, tokenizer=tokenizer)


def training_caption(item: WorldImage, rng: random.Random) -> str:
    """The world's caption (half the time), or one naming the canonical garment, with or without its colour."""
    if rng.random() < 0.5:
        return item.caption
    return rng.choice((f"{item.colour} {item.garment}", f"a {item.colour} {item.garment}", f"a {item.garment}"))


def encode_pairs(processor: CLIPProcessor, items: Sequence[WorldImage], captions: Sequence[str]) -> Pairs:
    """Pixel values and token ids of ``items`` with ``captions``, as the processor prepares them."""
    inputs = processor(text=list(captions), images=[item.image for item in items], return_tensors="pt",
                       padding=True, truncation=True)
    return Pairs(inputs["pixel_values"], inputs["input_ids"], inputs["attention_mask"])


def contrastive_loss(model: CLIPModel, batch: Pairs) -> torch.Tensor:
    """Symmetric InfoNCE over the batch: each image against every caption and back."""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                   pixel_values=batch.pixels).logits_per_image
    targets = torch.arange(len(logits))
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def colour_grouped_batch(groups: Sequence[torch.Tensor], generator: torch.Generator) -> torch.Tensor:
    """Indices of one batch: :data:`BATCH` // :data:`GROUP` colours, :data:`GROUP` images of each.

    Images sharing a colour are the hard negatives: only the garment tells their captions apart, so the
    garment is learnt alongside the colour (random batches teach colour long before shape).
    """
    chosen = torch.randperm(len(groups), generator=generator)[: BATCH // GROUP]
    picks = [groups[i][torch.randint(len(groups[i]), (GROUP,), generator=generator)] for i in chosen.tolist()]
    return torch.cat(picks)


def _learning_rate(step: int) -> float:
    """Linear warm-up, then cosine decay to zero over :data:`STEPS`."""
    if step < WARMUP_STEPS:
        return LR * (step + 1) / WARMUP_STEPS
    return LR * 0.5 * (1 + math.cos(math.pi * (step - WARMUP_STEPS) / (STEPS - WARMUP_STEPS)))


def train_clip(model: CLIPModel, pairs: Pairs, colours: Sequence[str], *, seed: int) -> list[float]:
    """:data:`STEPS` AdamW steps on colour-grouped batches of ``pairs`` (``colours``: each pair's colour);
    returns the loss of each step."""
    from tqdm.auto import tqdm

    generator = torch.Generator().manual_seed(seed)
    groups = [torch.tensor([i for i, c in enumerate(colours) if c == colour]) for colour in sorted(set(colours))]
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": rest, "weight_decay": 0.0}],
                                  lr=LR, betas=(0.9, 0.98))
    model.train()
    losses = []
    for step in tqdm(range(STEPS), desc="clip pretraining", mininterval=2.0, disable=None):
        index = colour_grouped_batch(groups, generator)
        batch = Pairs(pairs.pixels[index], pairs.input_ids[index], pairs.attention_mask[index])
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step)
        loss = contrastive_loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(loss.item())
    model.eval()
    return losses


@torch.inference_mode()
def text_embeddings(model: CLIPModel, processor: CLIPProcessor, texts: Sequence[str]) -> torch.Tensor:
    """L2-normalised text embeddings of ``texts``."""
    inputs = processor.tokenizer(list(texts), return_tensors="pt", padding=True, truncation=True)
    return F.normalize(model.get_text_features(**inputs).pooler_output, dim=-1)


@torch.inference_mode()
def image_embeddings(model: CLIPModel, pixels: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """L2-normalised image embeddings of preprocessed ``pixels``."""
    parts = [model.get_image_features(pixel_values=pixels[i : i + batch_size]).pooler_output
             for i in range(0, len(pixels), batch_size)]
    return F.normalize(torch.cat(parts), dim=-1)


def zero_shot(images: torch.Tensor, classes: torch.Tensor, names: Sequence[str]) -> list[str]:
    """The class name whose embedding is nearest each image embedding."""
    return [names[i] for i in (images @ classes.T).argmax(dim=-1).tolist()]


def colour_classes(model: CLIPModel, processor: CLIPProcessor, colours: Sequence[str]) -> torch.Tensor:
    """One embedding per colour: the mean of :data:`COLOUR_TEMPLATE` over the world's garments."""
    garments = sorted({garment for garment, _ in SHAPE_GARMENTS.values()})
    rows = [text_embeddings(model, processor, [COLOUR_TEMPLATE.format(colour=c, garment=g) for g in garments]).mean(0)
            for c in colours]
    return F.normalize(torch.stack(rows), dim=-1)


def own_caption_rate(images: torch.Tensor, captions: torch.Tensor, *, seed: int) -> float:
    """Share of images whose own caption scores higher than a caption drawn from another image."""
    order = list(range(len(images)))
    random.Random(seed).shuffle(order)
    shuffled = torch.tensor(order)
    own, other = (images * captions).sum(-1), (images * captions[shuffled]).sum(-1)
    differs = shuffled != torch.arange(len(images))
    return float((own[differs] > other[differs]).float().mean())


def held_out_metrics(model: CLIPModel, processor: CLIPProcessor, garments: Sequence[str], *, seed: int) -> dict[str, float]:
    """Zero-shot garment and colour accuracy and the own-vs-shuffled caption rate on the held-out split."""
    items = world_images(seed, HELD_OUT_IMAGES, split="held_out", px=IMAGE_PX)
    pairs = encode_pairs(processor, items, [item.caption for item in items])
    images = image_embeddings(model, pixels=pairs.pixels)
    garment_names = list(garments)
    garment_prompts = text_embeddings(model, processor, [GARMENT_TEMPLATE.format(garment=g) for g in garment_names])
    colour_names = list(COLOURS)
    predicted_garments = zero_shot(images, garment_prompts, garment_names)
    predicted_colours = zero_shot(images, colour_classes(model, processor, colour_names), colour_names)
    captions = text_embeddings(model, processor, [item.caption for item in items])
    return {
        "held_out_images": len(items),
        "zero_shot_garment_accuracy": _accuracy(predicted_garments, [item.garment for item in items]),
        "zero_shot_colour_accuracy": _accuracy(predicted_colours, [item.colour for item in items]),
        "own_caption_rate": own_caption_rate(images, captions, seed=seed),
    }


def _accuracy(predicted: Sequence[str], expected: Sequence[str]) -> float:
    return sum(p == e for p, e in zip(predicted, expected, strict=True)) / len(expected)


def pretrain_clip(out_dir: Path, *, seed: int, garments: Sequence[str]) -> dict[str, float]:
    """Train the tiny CLIP on the world (all colours) and save it with its processor to ``out_dir``.

    Args:
        out_dir: folder for ``CLIPModel.save_pretrained`` and ``CLIPProcessor.save_pretrained``.
        seed: seeds the weights, the training images and the batches (same seed, same model).
        garments: the zero-shot label set, the canonical garment names (``vocab.garments`` keys); the
            world's garments must be among them.

    Returns:
        Held-out metrics: ``zero_shot_garment_accuracy``, ``zero_shot_colour_accuracy``,
        ``own_caption_rate``, and the training ``steps``, ``seconds`` and ``final_loss``.
    """
    from transformers import CLIPModel

    missing = sorted({garment for garment, _ in SHAPE_GARMENTS.values()} - set(garments))
    if missing:
        raise ValueError(f"garments {missing} of pretraining.world.SHAPE_GARMENTS are not in the label set: "
                         "add them to conf/vocab/default.yaml garments")
    torch.set_num_threads(THREADS)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = make_clip_tokenizer(Path(tmp))
    processor = clip_processor(tokenizer)
    items = world_images(seed, TRAIN_IMAGES, split="train", px=IMAGE_PX)
    rng = random.Random(f"pakfashion-clip:{seed}")
    pairs = encode_pairs(processor, items, [training_caption(item, rng) for item in items])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(clip_config(tokenizer))
        losses = train_clip(model, pairs, [item.colour for item in items], seed=seed)
    metrics = {**held_out_metrics(model, processor, garments, seed=seed), "steps": STEPS,
               "seconds": time.monotonic() - started, "final_loss": statistics_tail(losses)}
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    log.info("tiny CLIP in %s: %s", out_dir, metrics)
    return metrics


def statistics_tail(losses: Sequence[float], *, last: int = 50) -> float:
    """Mean loss of the last ``last`` steps."""
    tail = losses[-last:]
    return sum(tail) / len(tail)
