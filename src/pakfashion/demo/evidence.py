"""Demo products that only one kind of evidence gives away, and the Shopify collections listing them.

Each `Design` is a hand-written product whose title, type, tags and sizes say nothing (a design
name such as "Gulnar"), except the one piece of evidence its `notes` name: the collection listing it,
its page URL and breadcrumbs, its description, or the site's SKU/handle code for a line (demo_boutique's
footwear SKUs start with `FW`, demo_shop's girls' line has handles `ss25-kg-...` and SKUs `KG...`).
Explicit members of those lines (type "Footwear" or "Kids", age or shoe sizes) teach the convention;
adult traps ("baby pink", "girls day out", "Jewel", "Mughal Era", "pair it with heels") must be kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pakfashion.demo.images import Pattern, Shape

Expected = Literal["keep", "children", "non_clothing", "no_image"]
Meaning = Literal["adult", "children", "non_clothing"]

ADULT = ("XS", "S", "M", "L", "XL")
NEUTRAL = ("S", "M", "L")
AGES = ("2-3Y", "3-4Y", "4-5Y", "5-6Y", "7-8Y")
SHOE_SIZES = ("36", "37", "38", "39", "40", "41")
DEFAULT_TITLE = ("Default Title",)
NEW = "new-arrivals"
"""Every design is new this season: all of them are listed in "New Arrivals" (not a signalled collection)."""


@dataclass(frozen=True)
class CollectionPlan:
    """A Shopify collection of a demo site; `meaning` is the ground truth of what it holds."""

    handle: str
    title: str
    meaning: Meaning
    description: str


ADULT_COLLECTIONS: tuple[CollectionPlan, ...] = (
    CollectionPlan("women-pret", "Women Pret", "adult", "Ready-to-wear kurtas, kurtis and suits."),
    CollectionPlan("unstitched-lawn", "Unstitched Lawn", "adult", "Three-piece lawn suits to tailor your way."),
    CollectionPlan("unstitched-winter", "Unstitched Winter", "adult", "Khaddar, karandi and cambric suits."),
    CollectionPlan("dupattas-shawls", "Dupattas & Shawls", "adult", "Chiffon dupattas and karandi shawls."),
    CollectionPlan("eid-edit", "Eid Edit", "adult", "Festive wear for Eid."),
    CollectionPlan(NEW, "New Arrivals", "adult", "Just in this season."),
)
SHOP_COLLECTIONS: tuple[CollectionPlan, ...] = (
    *ADULT_COLLECTIONS,
    CollectionPlan("girls-night-out", "Girls Night Out", "adult", "Sequins and silk for evenings out."),
    # Shopify's default featured collection: its title carries "home", its products are garments.
    CollectionPlan("frontpage", "Home page", "adult", ""),
    CollectionPlan("kids-eid-edit", "Kids Eid Edit", "children", "Festive outfits for boys and girls."),
    CollectionPlan("fragrances", "Fragrances", "non_clothing", "Eau de parfum and attars."),
    CollectionPlan("home-living", "Home & Living", "non_clothing", "Candles and home fragrance."),
)
BOUTIQUE_COLLECTIONS: tuple[CollectionPlan, ...] = (
    *ADULT_COLLECTIONS,
    CollectionPlan("little-stars-girls", "Little Stars - Girls", "children", "Frocks and kurtis for girls."),
    CollectionPlan("little-stars-boys", "Little Stars - Boys", "children", "Kurtas and waistcoats for boys."),
    CollectionPlan("fragrances", "Fragrances", "non_clothing", "Perfumes and body mists."),
    CollectionPlan("home-living", "Home & Living", "non_clothing", "Bedding and home textiles."),
    CollectionPlan("khussa-sandals", "Khussa & Sandals", "non_clothing", "Handmade khussas and sandals."),
)
FRONTPAGE_SIZE = 6
"""How many ordinary adult products the featured "Home page" collection lists."""


@dataclass(frozen=True)
class Design:
    """A hand-written product.

    Attributes:
        colour: Image fill colour (a `COLOURS` key); the ground-truth colour of a garment.
        garment: Ground-truth garment name; None for non-clothing.
        collections: Handles of the site collections listing it.
        sku_code: The SKU prefix of the site line it belongs to ("" = the site's own code).
        handle: Its Shopify handle when the line names handles its own way ("" = from the title).
        page_folder: Atelier only: the category folder of its page ("" = the site root).
    """

    title: str
    body: str
    expected: Expected
    notes: str
    colour: str
    shape: Shape
    garment: str | None = None
    product_type: str = ""
    tags: tuple[str, ...] = ()
    option_name: str = "Size"
    sizes: tuple[str, ...] = NEUTRAL
    price: int = 4990
    collections: tuple[str, ...] = (NEW,)
    sku_code: str = ""
    handle: str = ""
    pattern: Pattern = "none"
    accent: str = "gold"
    page_folder: str = ""


def _kg(title: str, colour: str, garment: str, shape: Shape, body: str) -> Design:
    """An explicit member of demo_shop's girls' line: type "Kids", age sizes, kid tags."""
    return Design(title, body, "children", "children: type Kids, age sizes (girls' line KG / -kg-)", colour,
                  shape, garment, "Kids", ("kids", "girls", colour), sizes=AGES, price=2990,
                  collections=("kids-eid-edit", NEW), sku_code="KG", handle=f"ss25-kg-{_slug(title)}")


def _fw(title: str, colour: str, body: str) -> Design:
    """An explicit member of demo_boutique's footwear line: type "Footwear", shoe sizes."""
    return Design(title, body, "non_clothing", "non_clothing: type Footwear, shoe sizes (footwear line FW)",
                  colour, "shoe", None, "Footwear", ("footwear", colour), sizes=SHOE_SIZES, price=3490,
                  collections=("khussa-sandals", NEW), sku_code="FW")


def _slug(title: str) -> str:
    return "-".join(title.lower().split())


SHOP_DESIGNS: tuple[Design, ...] = (
    Design("Zarri Noor", "<p>A yellow cotton kurta with zari work at the neckline and cuffs.</p>"
           "<ul><li>Colour: Yellow</li><li>Fabric: Cotton</li></ul>",
           "children", "children: only its collection (Kids Eid Edit) says so", "yellow", "tunic", "kurta",
           "Kurta", ("cotton", "yellow"), collections=("eid-edit", "kids-eid-edit", NEW)),
    Design("Titli", "<p>Made for playtime and school days: a soft green cotton kurta that keeps them comfy "
           "from the first bell to bedtime. Your little one will want to wear it every day.</p>",
           "children", "children: only its description (playtime, school, your little one)", "green", "tunic",
           "kurta", "Kurta", ("cotton", "green")),
    Design("Midnight Bloom", "<p>Top notes of bergamot and pink pepper open onto a heart of rose and jasmine, "
           "settling into a base of oud, amber and musk.</p>",
           "non_clothing", "non_clothing: only its description (top, heart and base notes: a perfume)", "purple",
           "bottle", option_name="Title", sizes=DEFAULT_TITLE, price=5490),
    Design("Nakshi", "<p>A hand-painted ceramic hot plate with a cork base to protect your table, with four "
           "matching coasters and a serving tray.</p>",
           "non_clothing", "non_clothing: only its description (ceramic hot plate, coasters, tray)", "blue",
           "plate", option_name="Title", sizes=DEFAULT_TITLE, price=2490, accent="white"),
    _kg("Chambeli Frock", "pink", "frock", "frock", "<p>A pink cotton frock for girls, easy to wear all day.</p>"),
    _kg("Motia Embroidered Frock", "white", "frock", "frock",
        "<p>A white lawn frock for girls with embroidered yoke.</p>"),
    _kg("Gulab Lehenga Set", "red", "lehenga", "dress", "<p>A red festive lehenga set for girls.</p>"),
    _kg("Nargis Printed Kurti", "yellow", "kurti", "short_tunic", "<p>A yellow printed kurti for girls.</p>"),
    _kg("Sahar Shalwar Kameez", "teal", "shalwar kameez", "shalwar_suit",
        "<p>A teal cotton shalwar kameez for girls.</p>"),
    _kg("Rida Cotton Frock", "orange", "frock", "frock", "<p>An orange cotton frock for girls.</p>"),
    Design("Gulnar", "<p>A pink lawn kurta with delicate thread work.</p>",
           "children", "children: only the girls' line code (handle ss25-kg-..., SKU KG...)", "pink", "tunic",
           "kurta", tags=("pink",), sku_code="KG", handle="ss25-kg-gulnar"),
    Design("Noor Bano", "<p>A blue cambric kurta with a printed border.</p>",
           "children", "children: only the girls' line code (handle ss25-kg-..., SKU KG...)", "blue", "tunic",
           "kurta", tags=("blue",), sku_code="KG", handle="ss25-kg-noor-bano"),
    Design("Jewel Embroidered Lawn Suit", "<p>A maroon unstitched lawn suit from our Jewel range, with an "
           "embroidered front and a printed chiffon dupatta.</p>",
           "keep", "adult: 'Jewel' is a design name, not jewellery", "maroon", "suit3", "3-piece suit",
           "Unstitched", ("women", "lawn", "maroon"), sizes=("Unstitched",), price=8990, pattern="neckline",
           collections=("unstitched-lawn", NEW)),
    Design("Raat Ki Rani Chiffon Kurta", "<p>A black chiffon kurta with a sequinned neckline. Pair it with "
           "heels and a clutch for evening events.</p>",
           "keep", "adult: 'heels' is styling advice", "black", "tunic", "kurta", "Kurta",
           ("women", "chiffon", "black"), sizes=ADULT, price=6490, pattern="neckline",
           collections=("women-pret", NEW)),
)

BOUTIQUE_DESIGNS: tuple[Design, ...] = (
    Design("Meher", "<p>A pink printed cambric kurti with a tie-up neckline.</p>",
           "children", "children: only its collection (Little Stars - Girls) says so", "pink", "short_tunic",
           "kurti", "Kurti", ("cambric", "pink"), collections=("little-stars-girls", NEW)),
    Design("Gulnaz", "<p>Let her twirl through every birthday party in this flared orange lawn dress, with a "
           "soft cotton lining that keeps little ones comfy all day.</p>",
           "children", "children: only its description (let her twirl, little ones)", "orange", "frock",
           "frock", tags=("lawn", "orange")),
    Design("Sitara", "<p>A cushioned sole and a low block heel, with soft padded straps that hold the foot in "
           "place, so every step of a long wedding night stays comfortable.</p>",
           "non_clothing", "non_clothing: only its description (sole, block heel, straps: footwear)", "beige",
           "shoe", option_name="Title", sizes=DEFAULT_TITLE, price=3990),
    Design("Shaam", "<p>Hand-poured soy wax with a cotton wick, in a reusable glass jar. Burn time: up to "
           "45 hours.</p>",
           "non_clothing", "non_clothing: only its description (soy wax, wick, burn time: a candle)", "white",
           "candle", option_name="Title", sizes=DEFAULT_TITLE, price=1990, accent="orange"),
    _fw("Tilla Khussa", "mustard", "<p>Handmade mustard khussa with tilla embroidery.</p>"),
    _fw("Zari Embroidered Khussa", "maroon", "<p>A maroon khussa with zari embroidery and a padded insole.</p>"),
    _fw("Kolhapuri Sandals", "beige", "<p>Leather Kolhapuri sandals with a braided toe strap.</p>"),
    _fw("Block Heel Sandals", "black", "<p>Black sandals on a comfortable block heel.</p>"),
    _fw("Peshawari Chappal", "maroon", "<p>A classic Peshawari chappal in maroon leather.</p>"),
    _fw("Mirror Work Khussa", "pink", "<p>A pink khussa with mirror work on the toe.</p>"),
    Design("Shabnam", "<p>Crafted for the festive season in rich tones. An instant favourite.</p>",
           "non_clothing", "non_clothing: only the footwear line's SKU prefix FW", "mustard", "shoe",
           tags=("mustard",), option_name="Title", sizes=DEFAULT_TITLE, price=3490, sku_code="FW"),
    Design("Roshni", "<p>Our most loved design, back by popular demand.</p>",
           "non_clothing", "non_clothing: only the footwear line's SKU prefix FW", "white", "shoe",
           tags=("white",), option_name="Title", sizes=DEFAULT_TITLE, price=3490, sku_code="FW"),
    Design("Sunday Brunch Lawn Kurti", "<p>A breezy teal lawn kurti made for a girls day out, with printed "
           "buttis all over.</p>",
           "keep", "adult: 'girls day out' is an outing", "teal", "short_tunic", "kurti", "Kurti",
           ("women", "lawn", "teal"), sizes=ADULT, price=3490, pattern="buttis", collections=("women-pret", NEW)),
    Design("Misty Lilac Chiffon Dupatta", "<p>A misty lilac chiffon dupatta with a woven border.</p>",
           "keep", "adult: 'misty lilac' is a colour", "purple", "wrap", "dupatta", "Dupatta",
           ("women", "chiffon", "purple"), sizes=("One Size",), price=2490, pattern="border",
           collections=("dupattas-shawls", NEW)),
    Design("Mughal Era Jacquard Shalwar Kameez", "<p>A navy jacquard shalwar kameez with motifs from the "
           "Mughal era.</p>",
           "keep", "adult: 'Mughal Era' is a design story", "navy", "shalwar_suit", "shalwar kameez", "Shalwar Kameez",
           ("women", "jacquard", "festive"), sizes=ADULT, price=7990, pattern="hem",
           collections=("eid-edit", "women-pret", NEW)),
)

ATELIER_DESIGNS: tuple[Design, ...] = (
    Design("Sunshine Angrakha", "<p>A yellow cotton angrakha with an overlapping front and a tie fastening.</p>",
           "children", "children: only its URL (/kids/girls/) and its BreadcrumbList (Kids > Girls)", "yellow",
           "tunic", "kurta", "Angrakha", ("cotton",), collections=(), page_folder="/kids/girls"),
)
