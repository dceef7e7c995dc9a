"""JSON-LD / Open Graph product extraction and sitemap parsing on real-world-shaped markup."""

from __future__ import annotations

import gzip

import pytest

from pakfashion.crawling.jsonld import canonical_url, extract_product
from pakfashion.crawling.sitemap import is_product_sitemap, parse_sitemap, product_urls

SHOPIFY_THEME = """<html><head>
<link rel="canonical" href="https://shop.example.pk/products/red-lawn-kurta">
<script type="application/ld+json">{"@context": "http://schema.org/", "@type": "Organization", "name": "Shop"}</script>
<script type="application/ld+json">
{
  "@context": "http://schema.org/",
  "@type": "Product",
  "name": "Red Lawn Kurta",
  "url": "https://shop.example.pk/products/red-lawn-kurta",
  "image": ["https://cdn.shopify.com/s/files/1/red_1.jpg?v=1", "https://cdn.shopify.com/s/files/1/red_2.jpg?v=1"],
  "description": "Embroidered lawn kurta &amp; dupatta.\tDry clean.",
  "sku": "KL-001",
  "brand": {"@type": "Brand", "name": "Shop"},
  "offers": [
    {"@type": "Offer", "sku": "KL-001-S", "availability": "http://schema.org/InStock", "price": "4990.00", "priceCurrency": "PKR"},
    {"@type": "Offer", "sku": "KL-001-M", "availability": "http://schema.org/OutOfStock", "price": "4990.00", "priceCurrency": "PKR"},
  ]
}
</script></head><body></body></html>"""

SFCC_GRAPH = """<html><head><script type="application/ld+json">
//<![CDATA[
{"@context":"https://schema.org","@graph":[{"@type":"BreadcrumbList","itemListElement":[]},
{"@type":["Product"],"name":"Khaddar Shirt","image":{"@type":"ImageObject","url":"https://pk.example.com/dw/image/v2/shirt.jpg"},
"productID":"ABC123","offers":{"@type":"AggregateOffer","lowPrice":3590,"highPrice":3990,"priceCurrency":"PKR"}}]}
//]]>
</script></head></html>"""

PRODUCT_GROUP = """<script type="application/ld+json">{"@context":"https://schema.org","@type":"ProductGroup",
"name":"3 Piece Unstitched Suit","productGroupID":"G1","hasVariant":[
{"@type":"Product","name":"Suit - Blue","image":"https://x.pk/blue.jpg","offers":{"@type":"Offer","price":"8990","priceCurrency":"PKR"}},
{"@type":"Product","name":"Suit - Green","image":"https://x.pk/green.jpg","offers":{"@type":"Offer","price":"8990","priceCurrency":"PKR"}}]}
</script>"""

OPEN_GRAPH_ONLY = """<html><head>
<meta property="og:type" content="product"><meta property="og:title" content="Black Shawl">
<meta property="og:image" content="https://x.pk/shawl.jpg"><meta property="og:description" content="Warm karandi shawl">
<meta property="product:price:amount" content="6,500"><meta property="product:price:currency" content="PKR">
<script type="application/ld+json">{ broken json </script></head></html>"""


def test_shopify_theme_jsonld_with_trailing_comma_and_tab() -> None:
    product, how = extract_product(SHOPIFY_THEME)
    assert how == "jsonld"
    assert product["name"] == "Red Lawn Kurta" and product["brand"] == "Shop"
    assert len(product["images"]) == 2 and product["currency"] == "PKR"
    assert product["prices"] == ["4990.00", "4990.00"]
    assert product["availability"] == ["InStock", "OutOfStock"]
    assert canonical_url(SHOPIFY_THEME).endswith("/products/red-lawn-kurta")


def test_graph_cdata_image_object_and_aggregate_offer() -> None:
    product, how = extract_product(SFCC_GRAPH)
    assert how == "jsonld" and product["name"] == "Khaddar Shirt" and product["sku"] == "ABC123"
    assert product["images"] == ["https://pk.example.com/dw/image/v2/shirt.jpg"]
    assert product["prices"] == [3590]


def test_product_group_takes_variant_images_and_prices() -> None:
    product, _ = extract_product(PRODUCT_GROUP)
    assert product["name"] == "3 Piece Unstitched Suit" and product["sku"] == "G1"
    assert product["images"] == ["https://x.pk/blue.jpg", "https://x.pk/green.jpg"]
    assert product["prices"] == ["8990", "8990"]


def test_open_graph_fallback_when_jsonld_is_broken() -> None:
    product, how = extract_product(OPEN_GRAPH_ONLY)
    assert how == "open_graph" and product["name"] == "Black Shawl"
    assert product["prices"] == ["6,500"] and product["images"] == ["https://x.pk/shawl.jpg"]


def test_page_without_product_data() -> None:
    assert extract_product("<html><head><title>Home</title></head></html>") is None


INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc> https://x.pk/sitemap_products_1.xml?from=1&amp;to=99 </loc></sitemap>
  <sitemap><loc>https://x.pk/sitemap_blogs_1.xml</loc></sitemap>
</sitemapindex>"""
URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
<url><loc>https://x.pk/products/a</loc><image:image><image:loc>https://cdn/a.jpg</image:loc></image:image></url>
<url><loc>https://x.pk/collections/women</loc></url>
<url><loc>https://x.pk/products/a</loc></url>
<url><loc>https://x.pk/b-123.html</loc></url>
</urlset>"""


