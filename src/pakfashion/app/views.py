"""HTML and Markdown the app shows, from plain rows: dataset cards, page lines, links, messages."""

from __future__ import annotations

import html
from urllib.parse import quote

import pandas as pd

from pakfashion.app.data import Page
from pakfashion.contracts import EVIDENCE_SEPARATOR

# Gradio serves files under allowed_paths at this route, relative to the app's own URL.
FILE_ROUTE = "gradio_api/file="

CARD_CSS = """
#dataset-grid .pf-grid {display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 12px;}
#dataset-grid .pf-card {margin: 0; border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 6px; background: var(--background-fill-secondary);}
#dataset-grid .pf-card img {width: 100%; aspect-ratio: 1; object-fit: contain; background: white; border-radius: 4px;}
#dataset-grid .pf-caption {font-size: 0.9em; margin: 4px 0;}
#dataset-grid .pf-meta {font-size: 0.8em; color: var(--body-text-color-subdued);}
#dataset-grid .pf-split-validation {color: var(--color-accent);}
"""


def file_url(path: str) -> str:
    """The app-relative URL of a local file the app may serve."""
    return FILE_ROUTE + quote(path, safe="/")


def dataset_cards(rows: pd.DataFrame) -> str:
    """A grid of cards: image, caption, site, split, garment and colours, and a link to the product page."""
    cards = []
    for row in rows.itertuples(index=False):
        link = html.escape(str(row.product_url), quote=True)
        image = html.escape(file_url(str(row.image_path)), quote=True)
        meta = " · ".join(html.escape(str(v)) for v in (row.site, row.garment, ", ".join(row.colours)) if v)
        split = html.escape(str(row.split))
        cards.append(
            f'<figure class="pf-card" data-split="{split}">'
            f'<a href="{image}" target="_blank" rel="noopener"><img src="{image}" loading="lazy" alt=""></a>'
            f'<figcaption class="pf-caption">{html.escape(str(row.text))}</figcaption>'
            f'<div class="pf-meta">{meta} · <span class="pf-split-{split}">{split}</span>'
            f' · <a href="{link}" target="_blank" rel="noopener noreferrer">product page</a></div></figure>'
        )
    if not cards:
        return '<p class="pf-empty">No image matches these filters.</p>'
    return f'<div class="pf-grid">{"".join(cards)}</div>'


def page_line(page: Page, *, unit: str = "images") -> str:
    """``Page 2 of 4 · 93 images match`` (Markdown)."""
    return f"Page {page.number} of {page.count} · **{page.total}** {unit} match"


def markdown_link(url: str, label: str) -> str:
    """A Markdown link, or the label alone when there is no URL."""
    return f"[{label}]({url})" if url else label


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
        lines.append(f"**{html.escape(weight.rstrip(')'))}** {html.escape(where)}" if where else html.escape(signal))
    return "<br>".join(lines)


def explained(frame: pd.DataFrame) -> pd.DataFrame:
    """Excluded rows ready to show: product links, and the evidence one signal per line."""
    shown = with_links(frame)
    shown["evidence"] = [evidence_markdown(text) for text in shown["evidence"]]
    return shown


def problem_markdown(message: str) -> str:
    """A message shown in place of missing content."""
    return f"⚠️ {message}"
