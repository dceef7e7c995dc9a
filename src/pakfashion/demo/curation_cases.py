"""Problem images in the demo store's galleries, and the curate stage's ground truth for them (issue #20).

Real retailers end some product galleries with a picture that is not a garment photo: a size chart, a promo
banner, a fabric close-up, a collage, a blurred or a dark shot. `add_curation_cases` appends such images
(`pakfashion.demo.problem_images`) to ordinary, kept products of the three sites the demo profile crawls, last
in the gallery and never first, named like the product's other images, so nothing but the pixels gives them
away. Each reason appears `CASES_PER_REASON` times, on every one of those sites; a carrier's other photos stay
clean and the product stays kept.

`curation_labels(world)` lists them as (url_path, reason): every other demo image is a clean garment photo.
The committed copy is `LABELS_FILE` (conf/profile/demo.yaml's `curate.ground_truth`); regenerate it with
``python -m pakfashion.demo labels``.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import replace
from pathlib import Path

from pakfashion.demo.images import BACKGROUND, RGB, colour_rgb, luma
from pakfashion.demo.problem_images import (
    PROBLEM_REASONS,
    PROBLEM_SIZES,
    SWATCH_PATTERNS,
    ProblemImage,
    ProblemReason,
)
from pakfashion.demo.world import (
    AtelierProduct,
    DemoProduct,
    DemoSite,
    DemoWorld,
    SiteBuilder,
)

LABELS_FILE = Path("assets/demo/curation_labels.csv")
"""The committed ground truth, relative to the repository root."""
LABEL_COLUMNS = ("url_path", "reason")

CASE_SITES: tuple[str, ...] = ("demo_shop", "demo_boutique", "demo_atelier")
"""The sites carrying problem images: the ones conf/profile/demo.yaml crawls."""
CASES_PER_REASON = 4
"""Images per reason: one on each of `CASE_SITES`, and one more on demo_shop or demo_boutique."""

# The atelier's page layouts that list every image of a product (og_only shows one; a ProductGroup hands its
# images out to size variants, which would make a size chart a variant's picture).
_FULL_GALLERY_LAYOUTS = frozenset({"product", "graph", "type_list", "cdata", "trailing_comma", "aggregate"})
_DARK_GARMENT_LUMA = 70
"""A garment darker than this would vanish in an underexposed photo: not a `too_dark` carrier."""
_SWATCH_MIN_CONTRAST = 80
"""RGB distance a swatch's print needs from its cloth (white-on-white work would close up as a flat colour), and
twice what its cloth needs from the studio backdrop (a close-up of white cloth reads as an empty backdrop)."""


_SWATCH_MIN_LUMA = 80
"""A close-up of darker cloth (maroon, navy, black, blue) fills the frame with a dark colour: it would be too dark
as much as a swatch, and the ground truth names one reason."""


def _distance(a: RGB, b: RGB) -> float:
    """Euclidean distance between two RGB colours."""
    return sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5


def is_carrier(product: DemoProduct) -> bool:
    """Whether `product` may carry a problem image: an ordinary kept garment, every image fine, its page listing
    its whole gallery (no evidence design, duplicate, colourway or other tricky product)."""
    if product.expected != "keep" or product.garment is None or product.notes or product.colourway:
        return False
    if product.duplicate_of is not None or not product.image_specs:
        return False
    if any(spec.broken or spec.problem for spec in product.image_specs):
        return False
    if isinstance(product, AtelierProduct):
        return product.layout in _FULL_GALLERY_LAYOUTS and product.image_form != "string"
    return True


def suits(reason: ProblemReason, product: DemoProduct) -> bool:
    """Whether `product`'s garment can show `reason` as the real thing does (a swatch needs a print that shows
    on its cloth; a dark photo a garment that still shows when underexposed)."""
    garment = product.image_specs[0].draw
    cloth = colour_rgb(garment.colour)
    if reason == "swatch":
        printed = garment.pattern in SWATCH_PATTERNS
        return (printed and luma(cloth) >= _SWATCH_MIN_LUMA
                and _distance(cloth, colour_rgb(garment.accent)) >= _SWATCH_MIN_CONTRAST
                and _distance(cloth, BACKGROUND) >= _SWATCH_MIN_CONTRAST / 2)
    if reason == "too_dark":
        return luma(cloth) >= _DARK_GARMENT_LUMA
    return True


def _site_reasons(rng: random.Random) -> dict[str, list[ProblemReason]]:
    """The reasons each of `CASE_SITES` carries: every reason once per site, the rest shared by the two
    Shopify sites (the atelier lists fewer full galleries)."""
    plan: dict[str, list[ProblemReason]] = {site: list(PROBLEM_REASONS) for site in CASE_SITES}
    extra = [reason for _ in range(CASES_PER_REASON - len(CASE_SITES)) for reason in PROBLEM_REASONS]
    rng.shuffle(extra)
    half = len(extra) // 2
    plan["demo_shop"] += extra[:half]
    plan["demo_boutique"] += extra[half:]
    for reasons in plan.values():
        rng.shuffle(reasons)
    return plan


def _product_number(product: DemoProduct, code: str) -> int:
    """The running number of `product` on its site (the digits of its SKU, e.g. 12 for "DS0012-XS")."""
    sku = product.sku if isinstance(product, AtelierProduct) else product.shopify["variants"][0]["sku"]
    match = re.fullmatch(rf"{code}(\d{{4}})(-.*)?", sku)
    if match is None:
        raise ValueError(f"{product.site} product {product.title!r}: SKU {sku!r} is not {code}NNNN; "
                         "only ordinary products (is_carrier) carry problem images")
    return int(match[1])


def _append(product: DemoProduct, builder: SiteBuilder, reason: ProblemReason, rng: random.Random) -> None:
    """Append a `reason` image to `product`'s gallery: spec, and the Shopify image record."""
    width, height = rng.choice(PROBLEM_SIZES[reason])
    drawn_flat = reason in ("size_chart", "text_banner")
    fmt = "PNG" if drawn_flat and rng.random() < 0.5 else "JPEG"
    garment = replace(product.image_specs[0].draw, width=width, height=height, fmt=fmt)
    problem = ProblemImage(reason, garment, rng.getrandbits(32))
    index = len(product.image_specs) + 1
    spec = replace(builder.image_spec(_product_number(product, builder.code), index, garment), problem=problem)
    images = product.shopify["images"]
    images.append({**images[-1], "id": builder.new_id(30_000_000_000_000, 39_999_999_999_999),
                   "position": index, "variant_ids": [], "src": f"{spec.path}?v={spec.version}",
                   "width": width, "height": height})
    product.image_specs.append(spec)


