"""Training data: the imagefolder split encoded once into VAE latents and text embeddings, then reused.

The cache lives at ``<state>/cache/latents/<key>.pt``; the key hashes the split's ``metadata.jsonl``
(its file names are content hashes, so it names the images too), the model's path, the identity of its
VAE/text-encoder files, the resolution and whether flipped copies are stored. Experiments that change
only training settings (LR, rank, steps, ...) reuse it; each step then runs the UNet alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from pakfashion.files import file_sha256, read_jsonl
from pakfashion.training.models import Encoders, load_encoders, model_files

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
ENCODER_FOLDERS = ("vae", "text_encoder", "tokenizer")


@dataclass(frozen=True)
class Example:
    image_path: Path
    text: str


@dataclass(frozen=True)
class LatentCache:
    """Encoded training split.

    Attributes:
        latent_params: ``[examples, variants, 2 * latent_channels, h, w]`` VAE posterior mean and
            log-variance; variant 1 (when present) is the horizontally flipped image.
        caption_index: ``[examples]`` row of each example's caption in ``text_states``.
        text_states: ``[captions, tokens, hidden]`` text-encoder output per distinct caption.
        scaling_factor: the VAE's latent scale (multiplies a sampled latent).
    """

    latent_params: torch.Tensor
    caption_index: torch.Tensor
    text_states: torch.Tensor
    scaling_factor: float

    @property
    def examples(self) -> int:
        return self.latent_params.shape[0]

    @property
    def variants(self) -> int:
        return self.latent_params.shape[1]


def read_examples(split_dir: Path) -> list[Example]:
    """Read an imagefolder split's ``metadata.jsonl`` (``file_name`` and ``text`` columns)."""
    metadata = split_dir / "metadata.jsonl"
    if not metadata.is_file():
        raise FileNotFoundError(f"{metadata} not found: run the caption stage or set paths.dataset")
    examples = []
    for line, row in enumerate(read_jsonl(metadata), start=1):
        if "file_name" not in row or "text" not in row:
            raise ValueError(f"{metadata}:{line} lacks file_name/text; has {sorted(row)}")
        examples.append(Example(image_path=split_dir / row["file_name"], text=str(row["text"])))
    if not examples:
        raise ValueError(f"{metadata} has no rows: the dataset is empty")
    return examples


def preprocess_image(image: Image.Image, *, resolution_px: int, flip: bool) -> torch.Tensor:
    """Resize the shorter side to ``resolution_px``, center-crop, maybe flip; CHW float in [-1, 1]."""
    image = image.convert("RGB")
    scale = resolution_px / min(image.size)
    size = (max(resolution_px, round(image.width * scale)), max(resolution_px, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.BILINEAR)
    left, top = round((size[0] - resolution_px) / 2), round((size[1] - resolution_px) / 2)
    image = image.crop((left, top, left + resolution_px, top + resolution_px))
    if flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)
    return pixels.float() / 127.5 - 1.0


def tokenize(tokenizer: CLIPTokenizer, texts: list[str]) -> torch.Tensor:
    """Token ids padded/truncated to the tokenizer's length (77 for SD's CLIP)."""
    return tokenizer(
        texts, max_length=tokenizer.model_max_length, padding="max_length", truncation=True, return_tensors="pt"
    ).input_ids


