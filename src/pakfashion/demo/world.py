"""Deterministic synthetic retail world: two Shopify-like Pakistani fashion sites and one
Salesforce Commerce Cloud-like site (HTML product pages with JSON-LD, no JSON API).

`build_world(seed)` returns the same products (ids, titles, prices, image specs) and
Shopify collections for the same seed. Image URLs are stored as paths; the server renders
full URLs once its port is known (`DemoProduct.render`).
"""

from __future__ import annotations

import copy
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pakfashion.demo.evidence import (
    ATELIER_DESIGNS,
    BOUTIQUE_COLLECTIONS,
    BOUTIQUE_DESIGNS,
    FRONTPAGE_SIZE,
    SHOP_COLLECTIONS,
    SHOP_DESIGNS,
    CollectionPlan,
    Design,
    Expected,
    Meaning,
)
from pakfashion.demo.images import (
    BORDERED,
    COLOURS,
    DrawSpec,
    Pattern,
    Shape,
    draw_garment,
)
from pakfashion.demo.problem_images import ProblemImage, draw_problem

Platform = Literal["shopify", "sfcc", "sfcc_variants", "woocommerce", "magento"]
"""Which route table serves a site (`DemoServer`): the demo's own names, not `pakfashion.config.Platform`."""
Layout = Literal["product", "type_list", "graph", "group", "cdata", "trailing_comma", "og_only",
                 "aggregate"]
"""How an atelier product page describes its product (see `atelier_pages.json_ld`)."""
ImageForm = Literal["string", "list", "object"]
PriceType = Literal["number", "string"]

PKT = timezone(timedelta(hours=5))
"""Pakistan Standard Time, the offset every demo timestamp carries."""

DEFAULT_DISALLOWED: tuple[str, ...] = (
    "/admin", "/cart", "/checkout", "/account", "/search", "/collections/private",
)
ATELIER_DISALLOWED: tuple[str, ...] = ("/private/", "/*?start=", "/*&sz=", "/on/demandware.store/")
"""The atelier's robots.txt `Disallow:` rules (SFCC style, with wildcards)."""

ATELIER_IMAGE_ROOT = "/dw/image/v2/BJTM_PRD/on/demandware.static/-/Sites-master/default"
"""Path prefix of atelier images (SFCC Dynamic Imaging)."""

ATELIER_LAYOUTS: tuple[Layout, ...] = (
    "product", "graph", "product", "group", "type_list", "product",
    "cdata", "product", "aggregate", "product", "trailing_comma", "graph",
    "product", "og_only", "group", "product", "type_list", "product",
    "group", "product", "product", "graph", "product", "product",
)
"""Page layout of each public atelier product, in SKU order (24 products)."""

ADULT_SIZES: tuple[str, ...] = ("XS", "S", "M", "L", "XL")
KID_SIZES_Y: tuple[str, ...] = ("2-3Y", "3-4Y", "4-5Y", "5-6Y", "7-8Y")
KID_SIZES_YEARS: tuple[str, ...] = ("2-3 Years", "4-5 Years", "6-7 Years", "8-9 Years")
BABY_SIZES: tuple[str, ...] = ("6-12M", "1-2Y", "2-3Y")

IMAGE_SIZES: tuple[tuple[int, int], ...] = (
    (512, 512), (480, 640), (400, 600), (640, 640), (384, 512), (256, 256),
    (320, 480), (600, 450),
)

ADJECTIVES: dict[str, Pattern] = {
    "Embroidered": "neckline",
    "Chikankari": "neckline",
    "Printed": "buttis",
    "Digital Printed": "buttis",
    "Block Printed": "buttis",
    "Jacquard": "hem",
    "Plain": "none",
    "Dyed": "none",
}


@dataclass(frozen=True)
class GarmentKind:
    """An adult garment type: how to title, size, price and draw it."""

    name: str
    shape: Shape
    noun: str
    product_type: str
    fabrics: tuple[str, ...]
    sizes: tuple[str, ...] = ADULT_SIZES
    price: tuple[int, int] = (2990, 6990)


GARMENTS: tuple[GarmentKind, ...] = (
    GarmentKind("kurta", "tunic", "{fabric} Kurta", "Kurta",
                ("lawn", "cambric", "khaddar", "cotton", "linen", "silk")),
    GarmentKind("kurti", "short_tunic", "{fabric} Kurti", "Kurti",
                ("lawn", "cambric", "cotton", "chiffon"), price=(1990, 4490)),
    GarmentKind("shalwar kameez", "shalwar_suit", "{fabric} Shalwar Kameez", "Shalwar Kameez",
                ("lawn", "cambric", "cotton", "khaddar"), price=(3990, 8990)),
    GarmentKind("3-piece suit", "suit3", "3 Piece Unstitched {fabric} Suit", "Unstitched",
                ("lawn", "khaddar", "karandi", "cambric"), ("Unstitched",), (4990, 12990)),
    GarmentKind("2-piece suit", "suit", "2 Piece {fabric} Suit", "2 Piece",
                ("lawn", "cambric", "khaddar", "linen"), price=(3990, 7990)),
    GarmentKind("dupatta", "wrap", "{fabric} Dupatta", "Dupatta",
                ("chiffon", "lawn", "silk", "cotton"), ("One Size",), (1490, 3990)),
    GarmentKind("shawl", "shawl", "{fabric} Shawl", "Shawl",
                ("karandi", "khaddar", "cotton"), ("One Size",), (2990, 8990)),
    GarmentKind("lehenga", "dress", "{fabric} Lehenga", "Lehenga",
                ("silk", "chiffon"), price=(14990, 39990)),
    GarmentKind("abaya", "abaya", "{fabric} Abaya", "Abaya",
                ("chiffon", "linen", "silk"), price=(5990, 11990)),
    GarmentKind("trousers", "trousers", "{fabric} Trousers", "Trousers",
                ("cambric", "cotton", "linen", "khaddar"), price=(1490, 2990)),
    GarmentKind("shalwar", "shalwar", "{fabric} Shalwar", "Shalwar",
                ("cambric", "cotton", "lawn"), price=(1290, 2490)),
    GarmentKind("waistcoat", "sleeveless", "{fabric} Waistcoat", "Waistcoat",
                ("karandi", "khaddar", "linen", "cotton"), price=(3490, 6990)),
)


