"""Training data: the dataset's train split (either layout) encoded once into VAE latents and, apart, its
training captions into text embeddings, then reused.

Two caches under ``<state>/cache/``: ``latents/<key>.pt`` (the images) and ``text/<key>.pt`` (the captions).
The latent key hashes the split's metadata (:meth:`DatasetSplit.fingerprint`; its file names are content
hashes, so it names the images too), the model's path, the identity of its VAE files, the resolution, the
aspect buckets and whether flipped copies are stored. The text key hashes the split's metadata, the model's
path, its text encoders' and tokenizers' files, and what decides the captions (``train.captions`` and, for
composed captions, the seed; :mod:`pakfashion.training.captions`): a new caption dropout re-encodes the
captions only, never the images. Experiments that change only training settings (LR, rank, steps, ...) reuse
both; each step then runs the UNet alone.

Aspect-ratio bucketing: rather than one square center crop, each image goes to the bucket (width x height
of about ``resolution**2`` pixels, sides multiples of the model's latent stride) nearest its aspect ratio,
is scaled to cover it and center-cropped; a batch holds one bucket's images. Product photos are mostly
portrait, so this keeps the head and hem a square crop cuts off. Each example also keeps SDXL's
``time_ids`` (original size, crop top-left, target size).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
from PIL import Image

from pakfashion.captioning.text import cap_length
from pakfashion.common.dataset_files import DatasetSplit
from pakfashion.config import CaptionsConfig
from pakfashion.training.captions import example_captions, settings_key
from pakfashion.training.models import TextEncoders, load_text_encoders, load_vae, model_files

if TYPE_CHECKING:
    from diffusers import AutoencoderKL
    from transformers import CLIPTokenizer

log = logging.getLogger(__name__)

LATENT_FORMAT = 4
TEXT_FORMAT = 1
IMAGE_ENCODER_FOLDERS = ("vae",)
TEXT_ENCODER_FOLDERS = ("text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2")


@dataclass(frozen=True)
class Crop:
    """How one image became a bucket-sized training image (SDXL's size and crop conditioning)."""

    original: tuple[int, int]  # (height, width) of the image file
    top_left: tuple[int, int]  # (top, left) of the crop in the resized image
    target: tuple[int, int]  # (height, width) of the bucket
    resized_width: int  # width of the image after scaling, before cropping

    def time_ids(self) -> list[int]:
        """SDXL's ``add_time_ids``: original size, crop top-left, target size."""
        return [*self.original, *self.top_left, *self.target]

    def mirrored(self) -> Crop:
        """The crop of the horizontally flipped image: its left edge counts from the other side (as in
        diffusers' SDXL training script)."""
        left = self.resized_width - self.top_left[1] - self.target[1]
        return replace(self, top_left=(self.top_left[0], left))


@dataclass(frozen=True)
class LatentCache:
    """Encoded images of the training split.

    Attributes:
        buckets: per bucket, ``[examples_in_bucket, variants, 2 * latent_channels, h, w]`` VAE posterior
            mean and log-variance; variant 1 (when present) is the horizontally flipped image.
        example_bucket: ``[examples]`` bucket of each example; ``example_row`` its row in that bucket.
        time_ids: ``[examples, variants, 6]`` SDXL's size/crop conditioning of each variant.
        bucket_sizes: ``[buckets, 2]`` (width, height) in pixels of each bucket.
        scaling_factor: the VAE's latent scale (multiplies a sampled latent).
    """

    buckets: list[torch.Tensor]
    bucket_sizes: torch.Tensor
    example_bucket: torch.Tensor
    example_row: torch.Tensor
    time_ids: torch.Tensor
    scaling_factor: float

    @property
    def examples(self) -> int:
        return self.example_bucket.shape[0]

    @property
    def variants(self) -> int:
        return self.time_ids.shape[1]


@dataclass(frozen=True)
class TextCache:
    """Encoded training captions of the split: every distinct caption (and the empty one) once.

    Attributes:
        captions: the distinct captions, sorted (the empty one first).
        example_captions: ``[examples, variants]`` row in ``captions`` of each example's caption variants.
        empty_caption: the row of the empty caption (what ``train.caption_dropout`` conditions on).
        text_states: ``[captions, tokens, hidden]`` text-encoder output per caption (SDXL: both encoders'
            penultimate layers, concatenated).
        pooled_text: ``[captions, dim]`` SDXL's pooled text embedding; None for SD 1.x/2.x.
    """

    captions: list[str]
    example_captions: torch.Tensor
    empty_caption: int
    text_states: torch.Tensor
    pooled_text: torch.Tensor | None

    @property
    def examples(self) -> int:
        return self.example_captions.shape[0]

    @property
    def variants(self) -> int:
        return self.example_captions.shape[1]


CacheT = TypeVar("CacheT", LatentCache, TextCache)


@dataclass(frozen=True)
class TrainingData:
    """The split's encoded images and captions, example for example."""

    latents: LatentCache
    texts: TextCache

    def __post_init__(self) -> None:
        if self.latents.examples != self.texts.examples:
            raise ValueError(f"the latent cache has {self.latents.examples} examples, the text cache "
                             f"{self.texts.examples}: they were made from different dataset versions")

    @property
    def examples(self) -> int:
        return self.latents.examples

    def item(self, example: int, image_variant: int, text_variant: int) -> int:
        """The dataset index of one example's image variant (flip) with one of its caption variants."""
        return (example * self.latents.variants + image_variant) * self.texts.variants + text_variant

    def parts(self, item: int) -> tuple[int, int, int]:
        """(example, image variant, caption variant) of a dataset index (the inverse of :meth:`item`)."""
        rest, text_variant = divmod(item, self.texts.variants)
        example, image_variant = divmod(rest, self.latents.variants)
        return example, image_variant, text_variant


def read_rows(split: DatasetSplit) -> list[dict[str, Any]]:
    """The split's metadata rows, in storage order, each with a ``file_name`` and a ``text``."""
    rows = split.rows()
    for line, row in enumerate(rows, start=1):
        if "file_name" not in row or "text" not in row:
            raise ValueError(f"{split.directory} ({split.split}) row {line} lacks file_name/text; has {sorted(row)}")
    if not rows:
        raise ValueError(f"{split.directory} has no {split.split} rows: the dataset is empty")
    return rows


def aspect_buckets(resolution_px: int, *, stride_px: int, max_aspect: float) -> list[tuple[int, int]]:
    """(width, height) buckets of at most ``resolution_px**2`` pixels, sides multiples of ``stride_px``,
    aspect ratios within ``[1 / max_aspect, max_aspect]``; always includes the square.

    For each width, the tallest height that fits the area (NovelAI's scheme), and the transposes.
    """
    if max_aspect < 1:
        raise ValueError(f"train.max_aspect={max_aspect}: use a ratio >= 1 (2.0 allows 1:2 to 2:1)")
    side = resolution_px // stride_px * stride_px
    area = resolution_px * resolution_px
    found = {(side, side)}
    width = stride_px
    while width <= area // stride_px:
        height = area // width // stride_px * stride_px
        if height >= stride_px and max(width, height) / min(width, height) <= max_aspect:
            found |= {(width, height), (height, width)}
        width += stride_px
    return sorted(found)


def nearest_bucket(size: tuple[int, int], buckets: list[tuple[int, int]]) -> tuple[int, int]:
    """The bucket whose aspect ratio is nearest (in log ratio) to ``size`` = (width, height)."""
    ratio = math.log(size[0] / size[1])
    return min(buckets, key=lambda bucket: (abs(math.log(bucket[0] / bucket[1]) - ratio), -bucket[0] * bucket[1]))


def fit_to_bucket(image: Image.Image, bucket: tuple[int, int]) -> tuple[Image.Image, Crop]:
    """Scale ``image`` to cover ``bucket`` = (width, height) and center-crop it to exactly that size."""
    width, height = bucket
    scale = max(width / image.width, height / image.height)
    size = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    resized = image.convert("RGB").resize(size, Image.Resampling.BILINEAR)
    left, top = round((size[0] - width) / 2), round((size[1] - height) / 2)
    crop = Crop(original=(image.height, image.width), top_left=(top, left), target=(height, width), resized_width=size[0])
    return resized.crop((left, top, left + width, top + height)), crop


def to_tensor(image: Image.Image) -> torch.Tensor:
    """CHW float in [-1, 1]."""
    pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)
    return pixels.float() / 127.5 - 1.0


