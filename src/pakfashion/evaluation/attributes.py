"""Attribute checks of generated images: the colour the garment is drawn in, and the garment drawn.

Colour comes from the image's own pixels: the background is estimated from the image border, the pixels
that differ from it are the garment, their most common colour is matched to the nearest entry of the
colour table (``vocab.palette``, CIELAB distance). Garment type comes from CLIP zero-shot over the
canonical garment names (``vocab.garments``). Both are compared with what the prompt names
(:class:`pakfashion.captioning.text.AttributeFinder`), and accuracies carry percentile-bootstrap intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pakfashion.captioning.text import AttributeFinder
from pakfashion.config import AttributesConfig, VocabConfig
from pakfashion.evaluation.clip import ClipBundle
from pakfashion.evaluation.samples import BASE, FINETUNED, Sample
from pakfashion.models.sampling import Job

RGB = tuple[int, int, int]
BORDER_FRACTION = 0.03
"""Width of the border the background is estimated from, as a fraction of the image side (at least 1 px)."""
BORDER_QUANTILE = 0.95
"""A pixel is garment when it is farther from the background than this quantile of the border's own pixels."""
BIN_SIZE = 32
"""RGB bin width for the dominant colour (8 bins per channel)."""
_SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_D65 = np.array([0.95047, 1.0, 1.08883])