@dataclass(frozen=True)
class KidsTemplate:
    """A children's wear product template; `{C}` in the title is the colour."""

    title: str
    garment: str
    shape: Shape
    product_type: str
    tags: tuple[str, ...]
    sizes: tuple[str, ...]
    fabric: str = "cotton"


KIDS_TEMPLATES: tuple[KidsTemplate, ...] = (
    KidsTemplate("Boys {C} Kurta Shalwar", "kurta", "tunic", "", ("kids", "boys", "eid"),
                 KID_SIZES_YEARS),
    KidsTemplate("Girls {C} Frock", "frock", "frock", "Kids", ("kids", "girls"), KID_SIZES_Y),
    KidsTemplate("Girls {C} Embroidered Lawn Frock", "frock", "frock", "Girls",
                 ("kids", "girls", "lawn"), KID_SIZES_YEARS, "lawn"),
    KidsTemplate("Boys {C} Cotton Waistcoat", "waistcoat", "sleeveless", "Boys",
                 ("kids", "boys"), KID_SIZES_Y),
    KidsTemplate("Baby Girl {C} Lehenga Set", "lehenga", "dress", "Kids",
                 ("kids", "girls", "baby"), BABY_SIZES),
    KidsTemplate("Girls {C} Printed Kurti", "kurti", "short_tunic", "Kids",
                 ("kids", "girls"), KID_SIZES_Y),
)


@dataclass(frozen=True)
class NonClothingTemplate:
    """A fragrance or home product that the pipeline must exclude."""

    title: str
    product_type: str
    tags: tuple[str, ...]
    shape: Shape
    colour: str
    accent: str
    option_name: str
    values: tuple[str, ...]
    price: int
    blurb: str


SHOP_NON_CLOTHING: tuple[NonClothingTemplate, ...] = (
    NonClothingTemplate("Oud Noir Eau de Parfum 100ml", "Fragrance", ("fragrance", "perfume", "men"),
                        "bottle", "black", "gold", "Size", ("100ml",), 6490,
                        "A deep oud eau de parfum with notes of amber, leather and smoked wood."),
    NonClothingTemplate("Rose Attar 12ml", "", ("attar", "fragrance", "alcohol free"),
                        "bottle", "maroon", "gold", "Size", ("6ml", "12ml"), 1890,
                        "A traditional alcohol-free rose attar, long lasting on skin and fabric."),
    NonClothingTemplate("Jasmine Scented Candle", "Home", ("home", "candle", "fragrance"),
                        "candle", "white", "orange", "Title", ("Default Title",), 2490,
                        "A hand-poured soy wax candle scented with motia (jasmine)."),
)
BOUTIQUE_NON_CLOTHING: tuple[NonClothingTemplate, ...] = (
    NonClothingTemplate("Amber Musk Eau de Parfum 50ml", "Fragrance", ("fragrance", "perfume", "women"),
                        "bottle", "mustard", "silver", "Size", ("50ml",), 4990,
                        "A warm amber and white musk eau de parfum for women."),
    NonClothingTemplate("Velvet Oud Body Mist 250ml", "Fragrance", ("fragrance", "body mist"),
                        "bottle", "purple", "gold", "Size", ("250ml",), 1990,
                        "A light body mist with velvet oud and rose."),
    NonClothingTemplate("Cotton Bedsheet Set - King", "Home Textile", ("home", "bedding", "cotton"),
                        "sheet", "teal", "ivory", "Size", ("Single", "Double", "King"), 7490,
                        "A 100% cotton printed bedsheet with two pillow covers."),
)
ATELIER_NON_CLOTHING: tuple[NonClothingTemplate, ...] = (
    NonClothingTemplate("Noor Eau de Parfum 100ml", "Fragrance", ("fragrance", "perfume", "women"),
                        "bottle", "pink", "gold", "Size", ("100ml",), 5490,
                        "A floral eau de parfum with rose, saffron and white musk."),
    NonClothingTemplate("Sandalwood Attar 6ml", "Attar", ("attar", "fragrance", "alcohol free"),
                        "bottle", "beige", "gold", "Size", ("3ml", "6ml"), 1490,
                        "A concentrated, alcohol-free sandalwood attar in a cut-glass bottle."),
)


@dataclass(frozen=True)
class ImageSpec:
    """One product image: where it is served and what it shows.

    Attributes:
        path: Server path, e.g. "/cdn/shop/files/DS0012-MAROON_1.jpg".
        version: The `?v=` cache-busting number Shopify appends.
        absolute: True for an "http://host:port/..." URL, False for "//host:port/...".
        draw: What to draw (broken images have one too, never served).
        broken: True when the server answers 404 for this path.
        query: The query string to use instead of `v=<version>` (e.g. "sw=800"; "" for none).
        problem: Set on a problem image (a size chart, banner, ... of `pakfashion.demo.curation_cases`): what is
            drawn instead of `draw`'s garment (`draw` still gives its size, format and the product's garment).
    """

    path: str
    version: int
    absolute: bool
    draw: DrawSpec
    broken: bool = False
    query: str | None = None
    problem: ProblemImage | None = None

    def url(self, netloc: str) -> str:
        """Return the URL as it appears in the product JSON, for "host:port" `netloc`."""
        scheme = "http:" if self.absolute else ""
        if self.query is None:
            return f"{scheme}//{netloc}{self.path}?v={self.version}"
        return f"{scheme}//{netloc}{self.path}" + (f"?{self.query}" if self.query else "")

    def encoded(self) -> bytes:
        """Return the file the server sends for this image (its problem image, or its garment)."""
        return draw_garment(self.draw) if self.problem is None else draw_problem(self.problem)


