"""Image faults for testing an image downloader (`Faults.image_faults`, off by default).

When the switch is on, demo_shop lists one extra product first in `/products.json`, the
"Image Faults Test Kurta" (`image_faults_product`), whose images exercise one downloader
outcome each. The images are served under `/cdn/shop/files/faults/<case>.<ext>` (404
while the switch is off) and are deterministic bytes.

`IMAGE_FAULT_CASES` maps each case to the outcome a downloader should reach, assuming
`Image.MAX_IMAGE_PIXELS` (or an equivalent check) around 50 M, a 64 px minimum side,
retries that honour `Retry-After`, exact duplicates detected on decoded (EXIF-oriented)
pixels and near duplicates on a perceptual hash (e.g. pHash Hamming distance <= 4).
"""

from __future__ import annotations

import functools
import io
import random
import struct
import zlib
from dataclasses import dataclass

from PIL import Image

from pakfashion.demo.images import DrawSpec, background_mask, render_image, studio_image
from pakfashion.demo.world import DemoProduct, DemoSite, ImageSpec, SiteBuilder

IMAGE_FAULT_SITE = "demo_shop"
"""The only site that lists the faults product."""

IMAGE_FAULT_PREFIX = "/cdn/shop/files/faults/"
"""Path prefix of every fault image."""

IMAGE_FAULTS_PRODUCT_ID = 7_999_999_999_999
"""Above every generated demo_shop product id (they are drawn below it), so it is listed first."""

IMAGE_FAULTS_TITLE = "Image Faults Test Kurta"

IMAGE_FAULT_CASES: dict[str, str] = {
    "ok": "ok",
    "broken": "fetch_failed",
    "truncated": "decode_failed",
    "bomb": "decode_failed",
    "wrong_type": "decode_failed",
    "not_image_bytes": "decode_failed",
    "cmyk": "ok",
    "palette": "ok",
    "rgba": "ok",
    "exif_rotated": "ok",
    "exact_duplicate": "duplicate",
    "near_duplicate_reencoded": "near_duplicate",
    "near_duplicate_resized": "near_duplicate",
    "tiny": "too_small",
    "noai": "opted_out",
    "slow_ok": "ok",
    "flaky_500": "ok",
    "rate_limited": "ok",
}
"""Case name -> the downloader outcome expected for it, in the product's image order.

ok: normal JPEG, the reference of the duplicate cases. broken: 404. truncated: a JPEG cut
at 40 % of its bytes (Content-Length of the cut). bomb: PNG declaring 20000 x 20000 (1-bit,
all-zero rows, ~50 KB). wrong_type: an HTML page served as text/html. not_image_bytes:
random bytes served as image/jpeg. cmyk: CMYK JPEG. palette: P-mode PNG with a transparent
background index. rgba: RGBA PNG, transparent background. exif_rotated: pixels stored
512 x 384 with EXIF Orientation=6, 384 x 512 after `ImageOps.exif_transpose`.
exact_duplicate: `ok`'s decoded pixels as PNG. near_duplicate_reencoded: `ok` as JPEG
quality 60. near_duplicate_resized: `ok` at 75 % (360 x 480). tiny: 40 x 40 JPEG. noai:
`X-Robots-Tag: noai`. slow_ok: answered after `SLOW_OK_DELAY_S`. flaky_500: 500, then 503
with `Retry-After: 1`, then 200. rate_limited: 429 with `Retry-After: 1`, then 200. The
flaky_500/rate_limited sequences count GET+HEAD requests per site on the server's `Faults`
object (a fresh `Faults()` restarts them); every later request answers 200.
"""

IMAGE_FAULT_EXT: dict[str, str] = {case: "jpg" for case in IMAGE_FAULT_CASES} | {
    "bomb": "png", "palette": "png", "rgba": "png", "exact_duplicate": "png"}
"""File extension of each case's URL."""

IMAGE_FAULT_PATHS: dict[str, str] = {case: f"{IMAGE_FAULT_PREFIX}{case}.{ext}"
                                     for case, ext in IMAGE_FAULT_EXT.items()}
"""Case -> server path (the product JSON adds `?v=N`)."""

IMAGE_FAULT_SIZES: dict[str, tuple[int, int]] = {
    "ok": (480, 640),
    "truncated": (512, 512),
    "bomb": (20000, 20000),
    "cmyk": (512, 512),
    "palette": (400, 600),
    "rgba": (512, 512),
    "exif_rotated": (384, 512),
    "exact_duplicate": (480, 640),
    "near_duplicate_reencoded": (480, 640),
    "near_duplicate_resized": (360, 480),
    "tiny": (40, 40),
    "noai": (512, 512),
    "slow_ok": (400, 600),
    "flaky_500": (480, 640),
    "rate_limited": (512, 512),
}
"""(width, height) of each image case: after `ImageOps.exif_transpose` for exif_rotated (stored
as `EXIF_ROTATED_STORED_SIZE`), as declared in the header for truncated and bomb."""

