"""The tiny SmolVLM captioner, pretrained on the world to answer its prompt with what the drawing shows.

The class is SmolVLM-Instruct's own, ``Idefics3ForConditionalGeneration`` (a SigLIP-style ViT on 64 px, pixel
shuffle into a few image tokens, a Llama decoder), with a generated tokenizer and SmolVLM's chat template. Each
drawing comes with a product listing as a shop writes it (title, and a description for colourways), turned into
the caption stage's prompt: caption=tiny_smolvlm's template filled by
:func:`~pakfashion.captioning.captioner.product_prompts` with conf/vocab. The model learns, teacher-forced, to
answer with the drawing's colour, pattern and garment ("a red embroidered kurta", as the BLIP-2 tiny says it).

The listing is often wrong about the drawing, as a colourway product's is: its title names another colour than
the photo shows, or several, or none; now and then another garment or another finish. Copying the title is then
wrong, so the model must read the colour from the image. Held out: the same mix of listings on new drawings, and
every drawing again with a misleading listing that names only other colours (``misleading_*``).
"""

from __future__ import annotations

import logging
import random
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from pakfashion.captioning.captioner import product_prompts, user_turn
from pakfashion.config import VocabConfig
from pakfashion.demo.images import COLOURS
from pakfashion.models.tiny import SMOLVLM_CHAT_TEMPLATE, make_smolvlm_tokenizer
from pakfashion.pretraining.blip2 import (
    Schedule,
    caption_in_batches,
    framed_world,
    score_captions,
    train,
    world_vocab,
)
from pakfashion.pretraining.world import FABRICS, PATTERN_WORDS, SHAPE_GARMENTS, WorldImage

if TYPE_CHECKING:
    from transformers import GPT2Tokenizer, Idefics3Config, Idefics3Processor

log = logging.getLogger(__name__)

