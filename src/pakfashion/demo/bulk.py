"""Bulk image server for download benchmarks: many distinct JPEGs on one loopback address.

`BulkImageServer(n)` pre-renders `n` deterministic JPEG garments on noisy backgrounds
(20-100 KB, 300-900 px a side, varied aspect ratios; the same `(seed, i)` always gives the
same bytes), keeps them in memory and serves them at `/img/<i>.jpg` over HTTP/1.1
keep-alive, with an allow-all `/robots.txt`. From the command line,
`python -m pakfashion.demo.bulk --images 5000 --port 0` prints the base URL and serves
until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import io
import math
import multiprocessing
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Sequence
from functools import partial
from types import TracebackType

from PIL import Image, ImageChops, ImageDraw

from pakfashion.demo.images import (
    _POLYGONS,
    COLOURS,
    DrawSpec,
    _Box,
    _draw_polygon_garment,
)
from pakfashion.demo.tracked import StorefrontHandler, TrackedHTTPServer

HOST = "127.0.0.1"
MIN_SIDE, MAX_SIDE = 300, 900
MIN_BYTES, MAX_BYTES = 21_000, 98_000
"""Every image's size in bytes lies in this range (inside both 20-100 kB and 20-100 KiB)."""

ROBOTS_TXT = b"User-agent: *\nAllow: /\n"
SERIAL_BELOW = 200
"""Fewer images than this are rendered in the calling process (no worker pool)."""

_GRID: tuple[tuple[int, int, float], ...] = (
    (8, 30, 0.030), (8, 60, 0.042), (8, 75, 0.064), (16, 75, 0.102), (16, 85, 0.157),
    (32, 75, 0.169), (32, 85, 0.256), (64, 75, 0.274), (64, 85, 0.361), (64, 92, 0.467),
    (128, 92, 0.592),
)
"""(grain amplitude, JPEG quality, typical bytes per pixel) measured on these drawings."""

_SHAPES = sorted(_POLYGONS)
_COLOURS = sorted(COLOURS)
_PATTERNS = ("none", "neckline", "hem", "buttis")
_ACCENTS = ("gold", "silver", "ivory", "crimson", "emerald")