EXIF_ROTATED_STORED_SIZE = (512, 384)
"""(width, height) of the exif_rotated pixels as stored, before applying Orientation=6."""

SLOW_OK_DELAY_S = 0.3
TRUNCATE_FRACTION = 0.4
RETRY_AFTER = "1"

_GARMENTS: dict[str, DrawSpec] = {
    "ok": DrawSpec("tunic", "red", "gold", "neckline", 480, 640),
    "truncated": DrawSpec("short_tunic", "beige", "crimson", "buttis", 512, 512),
    "cmyk": DrawSpec("short_tunic", "teal", "gold", "hem", 512, 512),
    "palette": DrawSpec("sleeveless", "green", "gold", "none", 400, 600, "PNG"),
    "rgba": DrawSpec("dress", "purple", "silver", "hem", 512, 512, "PNG"),
    "exif_rotated": DrawSpec("abaya", "navy", "silver", "none", 384, 512),
    "tiny": DrawSpec("tunic", "pink", "gold", "none", 40, 40),
    "noai": DrawSpec("wrap", "blue", "ivory", "border", 512, 512),
    "slow_ok": DrawSpec("trousers", "orange", "gold", "hem", 400, 600),
    "flaky_500": DrawSpec("shalwar", "maroon", "gold", "none", 480, 640),
    "rate_limited": DrawSpec("frock", "mustard", "emerald", "neckline", 512, 512),
}
"""What each garment case shows: different shapes and colours, so that none is a near
duplicate of another (only the three duplicate cases derive from `ok`)."""

_LIGHTS: dict[str, tuple[float, float]] = {
    "ok": (0.15, 0.10), "truncated": (0.40, 0.30), "cmyk": (0.90, 0.20), "exif_rotated": (0.85, 0.85),
    "tiny": (0.50, 0.50), "noai": (0.95, 0.50), "slow_ok": (0.05, 0.50), "flaky_500": (0.60, 0.05),
    "rate_limited": (0.30, 0.60),
}
"""Where the studio light falls (unit coordinates) for the JPEG garments: an off-centre radial
gradient behind a flat, symmetric silhouette keeps its pHash stable under re-encoding and
resizing (flat symmetric drawings have many near-zero DCT terms, whose bits flip easily).
The PNG cases with transparency keep the flat background that becomes transparent."""

IMAGE_FAULT_COLOURS: dict[str, str] = {case: spec.colour for case, spec in _GARMENTS.items()}
"""Garment colour of each drawn case (the duplicates of `ok` are red too)."""

WRONG_TYPE_HTML = (b"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Access denied</title>"
                   b"</head>\n<body><h1>Access denied</h1><p>You do not have permission to view this "
                   b"image.</p></body></html>\n")