IMAGE_PX = 64
PATCH_PX = 8
SCALE_FACTOR = 2
IMAGE_TOKENS = (IMAGE_PX // PATCH_PX) ** 2 // SCALE_FACTOR**2
"""Image tokens the decoder sees per image: 8x8 patches, pixel-shuffled 2x2 into one token each."""
WIDTH = 64
TRAIN_IMAGES = 6000
HELD_OUT_IMAGES = 400
SCHEDULE = Schedule(steps=2500, batch=32, lr=2e-3, warmup_steps=60)
MAX_NEW_TOKENS = 12
ADJECTIVES: dict[str, tuple[str, ...]] = {
    "plain": ("Plain", "Dyed"), "embroidered": ("Embroidered", "Chikankari", "Jacquard"),
    "printed": ("Printed", "Block Printed", "Digital Printed"),
}
"""Title adjectives by the caption's pattern word (the demo store's ADJECTIVES)."""
TITLE_COLOURS: dict[str, float] = {"drawn": 0.45, "other": 0.2, "colourway": 0.2, "none": 0.15}
"""How often a listing's title names the drawn colour, another one (a colourway's other variant), several
colours (a colourway: "Plain Lawn Kurta ... in 3 colours: red, navy, mustard"), or none."""
TITLE_GARMENT = (0.8, 0.1)
"""How often the title names the drawn garment, another one; else none."""
TITLE_FINISH = 0.75
"""How often the title's adjective says the drawing's own finish (plain, embroidered, printed)."""


def listing(item: WorldImage, rng: random.Random, *, colours: str = "") -> dict[str, str]:
    """A product listing (title, description) a shop might give ``item``'s drawing, often wrong about it.

    Args:
        colours: one of :data:`TITLE_COLOURS` to force; "" draws it by those odds.
    """
    word = SHAPE_GARMENTS[item.shape][1]  # type: ignore[index]
    drawn_style = PATTERN_WORDS[item.pattern]  # type: ignore[index]
    style = drawn_style if rng.random() < TITLE_FINISH else rng.choice(sorted(ADJECTIVES))
    adjective = rng.choice(ADJECTIVES[style])
    draw = rng.random()
    if draw >= TITLE_GARMENT[0]:
        others = sorted({w for _, w in SHAPE_GARMENTS.values()} - {word})
        word = rng.choice(others) if draw < sum(TITLE_GARMENT) else ""
    fabric = rng.choice(FABRICS)
    noun = f"{fabric} {word}".strip().title()
    other_colours = sorted(set(COLOURS) - {item.colour})
    kind = colours or rng.choices(list(TITLE_COLOURS), weights=list(TITLE_COLOURS.values()))[0]
    if kind == "colourway":
        named = [item.colour, *rng.sample(other_colours, rng.randint(1, 2))]
        rng.shuffle(named)
        return {"title": f"{adjective} {noun}",
                "description": f"A {fabric} {word or 'piece'} in {len(named)} colours: {', '.join(named)}."}
    colour = {"drawn": item.colour, "other": rng.choice(other_colours), "none": ""}[kind]
    return {"title": f"{colour.title()} {adjective} {noun}".strip(), "description": ""}


def world_listings(items: Sequence[WorldImage], seed: int, *, split: str, colours: str = "") -> list[dict[str, str]]:
    """One listing per drawing, from the ``split``'s own random stream."""
    rng = random.Random(f"pakfashion-smolvlm-listings:{seed}:{split}:{colours}")
    return [listing(item, rng, colours=colours) for item in items]


def make_processor(folder: Path, words: Sequence[str]) -> Idefics3Processor:
    """SmolVLM's processor at the model's size (one 64-px tile, no splitting), its chat template and a generated
    tokenizer keeping ``words`` whole."""
    from transformers import Idefics3ImageProcessorPil, Idefics3Processor

    image_processor = Idefics3ImageProcessorPil(do_image_splitting=False, size={"longest_edge": IMAGE_PX},
                                                max_image_size={"longest_edge": IMAGE_PX})
    tokenizer = make_smolvlm_tokenizer(folder, tuple(words))
    return Idefics3Processor(image_processor, tokenizer, image_seq_len=IMAGE_TOKENS, chat_template=SMOLVLM_CHAT_TEMPLATE)


def smolvlm_config(tokenizer: GPT2Tokenizer) -> Idefics3Config:
    """A small ``Idefics3Config``: 2-layer ViT on 8 px patches, pixel shuffle by 2, 2-layer Llama, width 64."""
    from transformers import Idefics3Config, LlamaConfig
    from transformers.models.idefics3.configuration_idefics3 import Idefics3VisionConfig

    vision = Idefics3VisionConfig(hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=2,
                                  num_attention_heads=4, image_size=IMAGE_PX, patch_size=PATCH_PX)
    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=WIDTH, intermediate_size=2 * WIDTH, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=tokenizer.model_max_length,
        rms_norm_eps=1e-5, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    return Idefics3Config(vision_config=vision.to_dict(), text_config=text.to_dict(), scale_factor=SCALE_FACTOR,
                          image_token_id=tokenizer.convert_tokens_to_ids("<image>"), pad_token_id=tokenizer.pad_token_id)


def answer_batch(prompt_ids: Sequence[Sequence[int]], answers: Sequence[str],
                 tokenizer: GPT2Tokenizer) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """input_ids (each chat prompt, then " " + its answer and EOS; right-padded), attention mask, and targets
    (-100 where nothing is predicted: the prompt and padding)."""
    texts = [tokenizer(" " + a, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for a in answers]
    length = max(len(p) + len(t) for p, t in zip(prompt_ids, texts, strict=True))
    ids = torch.full((len(texts), length), tokenizer.pad_token_id)
    targets = torch.full((len(texts), length), -100)
    mask = torch.zeros((len(texts), length), dtype=torch.long)
    for row, (prompt, text) in enumerate(zip(prompt_ids, texts, strict=True)):
        end = len(prompt) + len(text)
        ids[row, :end] = torch.tensor([*prompt, *text])
        targets[row, len(prompt) : end] = torch.tensor(text)
        mask[row, :end] = 1
    return ids, mask, targets


def answer_loss(model: torch.nn.Module, pixels: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
    """Teacher-forced next-token cross-entropy over the answer tokens (one image per prompt); the LM head runs
    only where an answer token is predicted (most of each row is prompt)."""
    hidden = model.model(input_ids=ids, attention_mask=mask, pixel_values=pixels[:, None]).last_hidden_state
    rows, columns = (targets[:, 1:] != -100).nonzero(as_tuple=True)
    logits = model.lm_head(hidden[rows, columns])
    return torch.nn.functional.cross_entropy(logits, targets[:, 1:][rows, columns])


def training_tensors(processor: Idefics3Processor, items: Sequence[WorldImage],
                     prompts: Sequence[str]) -> tuple[torch.Tensor, ...]:
    """Pixels (N, 3, H, W), input_ids, attention mask and targets of ``items`` asked ``prompts``."""
    chats = processor.apply_chat_template([user_turn(p) for p in prompts], add_generation_prompt=True)
    inputs = processor(text=chats, images=[[item.image] for item in items], padding=True, return_tensors="pt")
    lengths = inputs["attention_mask"].sum(1).tolist()
    prompt_ids = [row[:n].tolist() for row, n in zip(inputs["input_ids"], lengths, strict=True)]
    ids, mask, targets = answer_batch(prompt_ids, [item.caption for item in items], processor.tokenizer)
    return inputs["pixel_values"][:, 0], ids, mask, targets


def listing_words(prompts: Sequence[str], items: Sequence[WorldImage]) -> list[str]:
    """Every word of the prompts and answers (the tiny tokenizer keeps them whole)."""
    return sorted({w.lower() for w in re.findall(r"[A-Za-z]+", " ".join([*prompts, *(i.caption for i in items)]))})


def pretrain_smolvlm(out_dir: Path, *, seed: int, prompt: str, vocab: VocabConfig) -> dict[str, float | int | None]:
    """Train the tiny SmolVLM on the world, prompted with ``prompt`` (read with ``vocab``); save it with its
    processor to ``out_dir``.

    Returns the held-out caption metrics (``caption_colour_accuracy``, ``caption_garment_accuracy`` and counts,
    read with :func:`~pakfashion.pretraining.blip2.world_vocab`), the same under misleading listings
    (``misleading_colour_accuracy``, ``misleading_garment_accuracy``), the final loss, steps and seconds.
    """
    from transformers import GenerationConfig, Idefics3ForConditionalGeneration

    from pakfashion.captioning.captioner import load_smolvlm

    started = time.monotonic()
    items = framed_world(seed, TRAIN_IMAGES, split="train")
    prompts = product_prompts(prompt, world_listings(items, seed, split="train"), vocab)
    with tempfile.TemporaryDirectory() as tmp:
        processor = make_processor(Path(tmp), listing_words(prompts, items))
    pixels, ids, mask, targets = training_tensors(processor, items, prompts)
    log.info("tiny SmolVLM: %d prompts of up to %d tokens, vocabulary %d, e.g. %r", len(prompts), ids.shape[1],
             len(processor.tokenizer), prompts[0])
    tokenizer = processor.tokenizer
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Idefics3ForConditionalGeneration(smolvlm_config(tokenizer))
        loss = train(model, pixels, ids, mask, targets, seed=seed, schedule=SCHEDULE, loss_fn=answer_loss,
                     desc="smolvlm")
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    captioner = load_smolvlm(str(out_dir), device="cpu")
    held_out = framed_world(seed, HELD_OUT_IMAGES, split="held_out")
    images, world = [item.image for item in held_out], world_vocab()
    metrics: dict[str, float | int | None] = {}
    for name, colours in (("caption", ""), ("misleading", "other")):
        asked = product_prompts(prompt, world_listings(held_out, seed, split="held_out", colours=colours), vocab)
        captions = caption_in_batches(captioner, images, asked, batch=SCHEDULE.batch, max_new_tokens=MAX_NEW_TOKENS)
        scored = score_captions(captions, held_out, world).metrics()
        metrics |= {key.replace("caption", name, 1): value for key, value in scored.items()}
        log.info("tiny SmolVLM, %s listings: %s (e.g. %r for %r)", name, scored, captions[0], asked[0])
    metrics |= {"final_loss": round(loss, 4), "steps": SCHEDULE.steps, "seconds": round(time.monotonic() - started, 1)}
    log.info("tiny SmolVLM in %s: %s", out_dir, metrics)
    return metrics
