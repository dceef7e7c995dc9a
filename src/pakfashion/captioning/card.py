"""The dataset card (Hugging Face README.md format) written at the top of the dataset directory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from pakfashion.contracts import PARQUET_DIR, SPLITS
from pakfashion.curation.safety import DETECTOR, DETECTOR_LICENCE


@dataclass(frozen=True)
class CurationSummary:
    """What the curate stage did to the stored images (from curation.csv) and its safety settings."""

    kept: int
    dropped: dict[str, int]  # reason -> images
    faces: str  # curate.safety.faces: keep | blur | exclude
    faces_blurred: int  # kept images whose faces the dataset's copy blurs
    nsfw: bool  # curate.safety.nsfw


@dataclass(frozen=True)
class CardInputs:
    crawl_reports: list[dict[str, Any]]
    exclusions: dict[str, int]
    captioner: str
    caption_model: str
    caption_licence: str
    # The captioner's per-image prompt template ("" when it captions the image alone).
    caption_prompt: str
    template: str
    images: int
    train: int
    validation: int
    products: int
    layout: str
    curation: CurationSummary


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "n>1M"


def card_header(inputs: CardInputs) -> str:
    """The YAML front matter the Hub reads (license, tasks, size)."""
    header = {
        "license": "other",
        "license_name": "retailer-catalog-images",
        "license_details": "Images and texts belong to the retailers; for research use, see Licensing below.",
        "task_categories": ["text-to-image", "image-to-text"],
        "language": ["en"],
        "tags": ["fashion", "pakistan", "clothing", "stable-diffusion"],
        "size_categories": [_size_category(inputs.images)],
        "pretty_name": "Pakistani fashion catalog images with captions",
    }
    if inputs.layout == "parquet":
        header["configs"] = parquet_configs()
    return "---\n" + yaml.safe_dump(header, sort_keys=False) + "---\n"


def parquet_configs() -> list[dict[str, Any]]:
    """The card's ``configs``: the Hub's loader and viewer read the splits from these shards."""
    return [{"config_name": "default", "data_files": [
        {"split": split, "path": f"{PARQUET_DIR}/{split}-*.parquet"} for split in SPLITS]}]


def as_parquet_card(card: str) -> str:
    """The card of an imagefolder dataset, rewritten for its Parquet copy: the ``configs`` and how to load it."""
    from huggingface_hub import DatasetCard

    parsed = DatasetCard(card.replace(_how_to_load("imagefolder"), _how_to_load("parquet")))
    parsed.data.configs = parquet_configs()
    return str(parsed)


def _how_to_load(layout: str) -> str:
    if layout == "parquet":
        return (f"Its splits are Parquet shards in `{PARQUET_DIR}/` with the images inside (an `image` column): load "
                f'it with `datasets.load_dataset("parquet", data_dir=".../{PARQUET_DIR}")`.')
    return ('Each split is a folder of JPEGs beside its `metadata.jsonl`: load it with '
            '`datasets.load_dataset("imagefolder", data_dir=...)`.')


def _sources_table(reports: list[dict[str, Any]]) -> str:
    lines = ["| site | base URL | platform | products crawled | crawl started | finished | stopped |",
             "|---|---|---|---|---|---|---|"]
    for r in reports:
        lines.append(f"| {r['site']} | {r['base_url']} | {r.get('platform') or '-'} | {r.get('products', 0)} | "
                     f"{r.get('started_at', '')} | {r.get('finished_at', '')} | {r.get('stopped_reason') or '-'} |")
    return "\n".join(lines)


def _robots_table(reports: list[dict[str, Any]]) -> str:
    lines = ["| site | robots.txt | HTTP | policy | sha256 | Content-Signal | opted out | refused by robots |",
             "|---|---|---|---|---|---|---|---|"]
    for r in reports:
        for robots in r.get("robots", []):
            signals = ", ".join(f"{k}={v}" for k, v in robots.get("content_signals", {}).items()) or "-"
            lines.append(f"| {r['site']} | {robots['url']} | {robots.get('status')} | {robots.get('policy')} | "
                         f"`{robots.get('sha256', '')[:16]}` | {signals} | {r.get('opted_out', False)} | "
                         f"{r.get('http', {}).get('robots/forbidden', 0)} |")
    return "\n".join(lines)


def _prompt_line(prompt: str) -> str:
    if not prompt:
        return "it captions each image alone (no prompt)."
    return (f"each image is captioned with the prompt `{prompt}`, filled from its product's title and the "
            "attributes its texts list, so the caption says what the photo shows.")


_FACES = {
    "keep": "photos showing faces are kept as they are",
    "blur": "each face the detector found is blurred in the dataset's copy of the photo",
    "exclude": "photos showing a face are left out (reason `faces`)",
}


def _curation_section(curation: CurationSummary) -> str:
    """Counts per reason, the faces setting, the NSFW detector and its licence."""
    dropped = "\n".join(f"- `{reason}`: {n}" for reason, n in sorted(curation.dropped.items())) or "- none"
    nsfw = "photos it finds exposed nudity in are left out (reason `nsfw`)" if curation.nsfw else "NSFW check off"
    blurred = f" ({curation.faces_blurred} photos)" if curation.faces == "blur" else ""
    return f"""## Curation