def test_sitemap_index_and_urlset_gzip() -> None:
    index = parse_sitemap(INDEX, max_bytes=10**6)
    assert index.sitemaps == ["https://x.pk/sitemap_products_1.xml?from=1&to=99", "https://x.pk/sitemap_blogs_1.xml"]
    assert [is_product_sitemap(u) for u in index.sitemaps] == [True, False]
    urlset = parse_sitemap(gzip.compress(URLSET), max_bytes=10**6)
    assert urlset.pages[0] == "https://x.pk/products/a" and not urlset.sitemaps
    assert product_urls(urlset.pages, r"/products/") == ["https://x.pk/products/a"]
    assert product_urls(urlset.pages, r"/products/|-\d+\.html$") == ["https://x.pk/products/a", "https://x.pk/b-123.html"]


def test_real_sitemap_slips_are_read_and_a_break_keeps_what_came_before() -> None:
    slips = b'\xef\xbb\xbf\n\n  <?xml version="1.0"?><urlset><url><loc>https://x.pk/p?a=1&b=2</loc></url>' \
            b"<url><loc>https://x.pk/q?a=1&amp;b=2&#38;c=3</loc></url></urlset>"
    assert parse_sitemap(slips, max_bytes=10**6).pages == ["https://x.pk/p?a=1&b=2", "https://x.pk/q?a=1&b=2&c=3"]
    cut = parse_sitemap(b"<urlset><url><loc>https://x.pk/a</loc></url><url><loc>https://x.pk/b</lo", max_bytes=10**6)
    assert cut.pages == ["https://x.pk/a"] and "broken XML at line 1" in cut.error


def test_corrupt_gzip_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="corrupt gzip"):
        parse_sitemap(b"\x1f\x8b" + b"not gzip", max_bytes=10**6)


KIDS_FOLDER_PAGE = """<html><head>
<link rel="canonical" href="https://x.pk/kids/girls/sunshine-angrakha-AT0031.html">
<script type="application/ld+json">{"@context":"https://schema.org","@type":"Product","name":"Sunshine Angrakha",
"sku":"AT0031","mpn":"AT0031","productID":"sku:AT0031","image":"https://x.pk/a.jpg",
"offers":{"@type":"Offer","sku":"AT0031-S","price":"2990","priceCurrency":"PKR"}}</script>
<script type="application/ld+json">{"@context":"https://schema.org","@type":"BreadcrumbList","itemListElement":[
{"@type":"ListItem","position":3,"item":{"@id":"https://x.pk/kids/girls/","name":"Girls"}},
{"@type":"ListItem","position":1,"name":"Home","item":"https://x.pk/"},
{"@type":"ListItem","position":2,"name":"Kids &amp; Teens","item":"https://x.pk/kids/"},
{"@type":"ListItem","position":4,"name":"Sunshine Angrakha"}]}</script>
</head></html>"""


def test_page_record_has_handle_skus_and_breadcrumbs_in_order() -> None:
    from pakfashion.crawling.pages import normalise_page_product

    product, how = extract_product(KIDS_FOLDER_PAGE)
    url = canonical_url(KIDS_FOLDER_PAGE)
    record = normalise_page_product(url, product, how, site="x", currency="PKR", crawled_at="")
    assert record.handle == "sunshine-angrakha-AT0031"
    assert record.skus == ["AT0031", "sku:AT0031", "AT0031-S"]
    assert record.breadcrumbs == ["Home", "Kids & Teens", "Girls", "Sunshine Angrakha"]
    assert record.product_id == "AT0031"


def test_product_group_skus_and_an_empty_breadcrumb_list() -> None:
    group, _ = extract_product(PRODUCT_GROUP.replace('"name":"Suit - Blue"', '"name":"Suit - Blue","sku":"G1-B"'))
    assert group["skus"] == ["G1", "G1-B"]
    graph, _ = extract_product(SFCC_GRAPH)
    assert graph["breadcrumbs"] == [] and graph["skus"] == ["ABC123"]


def test_open_graph_page_keeps_its_jsonld_breadcrumbs() -> None:
    crumbs = KIDS_FOLDER_PAGE.split("</script>")[1] + "</script>"
    product, how = extract_product(OPEN_GRAPH_ONLY.replace("</head>", crumbs + "</head>"))
    assert how == "open_graph" and product["name"] == "Black Shawl"
    assert [product["breadcrumbs"][i] for i in (0, 2, 3)] == ["Home", "Girls", "Sunshine Angrakha"]


def test_a_page_stored_by_an_older_crawl_still_normalises() -> None:
    from pakfashion.crawling.pages import normalise_page_product

    old = {"name": "Red Kurta", "description": "", "images": [], "sku": "AT0001", "brand": "", "category": "Kurta",
           "url": "", "color": "", "material": "", "prices": [], "currency": "PKR", "availability": []}
    record = normalise_page_product("https://x.pk/red-kurta-AT0001.html", old, "jsonld", site="x", currency="PKR",
                                    crawled_at="")
    assert (record.skus, record.breadcrumbs, record.handle) == (["AT0001"], [], "red-kurta-AT0001")
