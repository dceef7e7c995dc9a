"""A loopback synthetic retail world for tests and `make demo`.

Two Shopify-like Pakistani fashion stores, `demo_shop` on http://127.0.0.1:PORT and
`demo_boutique` on http://127.0.0.2:PORT (with `/collections.json` and each collection's
`products.json`), and a Salesforce Commerce Cloud-like one, `demo_atelier` on
http://127.0.0.3:PORT (no JSON API: gzipped sitemaps and HTML pages with JSON-LD in varied
shapes), with generated garment images, children's wear and non-clothing to exclude (some
given away only by a collection, a URL folder, a description or a site's SKU/handle
convention: `pakfashion.demo.evidence`), broken and duplicate images, and switchable faults
(among them `Faults.image_faults`, see `image_faults.IMAGE_FAULT_CASES`). Each product
carries its ground truth (`DemoProduct.expected`, `colour`, `garment`, `collections`;
`AtelierProduct` adds `sku` and `page_path`). Some ordinary products end their galleries with a problem image
(size chart, promo banner, swatch, collage, blurred or dark photo: `curation_cases`, the curate stage's ground
truth in assets/demo/curation_labels.csv). `pakfashion.demo.bulk.BulkImageServer` serves thousands of
distinct generated JPEGs for download benchmarks.
"""

from pakfashion.demo.image_faults import IMAGE_FAULT_CASES
from pakfashion.demo.images import COLOURS, DrawSpec, draw_garment
from pakfashion.demo.server import DemoServer, Faults, RequestRecord, running_demo
from pakfashion.demo.world import (
                                   AtelierProduct,
                                   DemoCollection,
                                   DemoProduct,
                                   DemoSite,
                                   DemoWorld,
                                   ImageSpec,
                                   build_world,
)

__all__ = [
    "COLOURS",
    "IMAGE_FAULT_CASES",
    "AtelierProduct",
    "DemoCollection",
    "DemoProduct",
    "DemoServer",
    "DemoSite",
    "DemoWorld",
    "DrawSpec",
    "Faults",
    "ImageSpec",
    "RequestRecord",
    "build_world",
    "draw_garment",
    "running_demo",
]
