"""HTML and Markdown the app shows, from plain rows: dataset and curation cards, page lines, links, messages.

Every value from the web (captions, titles, evidence, URLs) is hostile: it is escaped wherever it becomes
HTML or Markdown, so markup shows as text, and it becomes a link only when it is an http(s) URL.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urlsplit

import pandas as pd

from pakfashion.app.data import CurationSummary, Page, json_cell
from pakfashion.contracts import EVIDENCE_SEPARATOR
from pakfashion.web.urls import is_fetchable

# Gradio serves files under allowed_paths at this route, relative to the app's own URL.
FILE_ROUTE = "gradio_api/file="

# The dataset's and the curation view's grids of cards.
GRIDS = ":is(#dataset-grid, #curation-grid)"
CARD_CSS = f"""
{GRIDS} .pf-grid {{display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 12px;}}
{GRIDS} .pf-card {{margin: 0; border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 6px; background: var(--background-fill-secondary);}}
{GRIDS} .pf-card img {{width: 100%; aspect-ratio: 1; object-fit: contain; background: white; border-radius: 4px;}}
{GRIDS} .pf-caption {{font-size: 0.9em; margin: 4px 0;}}
{GRIDS} .pf-meta, {GRIDS} .pf-findings {{font-size: 0.8em; color: var(--body-text-color-subdued);}}
{GRIDS} .pf-findings {{margin: 2px 0; padding-left: 1.2em;}}
{GRIDS} .pf-reason {{font-weight: 600; color: var(--color-accent);}}
{GRIDS} .pf-noimage {{aspect-ratio: 1; display: flex; align-items: center; justify-content: center;
  background: var(--background-fill-primary); border-radius: 4px; font-size: 0.8em;}}
#dataset-grid .pf-split-validation {{color: var(--color-accent);}}
"""


# What a link target keeps as is (beside letters, digits and ``-._~``); the rest is percent-encoded, among it
# what could end a Markdown link or an HTML attribute: spaces, quotes, ``()<>[]``, backslash, backtick.
URL_KEPT = "/:?#&=+%@!$*,;~"
# Markdown and GFM syntax (emphasis, links, code, tables, headings, lists, autolinks): backslash-escaped.
MARKDOWN_SYNTAX = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$:=^])")


def safe_url(url: str) -> str | None:
    """``url`` as a link target if it is an http(s) URL with a host that urllib parses (the crawler's own
    gate, :func:`pakfashion.web.urls.url_problem`), else ``None``."""
    candidate = str(url).strip()
    if not is_fetchable(candidate):
        return None
    return quote(urlsplit(candidate).geturl(), safe=URL_KEPT)


def markdown_text(text: str) -> str:
    """``text`` (one line) for Markdown, shown as written: no markup, HTML, link or line break of its own."""
    return html.escape(MARKDOWN_SYNTAX.sub(r"\\\1", " ".join(str(text).split())), quote=True)


def html_link(url: str, label: str) -> str:
    """An HTML link to an http(s) ``url`` (in a new tab), or the label as text for any other URL."""
    target, text = safe_url(url), html.escape(label)
    return f'<a href="{html.escape(target)}" target="_blank" rel="noopener noreferrer">{text}</a>' if target else text


def markdown_link(url: str, label: str) -> str:
    """A Markdown link to an http(s) ``url``, or the label as text for any other or no URL."""
    target = safe_url(url)
    return f"[{markdown_text(label)}]({target})" if target else markdown_text(label)


def file_url(path: str) -> str:
    """The app-relative URL of a local file the app may serve."""
    return FILE_ROUTE + quote(path, safe="/")


def dataset_cards(rows: pd.DataFrame) -> str:
    """A grid of cards: image, caption, site, split, garment and colours, and a link to the product page
    (text only when its URL is not http(s))."""
    cards = []
    for row in rows.itertuples(index=False):
        image = html.escape(file_url(str(row.image_path)), quote=True)
        meta = " · ".join(html.escape(str(v)) for v in (row.site, row.garment, ", ".join(row.colours)) if v)
        split = html.escape(str(row.split))
        cards.append(
            f'<figure class="pf-card" data-split="{split}">'
            f'<a href="{image}" target="_blank" rel="noopener"><img src="{image}" loading="lazy" alt=""></a>'
            f'<figcaption class="pf-caption">{html.escape(str(row.text))}</figcaption>'
            f'<div class="pf-meta">{meta} · <span class="pf-split-{split}">{split}</span>'
            f" · {html_link(str(row.product_url), 'product page')}</div></figure>"
        )
    if not cards:
        return '<p class="pf-empty">No image matches these filters.</p>'
    return f'<div class="pf-grid">{"".join(cards)}</div>'


def image_link(path: str) -> str:
    """A local image (served by the app) linked to itself, or a placeholder when there is none."""
    if not path:
        return '<div class="pf-noimage">not in the image store</div>'
    image = html.escape(file_url(path), quote=True)
    return f'<a href="{image}" target="_blank" rel="noopener"><img src="{image}" loading="lazy" alt=""></a>'


def scores_text(scores: str) -> str:
    """curation.csv's ``scores`` (JSON name -> number) as one line: ``sharpness 12.3 · brightness 0.41``."""
    return " · ".join(f"{name} {value:.3g}" if isinstance(value, float) else f"{name} {value}"
                      for name, value in json_cell(scores, {}).items())


