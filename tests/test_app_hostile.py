"""The app's views on hostile crawled values: links only to http(s) URLs, no way out of a Markdown link or an
HTML attribute, and markup (HTML, Markdown) shown as text. Markdown is checked rendered, by markdown-it
(CommonMark with raw HTML on, as the app's Markdown allows it before sanitising)."""

from __future__ import annotations

import html
import json
from html.parser import HTMLParser

import pandas as pd
import pytest

from pakfashion.app import views

IMG = "<img src=x id=pwn onerror=\"window.__pwned=1\">"
REFUSED = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " \x01javascript:alert(1)",
    "\x00\x1fjavascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "DATA:image/svg+xml;base64,PHN2Zz4=",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://shop.example/a",
    "//shop.example/no-scheme",
    "http:no-host",
    "https://",
    "http://[oops/",
    "",
    "/products/relative",
]
BREAKOUT = f"http://shop.example/p1) {IMG} [x](javascript:alert(1)) (\"'<>[]\\`"
MARKUP = [
    "<script>window.__pwned=1</script>",
    IMG,
    "[click](javascript:alert(1))",
    "[click](http://evil.example)",
    "![img](http://evil.example/x.png)",
    "<http://evil.example> http://evil.example www.evil.example a@evil.example",
    "**bold** _em_ ~~gone~~ `code`",
    "# heading\n- item\n1. one\n> quote",
    "| a | b |\n|---|---|\n| c | d |",
    "line\n\n===",
    "&lt;img src=x&gt; &amp; \\*",
]


class Tags(HTMLParser):
    """The start tags of an HTML fragment and its text."""

    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text = ""
        self.feed(fragment)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text += data


def rendered(markdown: str) -> Tags:
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py not installed (comes with rich)")
    parser = markdown_it.MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    return Tags(parser.render(markdown).strip())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://shop.example/products/p1", "http://shop.example/products/p1"),
        ("HTTPS://Shop.example/a?b=1&c=2#top", "https://Shop.example/a?b=1&c=2#top"),
        ("  https://shop.example/x\n", "https://shop.example/x"),
        ("https://shop.example/lawn kurta", "https://shop.example/lawn%20kurta"),
        ("https://shop.example/a%20b", "https://shop.example/a%20b"),
    ],
)
def test_safe_url_keeps_http_and_https(url: str, expected: str) -> None:
    assert views.safe_url(url) == expected


@pytest.mark.parametrize("url", REFUSED)
def test_safe_url_refuses_other_schemes_and_unparsable_urls(url: str) -> None:
    assert views.safe_url(url) is None


def test_safe_url_percent_encodes_what_could_break_out() -> None:
    target = views.safe_url(BREAKOUT)
    assert target is not None and target.startswith("http://shop.example/p1%29%20%3Cimg")
    assert not set(target) & set(" ()<>[]\"'\\`"), target


@pytest.mark.parametrize("url", REFUSED)
def test_links_to_refused_urls_are_their_label_as_text(url: str) -> None:
    assert views.markdown_link(url, "open") == "open"
    assert views.html_link(url, "product page") == "product page"
    assert [tag for tag, _ in rendered(views.markdown_link(url, f"open {IMG}")).tags] == ["p"]


def test_markdown_link_cannot_be_closed_early() -> None:
    page = rendered(views.markdown_link(BREAKOUT, f"[open]({BREAKOUT})"))
    assert page.tags == [("p", {}), ("a", {"href": views.safe_url(BREAKOUT)})]
    assert page.text == f"[open]({BREAKOUT})"  # the label: as written, as text


def test_html_link_cannot_leave_its_attribute() -> None:
    fragment = views.html_link(BREAKOUT + '" onmouseover="alert(1)', f"<b>{IMG}</b>")
    tags = Tags(fragment)
    assert [tag for tag, _ in tags.tags] == ["a"] and set(tags.tags[0][1]) == {"href", "target", "rel"}
    assert tags.text == f"<b>{IMG}</b>"


@pytest.mark.parametrize("text", MARKUP)
def test_markdown_text_shows_markup_as_text(text: str) -> None:
    page = rendered(views.markdown_text(text))
    assert [tag for tag, _ in page.tags] == ["p"], page.tags
    assert page.text == " ".join(text.split())