Every stored photo was checked before captioning (image quality, not-a-garment content such as size charts and
banners, safety, and CLIP agreement of the photo with its product's title); the pipeline's `curation.csv` has
each decision with the signal that decided it, `reports/curation.html` shows every dropped photo.
{curation.kept} kept, {sum(curation.dropped.values())} left out:

{dropped}

Safety: the NSFW and face detector is {DETECTOR} (pip `nudenet`, licence {DETECTOR_LICENCE}; the pipeline runs
it, the dataset does not contain it): {nsfw}. Faces (`curate.safety.faces={curation.faces}`): {_FACES[curation.faces]}{blurred}."""


def render_dataset_card(inputs: CardInputs) -> str:
    """The whole README.md: header, summary, sources, collection, ledger, exclusions, caveats."""
    exclusions = "\n".join(f"- `{reason}`: {n}" for reason, n in inputs.exclusions.items()) or "- none"
    user_agents = sorted({r.get("user_agent", "") for r in inputs.crawl_reports})
    return f"""{card_header(inputs)}
# Pakistani fashion: catalog images with captions

{inputs.images} images of {inputs.products} products ({inputs.train} train, {inputs.validation} validation),
built by the [pakfashion](https://github.com/pakfashion/pakfashion) DVC pipeline. {_how_to_load(inputs.layout)}
Each row has `file_name`, `text` (the training caption), `caption` (the captioning model's own words), the
attributes read from the product (`garment`, `colours`, `fabrics`) and the product's columns (`site`,
`product_id`, `product_url`, `title`, `category`, `price`, `currency`, `image_url`, `sha256`).

## Sources

{_sources_table(inputs.crawl_reports)}

## Collection process

Public catalog pages only (no login, no checkout, no personal data), fetched by a crawler that identifies
itself ({", ".join(f"`{ua}`" for ua in user_agents)}), reads robots.txt before any other request to a host
(a 5xx or unreachable robots.txt means "disallow all", RFC 9309), honours Crawl-delay, spaces requests
per host, retries only 408/429/5xx with backoff honouring Retry-After, and stops a site that answers
401/403/430. Images are decoded, EXIF-oriented, converted to RGB JPEG and named by the sha256 of their
pixels, so identical images are stored once. The split is by product (a hash of site and product id), so
no product is in both splits.

## Robots and opt-out ledger

Sites declaring `Content-Signal: ai-train=no` and images served with `X-Robots-Tag: noai`/`noimageai`
are excluded.

{_robots_table(inputs.crawl_reports)}

## Exclusions

Children's wear and non-clothing (footwear, fragrance, candles, home textiles, tableware, stationery,
bags, jewellery, cosmetics, ...) are excluded from all the evidence each product carries (product type,
tags, title, size options, description, URL path, the retailer's collections and breadcrumbs) and from
code conventions learned per site (SKU and handle prefixes of a line); every exclusion with its reason,
deciding signal and all its evidence is in the pipeline's `excluded.csv`. Counts:

{exclusions}

## Captions

Captioner: `{inputs.captioner}` (`{inputs.caption_model or 'none'}`, licence: {inputs.caption_licence}); {_prompt_line(inputs.caption_prompt)}
Text template `{inputs.template}`, capped at {50} words for the 77-token CLIP text encoder.

{_curation_section(inputs.curation)}

## Personal and sensitive information

Product photos may show models' faces; no names or other personal data are collected. Requests to remove
an image are honoured by excluding its URL in the next snapshot.

## Biases and limitations

The catalogs over-represent women's formal and seasonal wear of a few large brands, studio photography
and light-skinned models; prices and availability are a snapshot of the crawl dates above. Automatic
captions can be wrong about colours and garment types.

## Licensing

The images and texts remain the retailers' property. This card documents a research dataset built from
publicly served pages; check each retailer's terms before any other use.
"""