@dataclass(frozen=True)
class FaultImage:
    """The 200 response of one case: body, content type and extra headers."""

    case: str
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """Return a valid 1-bit greyscale PNG of all-black `width` x `height` pixels, tiny on the wire."""
    row = b"\x00" * (1 + (width + 7) // 8)
    compressor = zlib.compressobj(9)
    block = row * 500
    data = b"".join(compressor.compress(block) for _ in range(height // 500))
    data += compressor.compress(row * (height % 500)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data)
            + _png_chunk(b"IEND", b""))


def _studio_jpeg(case: str, **params: object) -> bytes:
    return _encode(studio_image(_GARMENTS[case], _LIGHTS[case]), "JPEG", **({"quality": 90} | params))


def _palette_png(spec: DrawSpec) -> bytes:
    image = render_image(spec).quantize(colors=16, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    return _encode(image, "PNG", transparency=image.getpixel((0, 0)))


def _rgba_png(spec: DrawSpec) -> bytes:
    image = render_image(spec)
    image.putalpha(background_mask(image))
    return _encode(image, "PNG")


def _exif_rotated_jpeg() -> bytes:
    portrait = studio_image(_GARMENTS["exif_rotated"], _LIGHTS["exif_rotated"])
    stored = portrait.transpose(Image.Transpose.ROTATE_90)  # Orientation 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    return _encode(stored, "JPEG", quality=90, exif=exif.tobytes())


@functools.cache
def fault_images() -> dict[str, FaultImage]:
    """Return the 200 response of every case that has one (all but `broken`), built once."""
    ok = _studio_jpeg("ok")
    ok_pixels = Image.open(io.BytesIO(ok)).convert("RGB")
    truncated = _studio_jpeg("truncated")
    jpeg, png = "image/jpeg", "image/png"
    out = {
        "ok": FaultImage("ok", ok, jpeg),
        "truncated": FaultImage("truncated", truncated[:int(len(truncated) * TRUNCATE_FRACTION)], jpeg),
        "bomb": FaultImage("bomb", bomb_png(*IMAGE_FAULT_SIZES["bomb"]), png),
        "wrong_type": FaultImage("wrong_type", WRONG_TYPE_HTML, "text/html; charset=utf-8"),
        "not_image_bytes": FaultImage("not_image_bytes",
                                      random.Random("image_faults:not_image_bytes").randbytes(24_000), jpeg),
        "cmyk": FaultImage("cmyk", _encode(studio_image(_GARMENTS["cmyk"], _LIGHTS["cmyk"]).convert("CMYK"),
                                           "JPEG", quality=90), jpeg),
        "palette": FaultImage("palette", _palette_png(_GARMENTS["palette"]), png),
        "rgba": FaultImage("rgba", _rgba_png(_GARMENTS["rgba"]), png),
        "exif_rotated": FaultImage("exif_rotated", _exif_rotated_jpeg(), jpeg),
        "exact_duplicate": FaultImage("exact_duplicate", _encode(ok_pixels, "PNG"), png),
        "near_duplicate_reencoded": FaultImage("near_duplicate_reencoded",
                                               _encode(ok_pixels, "JPEG", quality=60), jpeg),
        "near_duplicate_resized": FaultImage(
            "near_duplicate_resized",
            _encode(ok_pixels.resize(IMAGE_FAULT_SIZES["near_duplicate_resized"], Image.Resampling.LANCZOS),
                    "JPEG", quality=90), jpeg),
        "tiny": FaultImage("tiny", _studio_jpeg("tiny"), jpeg),
        "noai": FaultImage("noai", _studio_jpeg("noai"), jpeg, (("X-Robots-Tag", "noai"),)),
        "slow_ok": FaultImage("slow_ok", _studio_jpeg("slow_ok"), jpeg),
        "flaky_500": FaultImage("flaky_500", _studio_jpeg("flaky_500"), jpeg),
        "rate_limited": FaultImage("rate_limited", _studio_jpeg("rate_limited"), jpeg),
    }
    return out


def case_for_path(path: str) -> str | None:
    """Return the case served at `path` (no query string), or None."""
    if not path.startswith(IMAGE_FAULT_PREFIX):
        return None
    case, _, ext = path[len(IMAGE_FAULT_PREFIX):].rpartition(".")
    return case if IMAGE_FAULT_EXT.get(case) == ext else None


def image_faults_product(site: DemoSite, seed: int = 7) -> DemoProduct:
    """Return the "Image Faults Test Kurta" of `site`: one image per case, in `IMAGE_FAULT_CASES` order.

    Its ids and handle do not clash with the site's products; its id is above all of them.
    """
    used = {IMAGE_FAULTS_PRODUCT_ID}
    for product in site.products:
        used.add(product.id)
        used.update(v["id"] for v in product.shopify["variants"])
        used.update(i["id"] for i in product.shopify["images"])
    builder = SiteBuilder(random.Random(f"{seed}:image_faults"), site.name, "DS", site.vendor, used)
    builder.handles = {p.handle for p in site.products}
    specs = []
    for case in IMAGE_FAULT_CASES:
        width, height = IMAGE_FAULT_SIZES.get(case, (512, 512))
        base = _GARMENTS.get(case, _GARMENTS["ok"])
        draw = DrawSpec(base.shape, base.colour, base.accent, base.pattern, width, height,
                        "PNG" if IMAGE_FAULT_EXT[case] == "png" else "JPEG")
        specs.append(ImageSpec(path=IMAGE_FAULT_PATHS[case], version=1712345678 + len(specs), absolute=False,
                               draw=draw, broken=case == "broken"))
    body = ("<p>A red lawn kurta whose pictures test an image downloader: broken, truncated, "
            "oversized, mislabelled, rotated, duplicated, slow and rate-limited images.</p>"
            "<ul><li>Colour: Red</li><li>Fabric: Lawn</li></ul>")
    shopify = builder.product(title=IMAGE_FAULTS_TITLE, body_html=body, product_type="Kurta",
                              tags=["women", "lawn", "red", "kurta", "test"], option_name="Size",
                              option_values=("XS", "S", "M", "L", "XL"), price=3990, specs=specs,
                              number=9999, product_id=IMAGE_FAULTS_PRODUCT_ID)
    return DemoProduct(site=site.name, shopify=shopify, expected="keep", colour="red", garment="kurta",
                       image_specs=specs, notes="image faults: one image per IMAGE_FAULT_CASES case")
