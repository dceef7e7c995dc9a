"""Product pages: schema.org JSON-LD ``Product`` (any nesting), with Open Graph as the fallback."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

from parsel import Selector

from pakfashion.common.jsontext import JsonTooDeepError, loads_limited

log = logging.getLogger(__name__)

_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_PRODUCT_TYPES = {"product", "productgroup", "individualproduct", "productmodel"}


def _loads_lenient(text: str) -> Any:
    """JSON as real sites write it: HTML comments, CDATA, control characters, trailing commas.

    Raises json.JSONDecodeError, or JsonTooDeepError past MAX_DEPTH levels.
    """
    cleaned = text.strip()
    for junk in ("<!--", "-->", "//<![CDATA[", "//]]>", "<![CDATA[", "]]>"):
        cleaned = cleaned.replace(junk, "")
    try:
        return loads_limited(cleaned)
    except json.JSONDecodeError:
        return loads_limited(_TRAILING_COMMA.sub(r"\1", cleaned))


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in a JSON-LD document (lists, @graph and nested values included), in document
    order, without recursion."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        stack.extend(child for child in reversed(children) if isinstance(child, (list, dict)))


def _types(node: dict[str, Any]) -> set[str]:
    value = node.get("@type", [])
    values = value if isinstance(value, list) else [value]
    return {str(v).rsplit("/", 1)[-1].lower() for v in values}


def jsonld_nodes(html: str, problems: list[str] | None = None) -> list[dict[str, Any]]:
    """Every JSON object of every JSON-LD block on a page.

    Blocks that are not JSON are skipped with a log line; blocks nested too deep are skipped and, with
    ``problems``, reported there (a hostile page, not a typo).
    """
    nodes: list[dict[str, Any]] = []
    for block in Selector(text=html).xpath('//script[contains(@type, "ld+json")]/text()').getall():
        try:
            document = _loads_lenient(block)
        except JsonTooDeepError as err:
            log.warning("skipping a JSON-LD block: %s", err)
            if problems is not None:
                problems.append(f"JSON-LD block skipped: {err}")
            continue
        except json.JSONDecodeError as err:
            log.debug("skipping unparsable JSON-LD block (%s)", err)
            continue
        nodes.extend(_walk(document))
    return nodes


def _products(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The schema.org Product-like objects among ``nodes``."""
    return [node for node in nodes if _types(node) & _PRODUCT_TYPES]


def _position(item: dict[str, Any], default: int) -> float:
    try:
        return float(item.get("position", default))
    except (TypeError, ValueError):
        return float(default)


def _crumb_name(item: dict[str, Any]) -> str:
    name = _text(item.get("name"))
    target = item.get("item")
    if not name and isinstance(target, dict):
        name = _text(target.get("name"))
    return name


def breadcrumb_names(nodes: list[dict[str, Any]]) -> list[str]:
    """The names of the first BreadcrumbList's items, in ``position`` order ([] when there is none)."""
    for node in nodes:
        if "breadcrumblist" not in _types(node):
            continue
        elements = node.get("itemListElement") or []
        items = [item for item in (elements if isinstance(elements, list) else [elements]) if isinstance(item, dict)]
        ordered = sorted(enumerate(items), key=lambda pair: (_position(pair[1], pair[0]), pair[0]))
        names = [name for name in (_crumb_name(item) for _, item in ordered) if name]
        if names:
            return names
    return []


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return _text(value.get("name") or value.get("@value") or "")
    if isinstance(value, list):
        return _text(value[0]) if value else ""
    return str(value or "").strip()