@dataclass(frozen=True)
class Interval:
    """A mean and its percentile-bootstrap interval."""

    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class PromptAttributes:
    """What an attribute prompt asks for: a colour of the table and a canonical garment."""

    colour: str
    garment: str


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB values in 0–255 (any shape ending in 3) as CIELAB (D65)."""
    linear = np.asarray(rgb, dtype=np.float64) / 255
    linear = np.where(linear > 0.04045, ((linear + 0.055) / 1.055) ** 2.4, linear / 12.92)
    xyz = linear @ _SRGB_TO_XYZ.T / _D65
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def garment_pixels(image: Image.Image, *, background_delta_e: float) -> np.ndarray:
    """RGB values (N x 3) of the pixels that differ from the background, estimated from the image border.

    The threshold is ``background_delta_e`` or the border's own spread (its 95th percentile distance from
    the border's median colour), whichever is larger, so a noisy background does not count as garment.
    """
    pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    width = max(1, round(BORDER_FRACTION * min(pixels.shape[:2])))
    border = np.concatenate([pixels[:width].reshape(-1, 3), pixels[-width:].reshape(-1, 3),
                             pixels[:, :width].reshape(-1, 3), pixels[:, -width:].reshape(-1, 3)])
    background = to_lab(np.median(border, axis=0))
    spread = np.quantile(np.linalg.norm(to_lab(border) - background, axis=-1), BORDER_QUANTILE)
    distance = np.linalg.norm(to_lab(pixels) - background, axis=-1)
    return pixels[distance > max(background_delta_e, spread)]


def dominant_colour(image: Image.Image, *, background_delta_e: float) -> RGB | None:
    """Mean colour of the most populated RGB bin of the garment's pixels; None when nothing stands out."""
    pixels = garment_pixels(image, background_delta_e=background_delta_e)
    if not len(pixels):
        return None
    bins = (pixels // BIN_SIZE).astype(np.int64) @ np.array([64, 8, 1])
    top = np.bincount(bins).argmax()
    mean = pixels[bins == top].mean(axis=0).round().astype(int)
    return (int(mean[0]), int(mean[1]), int(mean[2]))


def nearest_colour(rgb: RGB, palette: Mapping[str, Sequence[int]], *, max_delta_e: float) -> str | None:
    """The palette name nearest ``rgb`` in CIELAB, or None when every entry is farther than ``max_delta_e``."""
    names = list(palette)
    distances = np.linalg.norm(to_lab(np.array([palette[name] for name in names])) - to_lab(np.array(rgb)), axis=-1)
    best = int(distances.argmin())
    return names[best] if distances[best] <= max_delta_e else None


def image_colour(image: Image.Image, palette: Mapping[str, Sequence[int]], settings: AttributesConfig) -> str | None:
    """The palette colour the garment in ``image`` is drawn in, or None (no garment, or no such colour)."""
    rgb = dominant_colour(image, background_delta_e=settings.background_delta_e)
    return None if rgb is None else nearest_colour(rgb, palette, max_delta_e=settings.max_delta_e)


def prompt_attributes(prompt: str, finder: AttributeFinder) -> PromptAttributes:
    """The colour and garment ``prompt`` names (the first colour word; the vocabulary's garment)."""
    found = finder.find({"title": prompt})
    if not found.colours or not found.garment:
        raise ValueError(f"attribute prompt {prompt!r} must name a colour of vocab.colours and a garment of "
                         "vocab.garments: fix evaluate.attributes (colours, garments, template)")
    return PromptAttributes(found.colours[0], found.garment)


def attribute_colours(settings: AttributesConfig) -> list[str]:
    """The prompt set's colours: ``colours`` then the concept colours not already among them."""
    return list(dict.fromkeys([*settings.colours, *settings.concept_colours]))


def attribute_jobs(settings: AttributesConfig) -> list[Job]:
    """Every colour x garment prompt (:data:`AttributesConfig.template`) with every seed."""
    prompts = [settings.template.format(colour=c, garment=g) for c in attribute_colours(settings)
               for g in settings.garments]
    return [Job(prompt, seed) for seed in settings.seeds for prompt in prompts]


def check_attributes(settings: AttributesConfig, vocab: VocabConfig) -> None:
    """Fail before generating when a prompt names no table colour or garment, or the table misses a colour."""
    if not settings.seeds or not settings.garments or not settings.colours:
        raise ValueError("evaluate.attributes needs colours, garments and seeds: give at least one of each")
    missing = sorted(set(attribute_colours(settings)) - set(vocab.palette))
    if missing:
        raise ValueError(f"evaluate.attributes colours {missing} have no RGB in vocab.palette: add them there")
    finder = AttributeFinder(vocab)
    for prompt in dict.fromkeys(job.prompt for job in attribute_jobs(settings)):
        prompt_attributes(prompt, finder)


def bootstrap_means(columns: np.ndarray, *, resamples: int, confidence: float, seed: int) -> list[Interval]:
    """Mean and percentile-bootstrap interval of each row of ``columns`` (rows x items).

    Every row is resampled with the same item indices, so a row of paired differences (fine-tuned minus
    base on the same prompt and seed) gets the interval of the paired difference.
    """
    values = np.asarray(columns, dtype=np.float64)
    indices = np.random.default_rng(seed).integers(0, values.shape[1], size=(resamples, values.shape[1]))
    means = values[:, indices].mean(axis=-1)  # rows x resamples
    tail = (1 - confidence) / 2
    lows, highs = np.quantile(means, [tail, 1 - tail], axis=-1)
    return [Interval(float(m), float(lo), float(hi)) for m, lo, hi in zip(values.mean(axis=-1), lows, highs, strict=True)]


@dataclass(frozen=True)
class AttributeRow:
    """One attribute image: what its prompt asks for and what was found in it (None: no table colour)."""

    prompt: str
    seed: int
    model: str
    colour: str
    garment: str
    found_colour: str | None
    found_garment: str

    @property
    def colour_correct(self) -> bool:
        return self.found_colour == self.colour

    @property
    def garment_correct(self) -> bool:
        return self.found_garment == self.garment


@torch.inference_mode()
def zero_shot_garments(images: Sequence[Image.Image], names: Sequence[str], *, clip: ClipBundle, template: str,
                       batch_size: int = 32) -> list[str]:
    """The garment name whose prompt (``template``) CLIP finds nearest each image."""
    text = clip.processor(text=[template.format(garment=name) for name in names], return_tensors="pt", padding=True)
    classes = F.normalize(clip.model.get_text_features(**text.to(clip.device)).pooler_output.float(), dim=-1)
    found: list[str] = []
    for start in range(0, len(images), batch_size):
        pixels = clip.processor(images=list(images[start : start + batch_size]), return_tensors="pt").pixel_values
        embeds = clip.model.get_image_features(pixel_values=pixels.to(clip.device, clip.model.dtype)).pooler_output
        found += [names[i] for i in (F.normalize(embeds.float(), dim=-1) @ classes.T).argmax(dim=-1).tolist()]
    return found


def attribute_rows(samples: Sequence[Sample], *, clip: ClipBundle, vocab: VocabConfig,
                   settings: AttributesConfig) -> list[AttributeRow]:
    """Colour (from pixels, among the prompt set's colours) and garment (CLIP) of every attribute sample."""
    finder = AttributeFinder(vocab)
    table = {colour: vocab.palette[colour] for colour in attribute_colours(settings)}
    garments = zero_shot_garments([s.image for s in samples], list(vocab.garments), clip=clip,
                                  template=settings.garment_template)
    rows = []
    for sample, garment in zip(samples, garments, strict=True):
        asked = prompt_attributes(sample.prompt, finder)
        rows.append(AttributeRow(sample.prompt, sample.seed, sample.model, asked.colour, asked.garment,
                                 image_colour(sample.image, table, settings), garment))
    return rows


CHECKS = {"colour_accuracy": "colour_correct", "garment_accuracy": "garment_correct"}
"""Each accuracy in ``eval.json`` and the :class:`AttributeRow` property it averages."""
PARTS = (BASE, FINETUNED, "delta")


def attribute_groups(rows: Sequence[AttributeRow], settings: AttributesConfig) -> dict[str, list[AttributeRow]]:
    """Rows of all prompts (key prefix ``""``), of the concept colours (``concept_``) and of the other,
    pretrained colours (``pretrained_``); a subset is left out when it is empty or is all prompts."""
    concept = [row for row in rows if row.colour in settings.concept_colours]
    pretrained = [row for row in rows if row.colour not in settings.concept_colours]
    groups = {"": list(rows), "concept_": concept, "pretrained_": pretrained}
    return {prefix: group for prefix, group in groups.items() if group and (not prefix or len(group) < len(rows))}


def paired_checks(rows: Sequence[AttributeRow], check: str) -> np.ndarray:
    """Rows base, fine-tuned and fine-tuned - base of one check (0/1), columns the prompt x seed jobs."""
    by_job = {(row.prompt, row.seed, row.model): float(getattr(row, check)) for row in rows}
    jobs = list(dict.fromkeys((row.prompt, row.seed) for row in rows))
    missing = [job for job in jobs if any((*job, model) not in by_job for model in (BASE, FINETUNED))]
    if missing:
        raise ValueError(f"attribute jobs {missing[:3]} lack a base or fine-tuned image: generate both models")
    base, tuned = (np.array([by_job[(*job, model)] for job in jobs]) for model in (BASE, FINETUNED))
    return np.stack([base, tuned, tuned - base])


def attribute_metrics(rows: Sequence[AttributeRow], settings: AttributesConfig) -> dict[str, float | int]:
    """Flat ``eval.json`` keys: per group, ``<group><check>_<base|finetuned|delta>`` with ``_ci_low`` and
    ``_ci_high``, the group's image count per model, and the share of images with no table colour."""
    metrics: dict[str, float | int] = {}
    for prefix, group in attribute_groups(rows, settings).items():
        metrics[f"num_{prefix or 'attribute_'}images"] = len(group) // 2
        for name, check in CHECKS.items():
            intervals = bootstrap_means(paired_checks(group, check), resamples=settings.bootstrap_resamples,
                                        confidence=settings.confidence, seed=settings.seeds[0])
            for part, interval in zip(PARTS, intervals, strict=True):
                key = f"{prefix}{name}_{part}"
                metrics |= {key: interval.mean, f"{key}_ci_low": interval.low, f"{key}_ci_high": interval.high}
    for model in (BASE, FINETUNED):
        found = [row.found_colour for row in rows if row.model == model]
        metrics[f"colour_unmatched_{model}"] = sum(colour is None for colour in found) / len(found)
    return metrics


GROUP_LABELS = {"": "all prompts", "concept_": "taught concept", "pretrained_": "pretrained concepts"}
ATTRIBUTE_COLUMNS = ["prompts (images per model)", "check", "base", "fine-tuned", "delta"]


def attribute_table(metrics: Mapping[str, float | int]) -> list[list[str]]:
    """Report rows ``[prompts, check, base, fine-tuned, delta]``, each value with its interval."""

    def cell(key: str) -> str:
        return f"{metrics[key]:.3f} [{metrics[key + '_ci_low']:.3f}, {metrics[key + '_ci_high']:.3f}]"

    rows = []
    for prefix, label in GROUP_LABELS.items():
        for name in CHECKS:
            if f"{prefix}{name}_{BASE}" in metrics:
                images = metrics[f"num_{prefix or 'attribute_'}images"]
                rows.append([f"{label} ({images})", name.replace("_", " "),
                             *(cell(f"{prefix}{name}_{part}") for part in PARTS)])
    return rows
