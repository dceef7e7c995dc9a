"""``reports/curation.html``: one self-contained page of what the curate stage dropped and why.

A summary table, a section per reason with a thumbnail of each dropped image (inlined as a small base64 JPEG),
its deciding signal and its product, and the near-duplicate groups download folded together. Every text that
came from the web (titles, URLs, site names, error texts) is hostile input: it is escaped, and only http(s)
URLs become links.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from PIL import Image

from pakfashion.contracts import CurationDecision, CurationRow

Thumbnail = Callable[[str], str]
"""A ``data:image/jpeg;base64,...`` thumbnail of a stored image by sha256 ("" when it cannot be read)."""

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;width:180px;font-size:12px;overflow-wrap:anywhere}
figure img{max-width:180px;max-height:180px;display:block;background:#eee}
.signal{font-weight:600}.muted{color:#777}.group{border:1px solid #ddd;padding:8px;margin:8px 0}
"""


@dataclass(frozen=True)
class Shown:
    """One image as the report shows it: where it came from and its product's title and URL."""

    sha256: str
    site: str
    url: str
    title: str
    product_url: str


@dataclass(frozen=True)
class Dropped:
    row: CurationRow
    shown: Shown


@dataclass(frozen=True)
class Group:
    """A kept image (its row) and the copies download folded into it."""

    row: CurationRow
    kept: Shown
    members: list[Shown]

    @property
    def sites(self) -> set[str]:
        return {self.kept.site, *(m.site for m in self.members)}


def thumbnail_uri(data: bytes, *, px: int) -> str:
    """A stored JPEG as a small inline JPEG (longer side ``px``)."""
    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("RGB")
        small.thumbnail((px, px))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def esc(text: Any) -> str:
    """Text as HTML, quotes included (safe in element content and attribute values)."""
    return html.escape(str(text), quote=True)


def link(url: str, text: str) -> str:
    """``text`` linking to ``url`` when it is an http(s) URL; the escaped text alone otherwise (javascript:...,
    or a URL that does not parse)."""
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:  # "http://[::1" and the like
        scheme = ""
    if scheme in ("http", "https"):
        return f'<a href="{esc(url.strip())}" rel="noopener noreferrer nofollow">{esc(text)}</a>'
    return esc(text)


def _figure(shown: Shown, thumbnail: Thumbnail, *, caption: str) -> str:
    uri = thumbnail(shown.sha256)
    image = f'<img src="{uri}" alt="">' if uri else '<div class="muted">(unreadable)</div>'
    product = link(shown.product_url, shown.title or "product")
    return (f"<figure>{image}<figcaption>{caption}<br>{esc(shown.site)} · {product}<br>"
            f'{link(shown.url, "image")}</figcaption></figure>')


def summary_table(metrics: dict[str, Any], order: list[str]) -> str:
    """Counts per reason (in decision order), and precision / recall per reason when the run was scored against
    labels."""
    scored = "precision" in metrics
    head = "<tr><th>reason</th><th>dropped</th>" + ("<th>precision</th><th>recall</th>" if scored else "") + "</tr>"
    reasons = [r for r in order if r in metrics["by_reason"] or metrics.get("support", {}).get(r)]
    lines = [head]
    for reason in reasons:
        cells = f"<td><a href=\"#{esc(reason)}\">{esc(reason)}</a></td><td>{metrics['by_reason'].get(reason, 0)}</td>"
        if scored:
            cells += f"<td>{metrics['precision'].get(reason, 0):.2f}</td><td>{metrics['recall'].get(reason, 0):.2f}</td>"
        lines.append(f"<tr>{cells}</tr>")
    totals = (f"<p>{metrics['images']} images: {metrics['kept']} kept, {metrics['dropped']} dropped; "
              f"{metrics['faces_blurred']} with faces blurred; {metrics['near_duplicate_groups']} near-duplicate "
              f"groups ({metrics['near_duplicate_groups_across_sites']} across sites).")
    if scored:
        totals += f" Clean photos dropped: <b>{metrics['clean_dropped']}</b>."
    return totals + "</p><table>" + "".join(lines) + "</table>"


def reason_sections(dropped: list[Dropped], order: list[str], thumbnail: Thumbnail, *, per_reason: int) -> str:
    """A section per reason (in decision order), each with up to ``per_reason`` thumbnails."""
    parts = []
    for reason in order:
        shown = [d for d in dropped if d.row.reason == reason]
        if not shown:
            continue
        figures = []
        for item in shown[:per_reason]:
            others = [f"{esc(r)}: {esc(s)}" for r, s in json.loads(item.row.findings).items() if r != reason]
            caption = f'<span class="signal">{esc(item.row.signal)}</span>'
            if others:
                caption += '<br><span class="muted">also ' + "; ".join(others) + "</span>"
            figures.append(_figure(item.shown, thumbnail, caption=caption))
        more = f'<p class="muted">and {len(shown) - per_reason} more (curation.csv lists every one)</p>' \
            if len(shown) > per_reason else ""
        parts.append(f'<h2 id="{esc(reason)}">{esc(reason)} ({len(shown)})</h2><div class="grid">'
                     + "".join(figures) + f"</div>{more}")
    return "".join(parts)


def duplicate_section(groups: list[Group], thumbnail: Thumbnail, *, limit: int) -> str:
    """Each kept image beside the copies download folded into it; groups spanning sites first."""
    ordered = sorted(groups, key=lambda g: (-len(g.sites), g.kept.url))
    blocks = []
    for group in ordered[:limit]:
        across = " — across sites: " + esc(", ".join(sorted(group.sites))) if len(group.sites) > 1 else ""
        decision = "kept" if group.row.decision is CurationDecision.keep else f"dropped ({esc(group.row.reason)})"
        figures = [_figure(group.kept, thumbnail, caption=f'<span class="signal">{decision}</span>')]
        figures += [_figure(m, thumbnail, caption='<span class="muted">folded into it</span>') for m in group.members]
        blocks.append(f'<div class="group"><div>{len(group.members) + 1} images{across}</div>'
                      f'<div class="grid">{"".join(figures)}</div></div>')
    more = f'<p class="muted">and {len(ordered) - limit} more groups</p>' if len(ordered) > limit else ""
    return f'<h2 id="near_duplicates">Near-duplicate groups ({len(groups)})</h2>' + "".join(blocks) + more


def render_report(metrics: dict[str, Any], dropped: list[Dropped], groups: list[Group], thumbnail: Thumbnail, *,
                  order: list[str], per_reason: int) -> str:
    """The whole page."""
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\"><title>pakfashion curation</title>"
            f"<style>{STYLE}</style></head><body><h1>Curation</h1>{summary_table(metrics, order)}"
            f"{reason_sections(dropped, order, thumbnail, per_reason=per_reason)}"
            f"{duplicate_section(groups, thumbnail, limit=per_reason)}</body></html>\n")