def preprocess_image(image: Image.Image, *, resolution_px: int, flip: bool) -> torch.Tensor:
    """Resize the shorter side to ``resolution_px``, center-crop a square, maybe flip; CHW float in [-1, 1]."""
    square, _ = fit_to_bucket(image, (resolution_px, resolution_px))
    return to_tensor(square.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else square)


def tokenize(tokenizer: CLIPTokenizer, texts: list[str]) -> torch.Tensor:
    """Token ids padded/truncated to the tokenizer's length (77 for SD's CLIP)."""
    return tokenizer(
        texts, max_length=tokenizer.model_max_length, padding="max_length", truncation=True, return_tensors="pt"
    ).input_ids


def _key(material: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def cache_key(split: DatasetSplit, *, pretrained: str, buckets: list[tuple[int, int]], flips: bool) -> str:
    """sha256 naming one encoding of one dataset version's images by one model's VAE."""
    return _key({
        "format": LATENT_FORMAT, "metadata_sha256": split.fingerprint(), "pretrained": pretrained,
        "encoder_files": model_files(pretrained, IMAGE_ENCODER_FOLDERS), "buckets": buckets, "flips": flips,
    })  # fmt: skip


def text_cache_key(split: DatasetSplit, *, pretrained: str, captions: CaptionsConfig, seed: int) -> str:
    """sha256 naming one encoding of one dataset version's training captions by one model's text encoders."""
    return _key({
        "format": TEXT_FORMAT, "metadata_sha256": split.fingerprint(), "pretrained": pretrained,
        "encoder_files": model_files(pretrained, TEXT_ENCODER_FOLDERS),
        "captions": settings_key(captions, seed=seed),
    })  # fmt: skip


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class _Prepared:
    """One example's bucket-sized pixels per variant and their crops."""

    pixels: torch.Tensor  # [variants, 3, H, W]
    crops: list[Crop]


def prepare_image(image: Image.Image, bucket: tuple[int, int], *, flips: bool) -> _Prepared:
    """Fit one image to ``bucket``, and add its mirror image when ``flips``."""
    fitted, crop = fit_to_bucket(image, bucket)
    variants = [(fitted, crop)]
    if flips:
        variants.append((fitted.transpose(Image.Transpose.FLIP_LEFT_RIGHT), crop.mirrored()))
    return _Prepared(pixels=torch.stack([to_tensor(img) for img, _ in variants]), crops=[c for _, c in variants])


@torch.no_grad()
def encode_images(
    vae: AutoencoderKL, split: DatasetSplit, count: int, *, buckets: list[tuple[int, int]], flips: bool,
    batch_size: int, device: str,
) -> tuple[dict[tuple[int, int], list[int]], dict[tuple[int, int], torch.Tensor], torch.Tensor]:
    """Read the split's ``count`` images once, in storage order (a Parquet shard streams row group by row
    group), fit each to its bucket and VAE-encode it (and its flip) ``batch_size`` images of a bucket at a
    time: at most one unfinished batch per bucket is in memory.

    Returns:
        The example indices of each used bucket (ascending), the bucket's posterior parameters
        ``[n, variants, 2C, h, w]`` (fp16, CPU) in that order, and ``[examples, variants, 6]`` time ids.
    """
    from tqdm.auto import tqdm

    vae = vae.to(device)
    time_ids = torch.zeros(count, 2 if flips else 1, 6, dtype=torch.long)
    members: dict[tuple[int, int], list[int]] = {}
    encoded: dict[tuple[int, int], list[torch.Tensor]] = {}
    pending: dict[tuple[int, int], list[torch.Tensor]] = {}
    progress = tqdm(total=count, desc="images", disable=None)

    def flush(bucket: tuple[int, int]) -> None:
        stacked = torch.stack(pending.pop(bucket))  # [B, V, 3, H, W]
        params = vae.encode(stacked.flatten(0, 1).to(device, dtype=vae.dtype)).latent_dist.parameters
        encoded.setdefault(bucket, []).append(params.unflatten(0, stacked.shape[:2]).to("cpu", torch.float16))
        progress.update(stacked.shape[0])

    for index, image in split.images():
        with image:
            bucket = nearest_bucket(image.size, buckets)
            prepared = prepare_image(image, bucket, flips=flips)
        members.setdefault(bucket, []).append(index)
        time_ids[index] = torch.tensor([crop.time_ids() for crop in prepared.crops])
        pending.setdefault(bucket, []).append(prepared.pixels)
        if len(pending[bucket]) == batch_size:
            flush(bucket)
    for bucket in list(pending):
        flush(bucket)
    progress.close()
    return members, {bucket: torch.cat(encoded[bucket]) for bucket in members}, time_ids


def _text_encoder_pairs(encoders: TextEncoders) -> list[tuple[CLIPTokenizer, torch.nn.Module]]:
    pairs = [(encoders.tokenizer, encoders.text_encoder)]
    if encoders.text_encoder_2 is not None and encoders.tokenizer_2 is not None:
        pairs.append((encoders.tokenizer_2, encoders.text_encoder_2))
    return pairs


@torch.no_grad()
def encode_captions(
    encoders: TextEncoders, captions: list[str], *, batch_size: int, device: str
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Text states ``[captions, tokens, hidden]`` and SDXL's pooled embedding ``[captions, dim]`` (fp16, CPU).

    SD 1.x/2.x: the text encoder's last hidden state, no pooled embedding. SDXL: both encoders'
    penultimate hidden states concatenated, and the second encoder's projected pooled output, as
    ``StableDiffusionXLPipeline.encode_prompt`` computes them.
    """
    from tqdm.auto import tqdm

    pairs = _text_encoder_pairs(encoders)
    sdxl = len(pairs) == 2
    states, pooled = [], []
    for batch in tqdm(list(_chunks(captions, batch_size)), desc="captions", disable=None):
        per_encoder = []
        for tokenizer, encoder in pairs:
            output = encoder.to(device)(tokenize(tokenizer, batch).to(device), output_hidden_states=sdxl)
            per_encoder.append(output.hidden_states[-2] if sdxl else output.last_hidden_state)
        states.append(torch.cat(per_encoder, dim=-1).to("cpu", torch.float16))
        if sdxl:
            pooled.append(output.text_embeds.to("cpu", torch.float16))
    return torch.cat(states), torch.cat(pooled) if sdxl else None


def encode_split(
    vae: AutoencoderKL, split: DatasetSplit, count: int, *, buckets: list[tuple[int, int]], flips: bool,
    batch_size: int, device: str,
) -> LatentCache:
    """Encode every image of the split (and its flip) into its bucket."""
    members, latents, time_ids = encode_images(
        vae, split, count, buckets=buckets, flips=flips, batch_size=batch_size, device=device
    )
    example_bucket = torch.zeros(count, dtype=torch.long)
    example_row = torch.zeros(count, dtype=torch.long)
    for bucket_index, indices in enumerate(members.values()):
        example_bucket[indices] = bucket_index
        example_row[indices] = torch.arange(len(indices))
    return LatentCache(
        buckets=list(latents.values()),
        bucket_sizes=torch.tensor(list(latents)),
        example_bucket=example_bucket,
        example_row=example_row,
        time_ids=time_ids,
        scaling_factor=float(vae.config.scaling_factor),
    )


def length_cap(tokenizer: CLIPTokenizer) -> Callable[[str], str]:
    """A caption cut to the tokenizer's length at a word boundary (what the encoder sees is what it claims)."""
    def count(text: str) -> int:
        return len(tokenizer(text, truncation=False)["input_ids"])

    def cap(text: str) -> str:
        return text if count(text) <= tokenizer.model_max_length else cap_length(
            text, count, max_tokens=tokenizer.model_max_length)

    return cap


def encode_texts(encoders: TextEncoders, rows: list[dict[str, Any]], captions: CaptionsConfig, *, seed: int,
                 batch_size: int, device: str) -> TextCache:
    """Compose each row's training captions and encode every distinct one, and the empty one, once."""
    per_example = example_captions(rows, captions, seed=seed, cap=length_cap(encoders.tokenizer))
    distinct = sorted({text for texts in per_example for text in texts} | {""})
    row_of = {text: index for index, text in enumerate(distinct)}
    text_states, pooled_text = encode_captions(encoders, distinct, batch_size=batch_size, device=device)
    return TextCache(
        captions=distinct,
        example_captions=torch.tensor([[row_of[text] for text in texts] for texts in per_example]),
        empty_caption=row_of[""],
        text_states=text_states,
        pooled_text=pooled_text,
    )


def save_cache(cache: LatentCache | TextCache, path: Path) -> None:
    """Write a cache atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
        torch.save(vars(cache), handle)
    os.replace(handle.name, path)


def load_cache(path: Path, kind: type[CacheT]) -> CacheT:
    """Memory-map a cache written by :func:`save_cache`."""
    return kind(**torch.load(path, mmap=True, weights_only=True))


def training_buckets(pretrained: str, *, resolution_px: int, aspect: bool, max_aspect: float) -> list[tuple[int, int]]:
    """The buckets for ``train.aspect_buckets``/``max_aspect``, or the single ``resolution_px`` square."""
    from pakfashion.training.models import latent_stride

    if not aspect:
        return [(resolution_px, resolution_px)]
    stride = latent_stride(pretrained)
    if resolution_px % stride:
        raise ValueError(f"model.resolution={resolution_px} is not a multiple of the model's latent stride {stride}")
    return aspect_buckets(resolution_px, stride_px=stride, max_aspect=max_aspect)


def latent_cache(
    split: DatasetSplit,
    cache_dir: Path,
    *,
    pretrained: str,
    buckets: list[tuple[int, int]],
    flips: bool,
    weight_dtype: torch.dtype,
    batch_size: int,
    device: str,
) -> LatentCache:
    """The split's cached image latents; encodes them (and saves) only on a cache miss."""
    path = cache_dir / f"{cache_key(split, pretrained=pretrained, buckets=buckets, flips=flips)}.pt"
    if path.is_file():
        log.info("using cached latents %s", path)
        return load_cache(path, LatentCache)
    count = len(read_rows(split))
    log.info("encoding %d images%s once into %s", count, " (+ flips)" * flips, path)
    cache = encode_split(load_vae(pretrained, weight_dtype=weight_dtype), split, count, buckets=buckets, flips=flips,
                         batch_size=batch_size, device=device)
    log.info("buckets (width x height: images): %s", bucket_summary(cache))
    save_cache(cache, path)
    return cache


def text_cache(
    split: DatasetSplit,
    cache_dir: Path,
    *,
    pretrained: str,
    captions: CaptionsConfig,
    seed: int,
    weight_dtype: torch.dtype,
    batch_size: int,
    device: str,
) -> TextCache:
    """The split's cached caption embeddings (``train.captions``); composes and encodes them only on a miss."""
    path = cache_dir / f"{text_cache_key(split, pretrained=pretrained, captions=captions, seed=seed)}.pt"
    if path.is_file():
        log.info("using cached text states %s", path)
        return load_cache(path, TextCache)
    encoders = load_text_encoders(pretrained, weight_dtype=weight_dtype)
    cache = encode_texts(encoders, read_rows(split), captions, seed=seed, batch_size=batch_size, device=device)
    log.info("encoded %d distinct captions (%d per image, source %s) once into %s", len(cache.captions),
             cache.variants, captions.source.value, path)
    save_cache(cache, path)
    return cache


def training_data(
    split: DatasetSplit,
    cache_dir: Path,
    *,
    pretrained: str,
    buckets: list[tuple[int, int]],
    flips: bool,
    captions: CaptionsConfig,
    seed: int,
    weight_dtype: torch.dtype,
    batch_size: int,
    device: str,
) -> TrainingData:
    """The split's latents (``cache_dir/latents``) and training captions (``cache_dir/text``), each from its cache."""
    encoding = {"pretrained": pretrained, "weight_dtype": weight_dtype, "batch_size": batch_size, "device": device}
    return TrainingData(
        latents=latent_cache(split, cache_dir / "latents", buckets=buckets, flips=flips, **encoding),
        texts=text_cache(split, cache_dir / "text", captions=captions, seed=seed, **encoding),
    )


def bucket_summary(cache: LatentCache) -> str:
    """``WxH: n`` for each used bucket."""
    return ", ".join(f"{w}x{h}: {b.shape[0]}" for (w, h), b in zip(cache.bucket_sizes.tolist(), cache.buckets))


class CachedLatents(torch.utils.data.Dataset):
    """Item :meth:`TrainingData.item`: one example's latent distribution (plain or flipped) and one of its
    caption variants (``caption_row``: its row in the text cache), sampled and conditioned on later."""

    def __init__(self, data: TrainingData):
        self.data = data

    def __len__(self) -> int:
        return self.data.examples * self.data.latents.variants * self.data.texts.variants

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        example, variant, text_variant = self.data.parts(index)
        latents, texts = self.data.latents, self.data.texts
        caption = texts.example_captions[example, text_variant]
        item = {
            "latent_params": latents.buckets[latents.example_bucket[example]][latents.example_row[example], variant],
            "caption_row": caption,
            "text_states": texts.text_states[caption],
            "empty_text_states": texts.text_states[texts.empty_caption],
            "time_ids": latents.time_ids[example, variant],
        }
        if texts.pooled_text is not None:
            item["pooled_text"] = texts.pooled_text[caption]
            item["empty_pooled_text"] = texts.pooled_text[texts.empty_caption]
        return item


class BucketBatches(torch.utils.data.Sampler[list[int]]):
    """Batches of one bucket each: every example once per epoch, with its image variant (flip), its caption
    variant, the order within buckets and the order of batches drawn from ``(seed, epoch)``.

    Independent of the global RNG, so a resumed run can replay an epoch's order and skip what it had done.
    """

    def __init__(self, data: TrainingData, *, batch_size: int, seed: int):
        self.data = data
        latents = data.latents
        self.members = [torch.nonzero(latents.example_bucket == b).flatten() for b in range(len(latents.buckets))]
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration yields."""
        self.epoch = epoch

    def __len__(self) -> int:
        return sum(math.ceil(len(members) / self.batch_size) for members in self.members)

    def __iter__(self) -> Iterator[list[int]]:
        seed = int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0])
        generator = torch.Generator().manual_seed(seed)
        batches = []
        for members in self.members:
            order = members[torch.randperm(len(members), generator=generator)]
            variant = torch.randint(self.data.latents.variants, (len(members),), generator=generator)
            text_variant = torch.randint(self.data.texts.variants, (len(members),), generator=generator)
            items = [self.data.item(e, v, t) for e, v, t in zip(order.tolist(), variant.tolist(), text_variant.tolist())]
            batches.extend(_chunks(items, self.batch_size))
        return iter([batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()])