@dataclass
class DemoProduct:
    """A Shopify product dict plus the ground truth the pipeline should reach.

    Attributes:
        site: Site name, e.g. "demo_shop".
        shopify: The `/products.json` product; image `src` holds "path?v=N" until rendered.
        expected: What the pipeline should do: keep, or exclude and why.
        colour: Ground-truth garment colour (a `COLOURS` key), None for non-clothing.
        garment: Ground-truth garment name, None for non-clothing.
        image_specs: One spec per entry of `shopify["images"]`, in order.
        duplicate_of: Id of a same-site product whose first image has identical pixels.
        notes: Why the product is tricky, if it is (for the evidence designs: the one give-away).
        collections: Handles of the site's Shopify collections that list it.
    """

    site: str
    shopify: dict[str, Any]
    expected: Expected
    colour: str | None
    garment: str | None
    image_specs: list[ImageSpec]
    duplicate_of: int | None = None
    notes: str = ""
    collections: tuple[str, ...] = ()
    # A colourway product (`SiteBuilder.colourway`): its colours, one image each, in image order.
    colourway: tuple[str, ...] = ()

    @property
    def id(self) -> int:
        """Shopify product id."""
        return int(self.shopify["id"])

    @property
    def handle(self) -> str:
        """Shopify product handle (URL slug)."""
        return str(self.shopify["handle"])

    @property
    def title(self) -> str:
        """Product title."""
        return str(self.shopify["title"])

    def render(self, netloc: str) -> dict[str, Any]:
        """Return a copy of the Shopify dict with full image URLs for "host:port" `netloc`."""
        product = copy.deepcopy(self.shopify)
        for image, spec in zip(product["images"], self.image_specs):
            image["src"] = spec.url(netloc)
        return product


@dataclass(kw_only=True)
class AtelierProduct(DemoProduct):
    """A product of the SFCC-like atelier: served only as an HTML page.

    `shopify` still holds the catalogue record in the Shopify shape (title, body_html,
    variants, images), but the atelier never serves it as JSON.

    Attributes:
        sku: Product id as it appears in the page URL and JSON-LD, e.g. "AT0003".
        page_path: Canonical page path, e.g. "/red-embroidered-lawn-kurta-AT0003.html".
        price: Price in PKR (the lowest one for an `AggregateOffer`).
        layout: How the page's JSON-LD (or Open Graph) describes the product.
        image_form: JSON-LD `image` as one string, a list of URLs, or ImageObject(s).
        price_type: JSON-LD prices as numbers or strings.
    """

    sku: str
    page_path: str
    price: int
    layout: Layout = "product"
    image_form: ImageForm = "list"
    price_type: PriceType = "number"

    def url(self, netloc: str) -> str:
        """Return the canonical page URL for "host:port" `netloc`."""
        return f"http://{netloc}{self.page_path}"

    def image_urls(self, netloc: str) -> list[str]:
        """Return the absolute URLs of the product's images, in order."""
        return [spec.url(netloc) for spec in self.image_specs]


@dataclass(frozen=True)
class DemoCollection:
    """A Shopify collection (`/collections.json`); its products are those naming its handle.

    Attributes:
        meaning: Ground truth: what the collection holds ("adult", "children", "non_clothing").
    """

    id: int
    handle: str
    title: str
    meaning: Meaning
    description: str
    published_at: str
    updated_at: str


@dataclass
class DemoSite:
    """One demo store served on its own loopback address.

    Attributes:
        platform: "shopify" (`/products.json`) or "sfcc" (HTML pages and sitemaps only).
        disallowed_products: Products whose pages robots.txt disallows (sitemap-listed on
            the atelier); they are not in `products` and a polite crawler never fetches them.
        collections: The Shopify collections, in `/collections.json` order (none on the atelier).
    """

    name: str
    host: str
    products: list[DemoProduct]
    crawl_delay_s: float = 0.05
    disallowed_prefixes: list[str] = field(default_factory=lambda: list(DEFAULT_DISALLOWED))
    vendor: str = ""
    platform: Platform = "shopify"
    disallowed_products: list[DemoProduct] = field(default_factory=list)
    collections: list[DemoCollection] = field(default_factory=list)

    def netloc(self, port: int) -> str:
        """Return "host:port"."""
        return f"{self.host}:{port}"

    def base_url(self, port: int) -> str:
        """Return the site's base URL, e.g. "http://127.0.0.1:8000"."""
        return f"http://{self.netloc(port)}"

    def product(self, handle: str) -> DemoProduct | None:
        """Return the product with `handle`, or None."""
        return next((p for p in self.products if p.handle == handle), None)

    def collection(self, handle: str) -> DemoCollection | None:
        """Return the collection with `handle`, or None."""
        return next((c for c in self.collections if c.handle == handle), None)

    def collection_products(self, handle: str) -> list[DemoProduct]:
        """Return the products listed in collection `handle`, in `/products.json` order."""
        return [p for p in self.products if handle in p.collections]

    def collections_of(self, product: DemoProduct) -> list[dict[str, str]]:
        """Return `[{"handle", "title"}]` of the collections listing `product`, by handle (a crawl's
        `ProductRecord.collections` holds those of them its `crawl.collections.terms` signal)."""
        return [{"handle": c.handle, "title": c.title}
                for c in sorted(self.collections, key=lambda c: c.handle) if c.handle in product.collections]

    def images(self) -> dict[str, ImageSpec]:
        """Return every image spec of the site (disallowed products too) keyed by its path."""
        return {spec.path: spec for p in [*self.products, *self.disallowed_products]
                for spec in p.image_specs}

    def product_path(self, product: DemoProduct) -> str:
        """Return the path of `product`'s HTML page on this site."""
        if isinstance(product, AtelierProduct):
            return product.page_path
        return f"/products/{product.handle}"

    def page(self, path: str) -> AtelierProduct | None:
        """Return the atelier product (disallowed ones included) whose page is at `path`, or None."""
        return next((p for p in [*self.products, *self.disallowed_products]
                     if isinstance(p, AtelierProduct) and p.page_path == path), None)

    @property
    def disallowed_pages(self) -> list[str]:
        """Paths of the product pages robots.txt disallows (never requested by a polite crawler)."""
        return [self.product_path(p) for p in self.disallowed_products]