def _images(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return _images(value.get("url") or value.get("contentUrl") or value.get("@id") or "")
    if isinstance(value, list):
        return [url for item in value for url in _images(item)]
    return []


def _offers(node: dict[str, Any]) -> list[dict[str, Any]]:
    offers = node.get("offers") or []
    items = [o for o in (offers if isinstance(offers, list) else [offers]) if isinstance(o, dict)]
    nested = [o for item in items for o in (item.get("offers") or []) if isinstance(o, dict)]
    variants = [o for v in node.get("hasVariant") or [] if isinstance(v, dict) for o in _offers(v)]
    return items + nested + variants


def _offer_price(offer: dict[str, Any]) -> Any:
    spec = offer.get("priceSpecification")
    if offer.get("price") is None and isinstance(spec, dict):
        return spec.get("price")
    return offer.get("price", offer.get("lowPrice"))


def _skus(node: dict[str, Any], offers: list[dict[str, Any]]) -> list[str]:
    """Distinct identifiers in order: the product's sku, mpn, productID, productGroupID, then its
    variants' and offers' skus."""
    own = [node.get(key) for key in ("sku", "mpn", "productID", "productGroupID")]
    variants = [v.get("sku") for v in node.get("hasVariant") or [] if isinstance(v, dict)]
    values = [_text(value) for value in [*own, *variants, *(o.get("sku") for o in offers)]]
    return list(dict.fromkeys(value for value in values if value))


def group_id(node: dict[str, Any]) -> str:
    """The id of the product group (master product) a Product is a variant of, "" when it says none:
    ``inProductGroupWithID``, ``isVariantOf.productGroupID``, or a ProductGroup's own ``productGroupID``."""
    parent = node.get("isVariantOf")
    parent_id = parent.get("productGroupID") if isinstance(parent, dict) else None
    return _text(node.get("inProductGroupWithID") or parent_id or node.get("productGroupID"))


def product_from_jsonld(node: dict[str, Any]) -> dict[str, Any]:
    """The fields we keep from one JSON-LD Product (or ProductGroup with variants)."""
    offers = _offers(node)
    variant_images = [img for v in node.get("hasVariant") or [] if isinstance(v, dict) for img in _images(v.get("image"))]
    return {
        "name": _text(node.get("name")),
        "description": _text(node.get("description")),
        "images": list(dict.fromkeys(_images(node.get("image")) + variant_images)),
        "sku": _text(node.get("sku") or node.get("productID") or node.get("productGroupID") or node.get("mpn")),
        "skus": _skus(node, offers),
        "brand": _text(node.get("brand")),
        "category": _text(node.get("category")),
        "url": _text(node.get("url")),
        "color": _text(node.get("color")),
        "material": _text(node.get("material")),
        "prices": [p for p in (_offer_price(o) for o in offers) if p not in (None, "")],
        "currency": next((_text(o.get("priceCurrency")) for o in offers if o.get("priceCurrency")), ""),
        "availability": [_text(o.get("availability")).rsplit("/", 1)[-1] for o in offers if o.get("availability")],
        "group_id": group_id(node),
    }


def _meta(sel: Selector, *names: str) -> list[str]:
    values: list[str] = []
    for name in names:
        values += sel.xpath(f'//meta[@property="{name}" or @name="{name}"]/@content').getall()
    return [v.strip() for v in values if v.strip()]


def product_from_open_graph(html: str) -> dict[str, Any] | None:
    """Open Graph product fields, or None when the page has no og:title and og:image."""
    sel = Selector(text=html)
    title, images = _meta(sel, "og:title"), _meta(sel, "og:image", "og:image:secure_url")
    if not title or not images:
        return None
    return {
        "name": title[0], "description": next(iter(_meta(sel, "og:description", "description")), ""),
        "images": images, "sku": "", "skus": [], "brand": next(iter(_meta(sel, "og:site_name", "product:brand")), ""),
        "category": next(iter(_meta(sel, "product:category")), ""), "url": next(iter(_meta(sel, "og:url")), ""),
        "color": next(iter(_meta(sel, "product:color")), ""), "material": "",
        "prices": _meta(sel, "product:price:amount", "og:price:amount"),
        "currency": next(iter(_meta(sel, "product:price:currency", "og:price:currency")), ""), "availability": [],
        "group_id": "",
    }


def canonical_url(html: str) -> str:
    """The page's ``<link rel="canonical">``, or ''."""
    return (Selector(text=html).xpath('//link[@rel="canonical"]/@href').get() or "").strip()


def extract_product(html: str, problems: list[str] | None = None) -> tuple[dict[str, Any], str] | None:
    """The page's product and how it was found (``jsonld`` or ``open_graph``); None if neither.

    The product carries the page's JSON-LD ``breadcrumbs`` (names) whichever way it was found. JSON-LD
    blocks refused as hostile are described in ``problems``.
    """
    nodes = jsonld_nodes(html, problems)
    found = _products(nodes)
    if found:
        # A page may describe related products too; the one with most data is the page's own.
        best = max(found, key=lambda node: (bool(node.get("offers") or node.get("hasVariant")), len(node)))
        product, how = product_from_jsonld(best), "jsonld"
    else:
        graph = product_from_open_graph(html)
        if graph is None:
            return None
        product, how = graph, "open_graph"
    return {**product, "breadcrumbs": breadcrumb_names(nodes)}, how