def cache_key(split_dir: Path, *, pretrained: str, resolution_px: int, flips: bool) -> str:
    """sha256 naming one encoding of one dataset version by one model's encoders."""
    material = {
        "format": CACHE_FORMAT,
        "metadata_sha256": file_sha256(split_dir / "metadata.jsonl"),
        "pretrained": pretrained,
        "encoder_files": model_files(pretrained, ENCODER_FOLDERS),
        "resolution_px": resolution_px,
        "flips": flips,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@torch.no_grad()
def encode_images(
    encoders: Encoders, examples: list[Example], *, resolution_px: int, flips: bool, batch_size: int, device: str
) -> torch.Tensor:
    """VAE posterior parameters ``[examples, variants, 2C, h, w]`` (fp16, on the CPU)."""
    vae = encoders.vae.to(device)
    variants = (False, True) if flips else (False,)
    out = []
    for batch in _chunks(examples, batch_size):
        pixels = []
        for example in batch:
            with Image.open(example.image_path) as image:
                pixels.append([preprocess_image(image, resolution_px=resolution_px, flip=flip) for flip in variants])
        stacked = torch.stack([torch.stack(per_image) for per_image in pixels])  # [B, V, 3, H, W]
        flat = stacked.flatten(0, 1).to(device, dtype=vae.dtype)
        params = vae.encode(flat).latent_dist.parameters
        out.append(params.unflatten(0, (len(batch), len(variants))).to("cpu", torch.float16))
    return torch.cat(out)


@torch.no_grad()
def encode_captions(encoders: Encoders, captions: list[str], *, batch_size: int, device: str) -> torch.Tensor:
    """Text-encoder hidden states ``[captions, tokens, hidden]`` (fp16, on the CPU)."""
    text_encoder = encoders.text_encoder.to(device)
    out = []
    for batch in _chunks(captions, batch_size):
        ids = tokenize(encoders.tokenizer, batch).to(device)
        out.append(text_encoder(ids, return_dict=False)[0].to("cpu", torch.float16))
    return torch.cat(out)


def encode_split(
    encoders: Encoders, examples: list[Example], *, resolution_px: int, flips: bool, batch_size: int, device: str
) -> LatentCache:
    """Encode every image (and its flip) and every distinct caption once."""
    captions = sorted({example.text for example in examples})
    row = {caption: index for index, caption in enumerate(captions)}
    return LatentCache(
        latent_params=encode_images(
            encoders, examples, resolution_px=resolution_px, flips=flips, batch_size=batch_size, device=device
        ),
        caption_index=torch.tensor([row[example.text] for example in examples]),
        text_states=encode_captions(encoders, captions, batch_size=batch_size, device=device),
        scaling_factor=float(encoders.vae.config.scaling_factor),
    )


def save_cache(cache: LatentCache, path: Path) -> None:
    """Write the cache atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
        torch.save(vars(cache), handle)
    os.replace(handle.name, path)


def load_cache(path: Path) -> LatentCache:
    """Memory-map a cache written by :func:`save_cache`."""
    return LatentCache(**torch.load(path, mmap=True, weights_only=True))


def latent_cache(
    split_dir: Path,
    cache_dir: Path,
    *,
    pretrained: str,
    resolution_px: int,
    flips: bool,
    weight_dtype: torch.dtype,
    batch_size: int,
    device: str,
) -> LatentCache:
    """The split's cached latents and text embeddings; encodes them (and saves) only on a cache miss."""
    path = cache_dir / f"{cache_key(split_dir, pretrained=pretrained, resolution_px=resolution_px, flips=flips)}.pt"
    if path.is_file():
        log.info("using cached latents %s", path)
        return load_cache(path)
    examples = read_examples(split_dir)
    log.info("encoding %d images%s and their captions once into %s", len(examples), " (+ flips)" * flips, path)
    encoders = load_encoders(pretrained, weight_dtype=weight_dtype)
    cache = encode_split(
        encoders, examples, resolution_px=resolution_px, flips=flips, batch_size=batch_size, device=device
    )
    save_cache(cache, path)
    return cache


class CachedLatents(torch.utils.data.Dataset):
    """Item ``example * variants + variant``: one sampled-later latent distribution and its caption states."""

    def __init__(self, cache: LatentCache):
        self.cache = cache

    def __len__(self) -> int:
        return self.cache.examples * self.cache.variants

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        example, variant = divmod(index, self.cache.variants)
        caption = self.cache.caption_index[example]
        return {
            "latent_params": self.cache.latent_params[example, variant],
            "text_states": self.cache.text_states[caption],
        }


class EpochShuffle(torch.utils.data.Sampler[int]):
    """Each example once per epoch, in an order and with variants (flips) drawn from ``(seed, epoch)``.

    Independent of the global RNG, so a resumed run can replay an epoch's order and skip what it had done.
    """

    def __init__(self, cache: LatentCache, *, seed: int):
        self.examples = cache.examples
        self.variants = cache.variants
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration yields (accelerate calls this too)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.examples

    def __iter__(self) -> Iterator[int]:
        seed = int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0])
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(self.examples, generator=generator)
        variant = torch.randint(self.variants, (self.examples,), generator=generator)
        return iter((order * self.variants + variant).tolist())
