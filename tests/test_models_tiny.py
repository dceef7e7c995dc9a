"""Tiny random-weight models: loadable with the real classes, deterministic, fashion-aware tokenizers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from pakfashion.captioning.captioner import load_blip2
from pakfashion.models.bpe import FASHION_WORDS, BpeStyle, build_bpe
from pakfashion.models.tiny import (
    BUILDERS,
    build_tiny,
    build_tiny_blip2,
    build_tiny_clip,
    build_tiny_sd,
    build_tiny_sdxl,
)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    for name in BUILDERS:
        build_tiny(name, out / name, seed=0)
    return out


def _file_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_sd_pipeline_loads_and_generates(tiny_dir: Path) -> None:
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny_dir / "sd")
    pipe.set_progress_bar_config(disable=True)
    out = pipe("red lawn kurta", num_inference_steps=1, generator=torch.Generator().manual_seed(0))
    assert out.images[0].size == (64, 64)
    assert pipe.vae_scale_factor == 2 and pipe.unet.config.sample_size == 32
    assert pipe.text_encoder.config.vocab_size == len(pipe.tokenizer)
    assert pipe.scheduler.config.prediction_type == "epsilon"


def test_sdxl_pipeline_loads_and_generates(tiny_dir: Path) -> None:
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(tiny_dir / "sdxl")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "StableDiffusionXLPipeline"
    assert pipe.unet.config.addition_embed_type == "text_time"
    out = pipe("red lawn kurta", num_inference_steps=1, generator=torch.Generator().manual_seed(0))
    assert out.images[0].size == (64, 64)


def test_clip_loads_and_embeds(tiny_dir: Path) -> None:
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(tiny_dir / "clip")
    processor = CLIPProcessor.from_pretrained(tiny_dir / "clip")
    images = [Image.new("RGB", (50, 70), colour) for colour in ("red", "blue")]
    inputs = processor(text=["red kurta", "blue shawl"], images=images, return_tensors="pt", padding=True)
    with torch.inference_mode():
        out = model(**inputs)
    assert out.logits_per_image.shape == (2, 2)


def test_blip2_captioner_returns_one_string_per_image(tiny_dir: Path) -> None:
    captioner = load_blip2(str(tiny_dir / "blip2"), device="cpu")
    images = [Image.new("RGB", (80, 60), "red"), Image.new("L", (32, 32), 128), Image.new("RGB", (64, 64), "blue")]
    captions = captioner.caption(images, max_new_tokens=8)
    assert len(captions) == 3
    assert all(isinstance(caption, str) for caption in captions)
    assert captioner.caption([], max_new_tokens=8) == []


@pytest.mark.parametrize("build", [build_tiny_sd, build_tiny_sdxl, build_tiny_blip2, build_tiny_clip])
def test_builds_are_deterministic(build, tmp_path: Path) -> None:
    build(tmp_path / "a", seed=7)
    build(tmp_path / "b", seed=7)
    build(tmp_path / "c", seed=8)
    first, second, other = (_file_bytes(tmp_path / name) for name in "abc")
    assert any(name.endswith(".safetensors") for name in first)
    assert first == second
    weights = [name for name in first if name.endswith(".safetensors")]
    assert all(first[name] != other[name] for name in weights)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("red lawn kurta", ["red</w>", "lawn</w>", "kurta</w>"]),
        ("Embroidered  SHALWAR kameez", ["embroidered</w>", "shalwar</w>", "kameez</w>"]),
        ("a navy waistcoat", ["a</w>", "navy</w>", "waistcoat</w>"]),
    ],
)
def test_clip_tokenizer_keeps_fashion_words_whole(tiny_dir: Path, text: str, tokens: list[str]) -> None:
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(tiny_dir / "sd" / "tokenizer")
    ids = tokenizer(text).input_ids
    assert tokenizer.convert_ids_to_tokens(ids) == ["<|startoftext|>", *tokens, "<|endoftext|>"]
    assert tokenizer.model_max_length == 77


def test_every_fashion_word_is_one_token(tiny_dir: Path) -> None:
    from transformers import CLIPTokenizer, GPT2Tokenizer

    clip = CLIPTokenizer.from_pretrained(tiny_dir / "clip")
    opt = GPT2Tokenizer.from_pretrained(tiny_dir / "blip2")
    for word in FASHION_WORDS:
        assert len(clip(word, add_special_tokens=False).input_ids) == 1, word
        assert len(opt(" " + word, add_special_tokens=False).input_ids) == 1, word
        assert len(opt(word, add_special_tokens=False).input_ids) == 1, word
    assert opt.decode(opt("red lawn kurta").input_ids, skip_special_tokens=True) == "red lawn kurta"


def test_bpe_vocab_covers_bytes_and_specials() -> None:
    clip = build_bpe(style=BpeStyle.clip)
    opt = build_bpe(style=BpeStyle.gpt2)
    assert sorted(clip.vocab.values()) == list(range(len(clip.vocab)))
    assert {"<|startoftext|>", "<|endoftext|>", "kurta</w>", "a</w>", "Ā</w>"} <= clip.vocab.keys()
    assert [opt.vocab[token] for token in ("<s>", "<pad>", "</s>", "<unk>")] == [0, 1, 2, 3]
    assert {"Ġkurta", "kurta", "Ġ"} <= opt.vocab.keys()