@dataclass
class DemoWorld:
    """All demo sites, built deterministically from `seed`."""

    seed: int
    sites: dict[str, DemoSite]

    def products(self, site: str | None = None) -> list[DemoProduct]:
        """Return the products of one site, or of all sites in site order."""
        if site is not None:
            return list(self.sites[site].products)
        return [p for s in self.sites.values() for p in s.products]

    def counts(self) -> dict[str, dict[str, int]]:
        """Return {site: {expected label: count}} for the ground truth."""
        out: dict[str, dict[str, int]] = {}
        for name, site in self.sites.items():
            tally: dict[str, int] = {}
            for product in site.products:
                tally[product.expected] = tally.get(product.expected, 0) + 1
            out[name] = dict(sorted(tally.items()))
        return out


def slugify(text: str) -> str:
    """Return a Shopify-style handle for `text`."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class SiteBuilder:
    """Builds one site's products from a seeded random generator."""

    def __init__(self, rng: random.Random, site: str, code: str, vendor: str,
                 used_ids: set[int]) -> None:
        self.rng = rng
        self.site = site
        self.code = code
        self.vendor = vendor
        self.used_ids = used_ids
        self.handles: set[str] = set()
        self.count = 0
        # Running numbers of the site's product lines with their own SKU code (demo.evidence).
        self.line_counts: dict[str, int] = {}

    def new_id(self, low: int, high: int) -> int:
        """Return a fresh id in [low, high) not used anywhere in the world."""
        while True:
            value = self.rng.randrange(low, high)
            if value not in self.used_ids:
                self.used_ids.add(value)
                return value

    def handle(self, title: str) -> str:
        """Return a unique handle for `title` within the site."""
        base = slugify(title)
        candidate, n = base, 1
        while candidate in self.handles:
            n += 1
            candidate = f"{base}-{n}"
        self.handles.add(candidate)
        return candidate

    def dates(self) -> tuple[str, str, str]:
        """Return (created_at, published_at, updated_at) ISO strings in +05:00."""
        created = datetime(2024, 1, 1, 9, tzinfo=PKT) + timedelta(seconds=self.rng.randrange(540 * 86400))
        published = created + timedelta(seconds=self.rng.randrange(3600, 3 * 86400))
        updated = published + timedelta(seconds=self.rng.randrange(120 * 86400))
        return created.isoformat(), published.isoformat(), updated.isoformat()

    def image_spec(self, number: int, index: int, draw: DrawSpec, broken: bool = False) -> ImageSpec:
        """Return the spec of image `index` (1-based) of product `number`."""
        absolute = self.rng.random() < 0.5
        folder = "products" if absolute else "files"
        ext = "jpg" if draw.fmt == "JPEG" else "png"
        path = f"/cdn/shop/{folder}/{self.code}{number:04d}-{draw.colour.upper()}_{index}.{ext}"
        version = 1712345678 + self.rng.randrange(30_000_000)
        return ImageSpec(path=path, version=version, absolute=absolute, draw=draw, broken=broken)

    def draw_spec(self, shape: Shape, colour: str, pattern: Pattern, scale: float = 0.86,
                  accent: str | None = None) -> DrawSpec:
        """Return a drawing spec with a random size, format and accent colour."""
        width, height = self.rng.choice(IMAGE_SIZES)
        fmt = "PNG" if self.rng.random() < 0.3 else "JPEG"
        accent = accent or self.rng.choice(["gold", "silver", "ivory", "crimson", "emerald"])
        return DrawSpec(shape=shape, colour=colour, accent=accent, pattern=pattern,
                        width=width, height=height, fmt=fmt, scale=scale)

    def variants(self, product_id: int, sku: str, option_values: tuple[str, ...],
                 price: int, compare: int | None, stamps: tuple[str, str, str]) -> list[dict[str, Any]]:
        """Return Shopify variant dicts, one per option value (SKU `sku` plus the value)."""
        out = []
        for position, value in enumerate(option_values, start=1):
            suffix = "" if value == "Default Title" else "-" + slugify(value).upper()
            out.append({
                "id": self.new_id(40_000_000_000_000, 49_999_999_999_999),
                "title": value,
                "option1": value,
                "option2": None,
                "option3": None,
                "sku": f"{sku}{suffix}",
                "requires_shipping": True,
                "taxable": True,
                "featured_image": None,
                "available": self.rng.random() > 0.15,
                "price": f"{price}.00",
                "grams": 400,
                "compare_at_price": None if compare is None else f"{compare}.00",
                "position": position,
                "product_id": product_id,
                "created_at": stamps[0],
                "updated_at": stamps[2],
            })
        return out

    def product(self, *, title: str, body_html: str, product_type: str, tags: list[str],
                option_name: str, option_values: tuple[str, ...], price: int,
                specs: list[ImageSpec], number: int, product_id: int, handle: str = "",
                sku: str = "") -> dict[str, Any]:
        """Return a Shopify product dict (image src as "path?v=N").

        `handle` and `sku` default to the title's slug and the site code plus `number`.
        """
        stamps = self.dates()
        compare = price + 1000 * self.rng.randrange(1, 4) if self.rng.random() < 0.3 else None
        images = [{
            "id": self.new_id(30_000_000_000_000, 39_999_999_999_999),
            "created_at": stamps[0],
            "position": position,
            "updated_at": stamps[2],
            "product_id": product_id,
            "variant_ids": [],
            "src": f"{spec.path}?v={spec.version}",
            "width": spec.draw.width,
            "height": spec.draw.height,
        } for position, spec in enumerate(specs, start=1)]
        return {
            "id": product_id,
            "title": title,
            "handle": self.handle(handle or title),
            "body_html": body_html,
            "published_at": stamps[1],
            "created_at": stamps[0],
            "updated_at": stamps[2],
            "vendor": self.vendor,
            "product_type": product_type,
            "tags": sorted(tags),
            "variants": self.variants(product_id, sku or f"{self.code}{number:04d}", option_values, price,
                                      compare, stamps),
            "images": images,
            "options": [{"name": option_name, "position": 1, "values": list(option_values)}],
        }

    def next_number(self) -> tuple[int, int]:
        """Return (running product number, new product id)."""
        self.count += 1
        return self.count, self.new_id(7_700_000_000_000, 7_999_999_999_999)

    def adult(self, kind: GarmentKind, colour: str, *, adjective: str | None = None,
              fabric: str | None = None, title: str | None = None, product_type: str | None = None,
              tags: tuple[str, ...] = (), body_extra: str = "", n_images: int = 1,
              broken: tuple[int, ...] = (), first_draw: DrawSpec | None = None,
              notes: str = "") -> DemoProduct:
        """Return an adult garment; `broken` lists 1-based image indices that 404."""
        number, product_id = self.next_number()
        adjective = adjective or self.rng.choice(sorted(ADJECTIVES))
        fabric = fabric or self.rng.choice(kind.fabrics)
        noun = kind.noun.format(fabric=fabric.title())
        title = title or f"{colour.title()} {adjective} {noun}"
        pattern: Pattern = ADJECTIVES[adjective]
        if kind.shape in BORDERED and pattern != "none":
            pattern = "border"
        specs = []
        for index in range(1, n_images + 1):
            draw = first_draw if (index == 1 and first_draw) else self.draw_spec(kind.shape, colour, pattern)
            specs.append(self.image_spec(number, index, draw, broken=index in broken))
        body = (f"<p>A {colour} {fabric} {noun.lower()} with {adjective.lower()} detailing, "
                f"finished in {colour}.</p>{body_extra}"
                f"<ul><li>Colour: {colour.title()}</li><li>Fabric: {fabric.title()}</li>"
                f"<li>Fit: Regular</li><li>Care: Dry clean only</li></ul>")
        price = self.rng.randrange(kind.price[0] // 100, kind.price[1] // 100 + 1) * 100 + 90
        shopify = self.product(
            title=title, body_html=body,
            product_type=kind.product_type if product_type is None else product_type,
            tags=["women", fabric, colour, kind.name, *tags], option_name="Size",
            option_values=kind.sizes, price=price, specs=specs, number=number, product_id=product_id)
        usable = any(not s.broken for s in specs)
        return DemoProduct(site=self.site, shopify=shopify, expected="keep" if usable else "no_image",
                           colour=colour, garment=kind.name, image_specs=specs, notes=notes)

    def colourway(self, kind: GarmentKind, colours: tuple[str, ...], *, fabric: str | None = None) -> DemoProduct:
        """Return one garment sold in several colours: a "Colour" option with a variant and an image per
        colour, each image naming its variant in `variant_ids` (as Shopify's images do)."""
        number, product_id = self.next_number()
        fabric = fabric or self.rng.choice(kind.fabrics)
        noun = kind.noun.format(fabric=fabric.title())
        specs = [self.image_spec(number, index, self.draw_spec(kind.shape, colour, "none"))
                 for index, colour in enumerate(colours, start=1)]
        names = tuple(colour.title() for colour in colours)
        body = (f"<p>A {fabric} {kind.name} in {len(colours)} colours: {', '.join(colours)}.</p>"
                f"<ul><li>Fabric: {fabric.title()}</li><li>Fit: Regular</li></ul>")
        price = self.rng.randrange(kind.price[0] // 100, kind.price[1] // 100 + 1) * 100 + 90
        shopify = self.product(
            title=f"Plain {noun}", body_html=body, product_type=kind.product_type,
            tags=["women", fabric, kind.name, *colours], option_name="Colour", option_values=names,
            price=price, specs=specs, number=number, product_id=product_id)
        for image, variant in zip(shopify["images"], shopify["variants"]):
            image["variant_ids"] = [variant["id"]]
        return DemoProduct(site=self.site, shopify=shopify, expected="keep", colour=colours[0],
                           garment=kind.name, image_specs=specs, notes="one image per colour variant",
                           colourway=colours)

    def kids(self, template: KidsTemplate, colour: str, n_images: int = 1) -> DemoProduct:
        """Return a children's wear product."""
        number, product_id = self.next_number()
        title = template.title.format(C=colour.title())
        specs = [self.image_spec(number, i, self.draw_spec(template.shape, colour, "none", scale=0.6))
                 for i in range(1, n_images + 1)]
        body = (f"<p>A {colour} {template.garment} for little ones, soft {template.fabric} that is "
                f"easy to wear all day.</p><ul><li>Colour: {colour.title()}</li>"
                f"<li>Fabric: {template.fabric.title()}</li>"
                f"<li>Age: {template.sizes[0]} to {template.sizes[-1]}</li></ul>")
        price = self.rng.randrange(12, 40) * 100 + 90
        shopify = self.product(
            title=title, body_html=body, product_type=template.product_type,
            tags=[*template.tags, colour], option_name="Size", option_values=template.sizes,
            price=price, specs=specs, number=number, product_id=product_id)
        return DemoProduct(site=self.site, shopify=shopify, expected="children", colour=colour,
                           garment=template.garment, image_specs=specs)

    def non_clothing(self, template: NonClothingTemplate) -> DemoProduct:
        """Return a fragrance or home product."""
        number, product_id = self.next_number()
        draw = self.draw_spec(template.shape, template.colour, "none", accent=template.accent)
        specs = [self.image_spec(number, 1, draw)]
        body = (f"<p>{template.blurb}</p><ul>"
                + "".join(f"<li>{option}</li>" for option in template.values if option != "Default Title")
                + "<li>Made in Pakistan</li></ul>")
        shopify = self.product(
            title=template.title, body_html=body, product_type=template.product_type,
            tags=list(template.tags), option_name=template.option_name,
            option_values=template.values, price=template.price, specs=specs,
            number=number, product_id=product_id)
        return DemoProduct(site=self.site, shopify=shopify, expected="non_clothing", colour=None,
                           garment=None, image_specs=specs)

    def design(self, design: Design) -> DemoProduct:
        """Return a hand-written evidence product (see `pakfashion.demo.evidence`)."""
        number, product_id = self.next_number()
        scale = 0.6 if design.expected == "children" else 0.86
        draw = self.draw_spec(design.shape, design.colour, design.pattern, scale=scale, accent=design.accent)
        specs = [self.image_spec(number, 1, draw)]
        sku = ""
        if design.sku_code:
            self.line_counts[design.sku_code] = self.line_counts.get(design.sku_code, 0) + 1
            sku = f"{design.sku_code}{self.line_counts[design.sku_code]:04d}"
        shopify = self.product(
            title=design.title, body_html=design.body, product_type=design.product_type,
            tags=list(design.tags), option_name=design.option_name, option_values=design.sizes,
            price=design.price, specs=specs, number=number, product_id=product_id, handle=design.handle,
            sku=sku)
        garment = design.garment
        return DemoProduct(site=self.site, shopify=shopify, expected=design.expected,
                           colour=design.colour if garment else None, garment=garment, image_specs=specs,
                           notes=design.notes, collections=design.collections)

    def collections(self, plans: tuple[CollectionPlan, ...]) -> list[DemoCollection]:
        """Return the site's collections in plan order, with fresh ids and dates."""
        out = []
        for plan in plans:
            _, published, updated = self.dates()
            out.append(DemoCollection(id=self.new_id(260_000_000_000, 299_999_999_999), handle=plan.handle,
                                      title=plan.title, meaning=plan.meaning, description=plan.description,
                                      published_at=published, updated_at=updated))
        return out


class _AtelierBuilder(SiteBuilder):
    """Builds atelier products: SFCC Dynamic Imaging image URLs, SKU-named pages."""

    def image_spec(self, number: int, index: int, draw: DrawSpec, broken: bool = False) -> ImageSpec:
        """Return the spec of image `index` (1-based) of product `number`, e.g. ".../AT0003_1.jpg"."""
        ext = "jpg" if draw.fmt == "JPEG" else "png"
        token = f"dw{self.rng.getrandbits(32):08x}"
        path = f"{ATELIER_IMAGE_ROOT}/{token}/images/{self.code}{number:04d}_{index}.{ext}"
        query = self.rng.choice(("sw=800", "sw=800", "sw=1200&sh=1600&sm=fit"))
        return ImageSpec(path=path, version=0, absolute=True, draw=draw, broken=broken, query=query)

    def sku(self) -> str:
        """Return the SKU of the product built last, e.g. "AT0003"."""
        return f"{self.code}{self.count:04d}"


def _atelier_product(b: _AtelierBuilder, recipe: tuple[str, Any], n_images: int, *, private: bool,
                     layout: Layout = "product", image_form: ImageForm = "list",
                     price_type: PriceType = "number") -> AtelierProduct:
    """Build one atelier product from a ("adult" | "kids" | "non_clothing", args) recipe."""
    kind, args = recipe
    if kind == "adult":
        base = b.adult(*args, n_images=n_images, notes="robots-disallowed /private/ page" if private else "")
    elif kind == "kids":
        base = b.kids(*args, n_images=n_images)
    else:
        base = b.non_clothing(args)
    return _as_atelier(b, base, "/private" if private else "", layout, image_form, price_type)


def _as_atelier(b: _AtelierBuilder, base: DemoProduct, folder: str, layout: Layout = "product",
                image_form: ImageForm = "list", price_type: PriceType = "number") -> AtelierProduct:
    """Return the product built last as an atelier page under `folder` ("" = the site root)."""
    sku = b.sku()
    return AtelierProduct(
        site=base.site, shopify=base.shopify, expected=base.expected, colour=base.colour,
        garment=base.garment, image_specs=base.image_specs, notes=base.notes, sku=sku,
        page_path=f"{folder}/{base.handle}-{sku}.html",
        price=int(float(base.shopify["variants"][0]["price"])),
        layout=layout, image_form=image_form, price_type=price_type)


def _atelier_products(b: _AtelierBuilder) -> tuple[list[DemoProduct], list[DemoProduct]]:
    """Return (public products, robots-disallowed products) of the atelier, in SKU order.

    Public: 20 adult garments, 2 children's wear, 2 fragrances; page layouts from
    `ATELIER_LAYOUTS`. Two more adult garments live under `/private/`.
    """
    rng = b.rng
    kinds = [*GARMENTS, *rng.sample(GARMENTS, 8)]
    colours = sorted(COLOURS)
    rng.shuffle(colours)
    colours += rng.sample(sorted(COLOURS), 4)
    recipes: list[tuple[str, Any]] = [("adult", (kind, colour)) for kind, colour in zip(kinds, colours)]
    kid_colours = rng.sample(["pink", "yellow", "red", "blue", "green", "orange"], 2)
    recipes += [("kids", (template, colour))
                for template, colour in zip(rng.sample(KIDS_TEMPLATES, 2), kid_colours)]
    recipes += [("non_clothing", template) for template in ATELIER_NON_CLOTHING]
    rng.shuffle(recipes)
    private_slots = set(rng.sample(range(1, len(recipes) + 1), 2))
    public: list[DemoProduct] = []
    private: list[DemoProduct] = []
    forms: tuple[ImageForm, ...] = ("list", "string", "object")
    for slot in range(len(recipes) + 2):
        if slot in private_slots:
            recipe = ("adult", (rng.choice(GARMENTS), rng.choice(sorted(COLOURS))))
            private.append(_atelier_product(b, recipe, 1, private=True))
            continue
        index = len(public)
        layout, form = ATELIER_LAYOUTS[index], forms[index % 3]
        if layout == "group":
            n_images = rng.choice([2, 3])
        else:
            n_images = 1 if form == "string" else rng.choice([1, 2, 3])
        public.append(_atelier_product(b, recipes[index], n_images, private=False, layout=layout,
                                       image_form=form, price_type="string" if index % 2 else "number"))
    return public, private


class _UploadsBuilder(SiteBuilder):
    """Builds WooCommerce-style image URLs: ``/wp-content/uploads/<year>/<month>/<name>.jpg``."""

    def image_spec(self, number: int, index: int, draw: DrawSpec, broken: bool = False) -> ImageSpec:
        ext = "jpg" if draw.fmt == "JPEG" else "png"
        month = 1 + (number % 12)
        path = f"/wp-content/uploads/2026/{month:02d}/{self.code}{number:04d}-{draw.colour}-{index}.{ext}"
        return ImageSpec(path=path, version=0, absolute=True, draw=draw, broken=broken, query="")


class _MediaBuilder(SiteBuilder):
    """Builds Magento-style image URLs: ``/media/catalog/product/<a>/<b>/<name>.jpg`` (dispersion folders)."""

    def image_spec(self, number: int, index: int, draw: DrawSpec, broken: bool = False) -> ImageSpec:
        ext = "jpg" if draw.fmt == "JPEG" else "png"
        name = f"{self.code.lower()}{number:04d}-{index}"
        path = f"/media/catalog/product/{name[0]}/{name[1]}/{name}.{ext}"
        return ImageSpec(path=path, version=0, absolute=True, draw=draw, broken=broken, query="")


def _platform_products(b: SiteBuilder, extra: int = 0) -> list[DemoProduct]:
    """One demo platform site's products, newest first: 12 ordinary garments (some with several
    images; `extra` more for benchmarks), 2 colourways, 2 children's, 2 non-clothing."""
    rng = b.rng
    products = regular_products(b, 12 + extra)
    products += [b.colourway(_garment("kurta"), ("red", "navy", "mustard")),
                 b.colourway(_garment("dupatta"), ("pink", "teal"))]
    products += [b.kids(template, colour) for template, colour in
                 zip(rng.sample(KIDS_TEMPLATES, 2), rng.sample(["pink", "yellow", "blue", "green"], 2))]
    products += [b.non_clothing(template) for template in rng.sample(SHOP_NON_CLOTHING, 2)]
    return sorted(products, key=lambda p: p.id, reverse=True)


def platform_sites(seed: int, used_ids: set[int], extra: int = 0) -> dict[str, DemoSite]:
    """The demo's WooCommerce-like (127.0.0.5) and Magento-like (127.0.0.6) stores, each from its own
    generator (`extra` more ordinary products each). The SFCC site with master/variation products is
    `pakfashion.demo.sfcc_pages`'s."""
    woo = _UploadsBuilder(random.Random(f"{seed}:demo_woo"), "demo_woo", "WC", "Demo Woo", used_ids)
    magento = _MediaBuilder(random.Random(f"{seed}:demo_magento"), "demo_magento", "MG", "Demo Magento", used_ids)
    return {
        "demo_woo": DemoSite("demo_woo", "127.0.0.5", _platform_products(woo, extra), vendor="Demo Woo",
                             platform="woocommerce", disallowed_prefixes=["/wp-admin/", "/cart/", "/checkout/",
                                                                          "/my-account/", "/private/"]),
        "demo_magento": DemoSite("demo_magento", "127.0.0.6", _platform_products(magento, extra), vendor="Demo Magento",
                                 platform="magento", disallowed_prefixes=["/checkout/", "/customer/", "/catalogsearch/",
                                                                          "/private/"]),
    }


def _garment(name: str) -> GarmentKind:
    """Return the adult garment kind called `name`."""
    return next(kind for kind in GARMENTS if kind.name == name)


def regular_products(b: SiteBuilder, count: int) -> list[DemoProduct]:
    """Return `count` ordinary adult products covering every garment and colour."""
    rng = b.rng
    kinds = [kind for _ in range(count // len(GARMENTS) + 1) for kind in GARMENTS][:count]
    rng.shuffle(kinds)
    colours = sorted(COLOURS)
    rng.shuffle(colours)
    extra = max(0, count - len(colours))
    # sample() for the standard world (its bytes are pinned by tests); choices() for big catalogs.
    colours += rng.sample(sorted(COLOURS), extra) if extra <= len(COLOURS) else rng.choices(sorted(COLOURS), k=extra)
    multi = set(rng.sample(range(count), 8))
    products = []
    for i, (kind, colour) in enumerate(zip(kinds, colours)):
        n_images = rng.choice([2, 3]) if i in multi else 1
        product_type = "" if i == 0 else None
        notes = "empty product_type" if i == 0 else ""
        products.append(b.adult(kind, colour, n_images=n_images, product_type=product_type, notes=notes))
    return products


def _tricky_products(b: SiteBuilder) -> list[DemoProduct]:
    """Return adult products whose words look like kids' wear, plus an identical-image pair."""
    rng = b.rng
    gno_colour, gno2_colour, eid_colour, pair_colour = rng.sample(["black", "maroon", "navy",
                                                                   "purple", "red", "teal"], 4)
    gno_tags = ("girls night out", "party wear")
    gno_body = "<p>From our Girls Night Out women's party collection.</p>"
    first = b.adult(_garment("kurta"), pair_colour, adjective="Embroidered", fabric="lawn",
                    notes="identical first image with its re-listing")
    relisted = b.adult(_garment("kurta"), pair_colour, adjective="Embroidered", fabric="lawn",
                       title=f"{first.title} - Restock", first_draw=first.image_specs[0].draw,
                       notes="first image pixels identical to another product")
    relisted.duplicate_of = first.id
    return [
        b.adult(_garment("kurti"), gno_colour, adjective="Embroidered", fabric="chiffon",
                title=f"Girls Night Out {gno_colour.title()} Sequined Chiffon Kurti",
                tags=gno_tags, body_extra=gno_body, n_images=2, notes="adult: 'Girls' is a collection"),
        b.adult(_garment("lehenga"), gno2_colour, fabric="silk",
                title=f"Girls Night Out {gno2_colour.title()} Silk Lehenga",
                tags=gno_tags, body_extra=gno_body, notes="adult: 'Girls' is a collection"),
        b.adult(_garment("shalwar kameez"), eid_colour, tags=("eid", "festive"),
                body_extra="<p>Perfect for Eid with the kids.</p>", notes="adult: mentions kids"),
        b.adult(_garment("kurti"), "pink", adjective="Printed", fabric="lawn",
                title="Baby Pink Printed Lawn Kurti", notes="adult: 'Baby' is a colour"),
        first,
        relisted,
    ]


def _store_collections(product: DemoProduct, handles: set[str]) -> tuple[str, ...]:
    """Return the collections (of `handles`) a real store would list an ordinary product in."""
    tags = set(product.shopify["tags"])
    if product.expected == "children":
        wanted = {"kids-eid-edit", "little-stars-girls" if "girls" in tags else "little-stars-boys"}
    elif product.garment is None:
        wanted = {"home-living"} if "home" in tags else {"fragrances"}
    elif product.garment == "3-piece suit":
        wanted = {"unstitched-lawn" if "lawn" in tags else "unstitched-winter"}
    else:
        wanted = {"dupattas-shawls" if product.garment in ("dupatta", "shawl") else "women-pret"}
    if product.garment is not None and product.expected != "children":
        if tags & {"eid", "festive"} or product.garment == "lehenga":
            wanted.add("eid-edit")
        if "girls night out" in tags:
            wanted.add("girls-night-out")
    return tuple(sorted(wanted & handles))


def _site_products(b: SiteBuilder, non_clothing: tuple[NonClothingTemplate, ...],
                   designs: tuple[Design, ...], plans: tuple[CollectionPlan, ...],
                   broken_only: bool, regular: int = 24) -> list[DemoProduct]:
    """Return all products of one site, newest (highest id) first, each with its collections.

    The evidence `designs` are built last, so the other products are the same with or without them.
    """
    rng = b.rng
    kid_templates = [KIDS_TEMPLATES[0], *rng.sample(KIDS_TEMPLATES[1:], 4)]
    kid_colours = rng.sample(["pink", "yellow", "red", "blue", "green", "orange", "purple"], 5)
    products = regular_products(b, regular)
    products += _tricky_products(b)
    products += [b.kids(t, c, n_images=2 if i == 1 else 1)
                 for i, (t, c) in enumerate(zip(kid_templates, kid_colours))]
    products += [b.non_clothing(t) for t in non_clothing]
    products.append(b.adult(_garment("kurta"), rng.choice(sorted(COLOURS)), n_images=0,
                            notes="no images at all"))
    if broken_only:
        products.append(b.adult(_garment("dupatta"), "olive", n_images=1, broken=(1,),
                                notes="only image 404s"))
    else:
        products.append(b.adult(_garment("2-piece suit"), "olive", n_images=2, broken=(1,),
                                notes="first image 404s, second is fine"))
    handles = {plan.handle for plan in plans}
    for product in products:
        product.collections = _store_collections(product, handles)
    products += [b.design(design) for design in designs]
    ordered = sorted(products, key=lambda p: p.id, reverse=True)
    if "frontpage" in handles:
        for product in [p for p in ordered if p.expected == "keep" and not p.notes][:FRONTPAGE_SIZE]:
            product.collections = tuple(sorted({*product.collections, "frontpage"}))
    return ordered


def build_world(seed: int = 7, *, extra_shop_products: int = 0, platform_demos: bool = False,
                extra_platform_products: int = 0) -> DemoWorld:
    """Build the demo world; the same seed always gives an equal world.

    Args:
        seed: Random seed for titles, colours, ids, prices, dates and image specs.
        extra_shop_products: More ordinary products on demo_shop (benchmarks of big catalogs);
            0 keeps the standard world.
        platform_demos: Add the stores of the other platforms, built last from their own generators
            (the three sites above are the same either way): demo_sfcc (127.0.0.4), demo_woo
            (127.0.0.5) and demo_magento (127.0.0.6).
        extra_platform_products: More ordinary products on each of those (benchmarks).

    Returns:
        A world with "demo_shop" (127.0.0.1, 54 products) and "demo_boutique" (127.0.0.2, 55),
        each with its Shopify collections, and "demo_atelier" (127.0.0.3, SFCC-like), 25 products
        plus 2 robots-disallowed ones. Of those, 40, 40 and 24 are the original world (unchanged);
        the rest are the evidence designs of `pakfashion.demo.evidence`. Some ordinary products of the three
        end their galleries with a problem image (`pakfashion.demo.curation_cases`).
    """
    used_ids: set[int] = set()
    shop = SiteBuilder(random.Random(f"{seed}:demo_shop"), "demo_shop", "DS", "Demo Shop", used_ids)
    boutique = SiteBuilder(random.Random(f"{seed}:demo_boutique"), "demo_boutique", "DB",
                            "Demo Boutique", used_ids)
    sites = {
        "demo_shop": DemoSite("demo_shop", "127.0.0.1",
                              _site_products(shop, SHOP_NON_CLOTHING, SHOP_DESIGNS, SHOP_COLLECTIONS,
                                             broken_only=False, regular=24 + extra_shop_products),
                              vendor="Demo Shop", collections=shop.collections(SHOP_COLLECTIONS)),
        "demo_boutique": DemoSite("demo_boutique", "127.0.0.2",
                                  _site_products(boutique, BOUTIQUE_NON_CLOTHING, BOUTIQUE_DESIGNS,
                                                 BOUTIQUE_COLLECTIONS, broken_only=True),
                                  vendor="Demo Boutique",
                                  collections=boutique.collections(BOUTIQUE_COLLECTIONS)),
    }
    # Built last, from its own generator, so the Shopify sites are the same with or without it.
    atelier = _AtelierBuilder(random.Random(f"{seed}:demo_atelier"), "demo_atelier", "AT",
                              "Demo Atelier", used_ids)
    public, private = _atelier_products(atelier)
    public += [_as_atelier(atelier, atelier.design(design), design.page_folder) for design in ATELIER_DESIGNS]
    sites["demo_atelier"] = DemoSite("demo_atelier", "127.0.0.3", public,
                                     disallowed_prefixes=list(ATELIER_DISALLOWED),
                                     vendor="Demo Atelier", platform="sfcc",
                                     disallowed_products=private)
    if platform_demos:
        from pakfashion.demo.sfcc_pages import sfcc_site

        sites.update(platform_sites(seed, used_ids, extra_platform_products))
        sites["demo_sfcc"] = sfcc_site(seed, used_ids, extra_platform_products)
    # Last, from their own generator: every product and image above is the same with or without them.
    from pakfashion.demo.curation_cases import add_curation_cases

    add_curation_cases(sites, {"demo_shop": shop, "demo_boutique": boutique, "demo_atelier": atelier},
                       random.Random(f"{seed}:curation_cases"))
    return DemoWorld(seed=seed, sites=sites)