def add_curation_cases(sites: dict[str, DemoSite], builders: dict[str, SiteBuilder], rng: random.Random) -> None:
    """Append the problem images to ordinary products of `CASE_SITES` (one per carrier, last in its gallery).

    Args:
        sites: The world's sites (those of `CASE_SITES` are changed in place).
        builders: Each site's builder, for its image naming and fresh ids.
        rng: The cases' own generator, so that the rest of the world is the same with or without them.

    Raises:
        ValueError: If a site has too few products able to carry its cases.
    """
    for name, reasons in _site_reasons(rng).items():
        candidates = sorted((p for p in sites[name].products if is_carrier(p)), key=lambda p: p.id)
        for reason in reasons:
            fitting = [p for p in candidates if suits(reason, p)]
            if not fitting:
                raise ValueError(f"{name}: no ordinary product left to carry a {reason} image "
                                 f"({len(reasons)} cases for the site); lower CASES_PER_REASON")
            product = rng.choice(fitting)
            candidates.remove(product)
            _append(product, builders[name], reason, rng)


def curation_labels(world: DemoWorld) -> list[tuple[str, str]]:
    """(url_path, reason) of every problem image of `world`, by path; every other image is clean."""
    return sorted((spec.path, spec.problem.reason) for product in world.products()
                  for spec in product.image_specs if spec.problem is not None)


def write_labels(world: DemoWorld, path: Path) -> int:
    """Write `curation_labels(world)` to `path` as CSV (`LABEL_COLUMNS`); return the number of rows."""
    rows = curation_labels(world)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(LABEL_COLUMNS)
        writer.writerows(rows)
    return len(rows)


def read_labels(path: Path) -> list[tuple[str, str]]:
    """The (url_path, reason) rows of a labels CSV written by `write_labels`."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != LABEL_COLUMNS:
            raise ValueError(f"{path}: columns {reader.fieldnames}, expected {list(LABEL_COLUMNS)}; "
                             "regenerate it with `python -m pakfashion.demo labels`")
        return [(row["url_path"], row["reason"]) for row in reader]