def test_evidence_markdown_escapes_each_signal() -> None:
    evidence = f"title: '{IMG}' (+3.0 children) | tags: '[x](javascript:alert(1))' (-1.0 children) | {IMG}"
    page = rendered(views.evidence_markdown(evidence))
    assert [tag for tag, _ in page.tags] == ["p", "strong", "br", "strong", "br"], page.tags
    assert page.text == f"+3.0 children title: '{IMG}'-1.0 children tags: '[x](javascript:alert(1))'{IMG}"


def test_explained_rows_link_only_http_product_pages() -> None:
    frame = pd.DataFrame({"product_url": [BREAKOUT, "javascript:alert(1)", ""], "evidence": [IMG, "", ""]})
    shown = views.explained(frame)
    hrefs = [[attrs.get("href") for tag, attrs in rendered(cell).tags if tag == "a"] for cell in shown["product_url"]]
    assert hrefs == [[views.safe_url(BREAKOUT)], [], []]
    assert rendered(shown.loc[0, "evidence"]).text == IMG


def test_dataset_cards_link_only_http_and_escape_text() -> None:
    urls = [*REFUSED, BREAKOUT, "https://shop.example/ok"]
    rows = pd.DataFrame(
        {
            "product_url": urls,
            "image_path": [f"/data/dataset/train/{i}.jpg" for i in range(len(urls))],
            "text": [f"caption {IMG}"] * len(urls),
            "site": ["shop"] * len(urls),
            "garment": [f"<script>{i}</script>" for i in range(len(urls))],
            "colours": [["red"]] * len(urls),
            "split": ["train"] * len(urls),
        }
    )
    cards = Tags(views.dataset_cards(rows))
    assert {tag for tag, _ in cards.tags} == {"div", "figure", "figcaption", "a", "img", "span"}
    links = [attrs["href"] for tag, attrs in cards.tags if tag == "a"]
    products = [link for link in links if not link.startswith(views.FILE_ROUTE)]
    assert products == [views.safe_url(BREAKOUT), "https://shop.example/ok"]
    assert cards.text.count("product page") == len(urls) and cards.text.count(f"caption {IMG}") == len(urls)
    assert [attrs["src"] for tag, attrs in cards.tags if tag == "img"] == [
        html.unescape(views.file_url(path)) for path in rows["image_path"]
    ]


def test_curation_cards_link_only_http_and_escape_text() -> None:
    urls = [*REFUSED, BREAKOUT, "https://shop.example/ok.jpg"]
    rows = pd.DataFrame(
        {
            "url": urls,
            "image_path": [f"/state/app/images/store/{i}.jpg" for i in range(len(urls))],
            "reason": [f"blurry{IMG}"] * len(urls),
            "signal": [f"sharpness {IMG} < 40"] * len(urls),
            "site": [f"<script>{i}</script>" for i in range(len(urls))],
            "product_id": [f"[x](javascript:alert({i}))" for i in range(len(urls))],
            "position": ["0\" onmouseover=\"alert(1)"] * len(urls),
            "findings": [json.dumps({"blurry": "x", f"logo{IMG}": f"text {IMG}"})] * len(urls),
            "scores": [json.dumps({f"s\" onmouseover=\"alert(1){IMG}": 1.5})] * len(urls),
            "face_boxes": ["not json <b>"] * len(urls),
            "near_duplicates": [json.dumps([BREAKOUT, "javascript:alert(1)", IMG])] * len(urls),
        }
    )
    cards = Tags(views.curation_cards(rows))
    assert {tag for tag, _ in cards.tags} == {"div", "figure", "figcaption", "a", "img", "span", "ul", "li", "details",
                                              "summary", "br"}  # fmt: skip
    assert {attr for tag, attrs in cards.tags if tag == "figure" for attr in attrs} == {"class", "data-reason", "title"}
    assert {attrs["data-reason"] for tag, attrs in cards.tags if tag == "figure"} == {f"blurry{IMG}"}
    # Per card: the image URL when http(s), then the one http(s) near-duplicate; the rest is text.
    expected = []
    for url in urls:
        expected += [target for target in (views.safe_url(url), views.safe_url(BREAKOUT)) if target]
    links = [attrs["href"] for tag, attrs in cards.tags if tag == "a"]
    assert [link for link in links if not link.startswith(views.FILE_ROUTE)] == expected
    for text in (f"blurry{IMG}: sharpness {IMG} < 40", f"logo{IMG}: text {IMG}", "<script>0</script>",
                 "[x](javascript:alert(0))", "3 near-duplicate(s)", f"javascript:alert(1){IMG}"):
        assert text in cards.text, text
    assert cards.text.count(f"sharpness {IMG} < 40") == len(urls)