def _encode(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def colour_field(rng: random.Random, width: int, height: int) -> Image.Image:
    """A 6 x 6 random colour field, bicubic-upscaled: the large-scale look that keeps pHashes apart."""
    return Image.frombytes("RGB", (6, 6), rng.randbytes(108)).resize((width, height), Image.Resampling.BICUBIC)


def draw_random_garment(image: Image.Image, rng: random.Random, colour: str | None = None) -> None:
    """Draw a random polygon garment (in `colour`, else a random one) somewhere off-centre on `image`."""
    width, height = image.size
    spec = DrawSpec(shape=rng.choice(_SHAPES), colour=colour or rng.choice(_COLOURS), accent=rng.choice(_ACCENTS),
                    pattern=rng.choice(_PATTERNS), width=width, height=height,
                    scale=rng.uniform(0.5, 0.9))  # type: ignore[arg-type]
    box = _Box(width, height, spec.scale)
    box.left += rng.uniform(-0.5, 0.5) * (width - box.side)
    box.top += rng.uniform(-0.5, 0.5) * (height - box.side)
    _draw_polygon_garment(ImageDraw.Draw(image), box, spec)


def encode_within(image: Image.Image, quality: int, low_bytes: int, high_bytes: int, what: str) -> bytes:
    """JPEG-encode `image` at `quality`, bisecting the quality until the size lies in low..high bytes."""
    data = _encode(image, quality)
    low, high = 5, 98
    while not low_bytes <= len(data) <= high_bytes:
        if len(data) > high_bytes:
            high = quality - 1
        else:
            low = quality + 1
        if low > high:
            raise RuntimeError(f"{what} cannot reach {low_bytes}-{high_bytes} bytes")
        quality = (low + high) // 2
        data = _encode(image, quality)
    return data


def render_bulk_image(seed: int, index: int) -> bytes:
    """Return image `index` of the bulk set for `seed`: a JPEG garment on a noisy background.

    A colour field and an off-centre garment give every image its own large-scale look (distinct
    perceptual hashes: no two of the 5,000 images of seed 0 are within a pHash Hamming distance of 5);
    per-pixel grain gives the encoder something to spend bytes on. The grain strength and JPEG quality
    are picked for a random target size, then the quality is bisected if the result falls outside
    `MIN_BYTES`..`MAX_BYTES`.
    """
    rng = random.Random(f"bulk:{seed}:{index}")
    width, height = rng.randrange(MIN_SIDE, MAX_SIDE + 1), rng.randrange(MIN_SIDE, MAX_SIDE + 1)
    target = rng.uniform(25_000, 90_000)
    need = math.log(target / (width * height))
    amp, quality, _ = min(_GRID, key=lambda row: abs(math.log(row[2]) - need))
    field = colour_field(rng, width, height)
    grain = Image.frombytes("L", (width, height), rng.randbytes(width * height))
    grain = grain.point(lambda v: v * amp // 255).convert("RGB")
    image = ImageChops.add(field, grain, offset=-(amp // 2))
    draw_random_garment(image, rng)
    return encode_within(image, quality, MIN_BYTES, MAX_BYTES, f"bulk image {index} (seed {seed})")


def render_bulk_images(n_images: int, seed: int = 0, workers: int | None = None) -> list[bytes]:
    """Return images 0..n_images-1 for `seed`, rendered by a process pool unless few or `workers=1`."""
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    render = partial(render_bulk_image, seed)
    if workers <= 1 or n_images < SERIAL_BELOW:
        return [render(i) for i in range(n_images)]
    # fork is fastest, but forking a process that runs threads (e.g. a test's servers) may deadlock.
    method = "fork" if threading.active_count() == 1 and os.name == "posix" else "spawn"
    with multiprocessing.get_context(method).Pool(workers) as pool:
        return pool.map(render, range(n_images), chunksize=max(1, n_images // (workers * 16)))


class _BulkHTTPServer(TrackedHTTPServer):
    """Threading server holding the images, counting requests and tracking open connections."""

    block_on_close = False
    request_queue_size = 1024  # many clients connect at once; a short backlog means SYN retries

    def __init__(self, address: tuple[str, int], images: list[bytes]) -> None:
        self.images = images
        self.requests = 0
        self._lock = threading.Lock()
        super().__init__(address, _BulkHandler)

    def count(self) -> None:
        """Count one request."""
        with self._lock:
            self.requests += 1


class _BulkHandler(StorefrontHandler):
    """GET/HEAD `/img/<i>.jpg` and `/robots.txt`; everything else 404."""

    server: _BulkHTTPServer

    def _answer(self, head: bool) -> None:
        self.server.count()
        path = self.path.split("?", 1)[0]
        body, content_type = None, "image/jpeg"
        if path.startswith("/img/") and path.endswith(".jpg"):
            number = path[5:-4]
            if number.isdigit() and int(number) < len(self.server.images) and str(int(number)) == number:
                body = self.server.images[int(number)]
        elif path == "/robots.txt":
            body, content_type = ROBOTS_TXT, "text/plain; charset=utf-8"
        status = 200
        if body is None:
            status, body, content_type = 404, b"not found\n", "text/plain; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 200:
            self.send_header("Cache-Control", "public, max-age=31536000")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Log nothing."""


class BulkImageServer:
    """Serves `n_images` distinct generated JPEGs at `http://127.0.0.1:PORT/img/<i>.jpg`.

    Images are rendered when the server starts (`render_s` says how long it took).

    Attributes:
        n_images: Number of images.
        seed: Image seed.
        workers: Rendering processes (None: one per available CPU).
    """

    def __init__(self, n_images: int, *, seed: int = 0, port: int = 0, workers: int | None = None) -> None:
        if n_images < 0:
            raise ValueError("n_images must be >= 0")
        self.n_images = n_images
        self.seed = seed
        self.workers = workers
        self.render_s = 0.0
        self._wanted_port = port
        self._images: list[bytes] | None = None
        self._httpd: _BulkHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> BulkImageServer:
        """Render the images (once) and serve them in a daemon thread; return self."""
        if self._httpd is not None:
            raise RuntimeError("BulkImageServer already started")
        if self._images is None:
            started = time.perf_counter()
            self._images = render_bulk_images(self.n_images, self.seed, self.workers)
            self.render_s = time.perf_counter() - started
        self._httpd = _BulkHTTPServer((HOST, self._wanted_port), self._images)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="bulk-images", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and free the port."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> BulkImageServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (0 before `start()`)."""
        return self._httpd.server_address[1] if self._httpd is not None else 0

    @property
    def base_url(self) -> str:
        """E.g. "http://127.0.0.1:8000"."""
        return f"http://{HOST}:{self.port}"

    @property
    def request_count(self) -> int:
        """Requests answered since start (all paths, HEAD included)."""
        return self._httpd.requests if self._httpd is not None else 0

    def urls(self) -> list[str]:
        """Return the URL of every image, in index order."""
        return [f"{self.base_url}/img/{i}.jpg" for i in range(self.n_images)]

    def image(self, index: int) -> bytes:
        """Return the bytes served at `/img/<index>.jpg` (after `start()`)."""
        if self._images is None:
            raise RuntimeError("images are rendered by start()")
        return self._images[index]

    @property
    def total_bytes(self) -> int:
        """Sum of all image sizes (0 before `start()`)."""
        return sum(map(len, self._images or ()))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m pakfashion.demo.bulk --images N --port P`: print the base URL, serve until signalled."""
    parser = argparse.ArgumentParser(prog="python -m pakfashion.demo.bulk",
                                     description="Serve N generated JPEGs at /img/<i>.jpg for download benchmarks.")
    parser.add_argument("--images", type=int, default=5000, help="number of images (default 5000)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = a free one; default)")
    parser.add_argument("--seed", type=int, default=0, help="image seed (default 0)")
    parser.add_argument("--workers", type=int, default=None, help="rendering processes (default: one per CPU)")
    args = parser.parse_args(argv)
    server = BulkImageServer(args.images, seed=args.seed, port=args.port, workers=args.workers).start()
    try:  # handlers installed after rendering, so that the pool's workers keep the default ones
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        print(server.base_url, flush=True)
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