def findings_list(findings: str, reason: str) -> str:
    """The reasons that fired besides the deciding one, each with its signal (an HTML list; "" if none)."""
    others = [(name, signal) for name, signal in json_cell(findings, {}).items() if name != reason]
    items = "".join(f"<li>{html.escape(str(name))}: {html.escape(str(signal))}</li>" for name, signal in others)
    return f'<ul class="pf-findings">{items}</ul>' if items else ""


def near_duplicates_list(near_duplicates: str) -> str:
    """The near-duplicate image URLs folded into this image, linked when http(s) (folded away; "" if none)."""
    urls = json_cell(near_duplicates, [])
    if not urls:
        return ""
    links = "<br>".join(html_link(str(url), str(url)) for url in urls)
    return f'<details class="pf-meta pf-near"><summary>{len(urls)} near-duplicate(s)</summary>{links}</details>'


def curation_cards(rows: pd.DataFrame) -> str:
    """A grid of dropped images: thumbnail, reason and deciding signal, the other findings, site, product and
    a link to the image URL (text only when it is not http(s)); every score on hover."""
    cards = []
    for row in rows.itertuples(index=False):
        reason = str(row.reason)
        faces = len(json_cell(str(row.face_boxes), []))
        meta = " · ".join(
            html.escape(str(value))
            for value in (row.site, f"{row.product_id} #{row.position}", f"{faces} face(s)" if faces else "")
            if value
        )
        cards.append(
            f'<figure class="pf-card" data-reason="{html.escape(reason, quote=True)}" '
            f'title="{html.escape(scores_text(str(row.scores)), quote=True)}">{image_link(str(row.image_path))}'
            f'<figcaption class="pf-caption"><span class="pf-reason">{html.escape(reason)}</span>: '
            f'<span class="pf-signal">{html.escape(str(row.signal))}</span></figcaption>'
            f"{findings_list(str(row.findings), reason)}"
            f'<div class="pf-meta">{meta} · {html_link(str(row.url), "image")}</div>'
            f"{near_duplicates_list(str(row.near_duplicates))}</figure>"
        )
    if not cards:
        return '<p class="pf-empty">No dropped image matches these filters.</p>'
    return f'<div class="pf-grid">{"".join(cards)}</div>'


def curation_summary_markdown(summary: CurationSummary) -> str:
    """``**12** images: **9** kept, **3** dropped (blurry 2, too_dark 1)``, then precision/recall per reason."""
    reasons = ", ".join(f"{markdown_text(reason)} {n}" for reason, n in summary.reasons.items())
    line = (
        f"**{summary.images}** images: **{summary.kept}** kept, **{summary.dropped}** dropped"
        f" ({reasons or 'none'})"
    )
    scored = "; ".join(
        f"{markdown_text(reason)} " + ", ".join(f"{measure} {value:.2f}" for measure, value in measures.items())
        for reason, measures in summary.quality.items()
    )
    return f"{line}  \nAgainst ground truth: {scored}" if scored else line


def page_line(page: Page, *, unit: str = "images") -> str:
    """``Page 2 of 4 · 93 images match`` (Markdown)."""
    return f"Page {page.number} of {page.count} · **{page.total}** {unit} match"


def with_links(frame: pd.DataFrame, *, column: str = "product_url", label: str = "open") -> pd.DataFrame:
    """``frame`` with ``column`` as Markdown links (for a Dataframe column of datatype ``markdown``)."""
    linked = frame.copy()
    linked[column] = [markdown_link(url, label) for url in linked[column]]
    return linked


def evidence_markdown(evidence: str) -> str:
    """excluded.csv's ``evidence`` as one line per signal, its weight and target first (``+1.0 children``)."""
    lines = []
    for signal in filter(None, evidence.split(EVIDENCE_SEPARATOR)):
        where, _, weight = signal.rpartition(" (")
        weighted = f"**{markdown_text(weight.rstrip(')'))}** {markdown_text(where)}"
        lines.append(weighted if where else markdown_text(signal))
    return "<br>".join(lines)


def explained(frame: pd.DataFrame) -> pd.DataFrame:
    """Excluded rows ready to show: product links, and the evidence one signal per line."""
    shown = with_links(frame)
    shown["evidence"] = [evidence_markdown(text) for text in shown["evidence"]]
    return shown


def problem_markdown(message: str) -> str:
    """A message shown in place of missing content."""
    return f"⚠️ {message}"
