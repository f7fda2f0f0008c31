"""Self-contained HTML pages: inline CSS, images embedded as data URIs, no network.

Report builders compose a page from ``Section`` objects; ``external_references`` is
what the tests use to prove a page loads nothing from outside the file.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

LIGHT_COLOURS = {"green": "#1a7f37", "amber": "#b7791f", "red": "#c53030", "grey": "#718096"}
LIGHT_RANK = {"red": 0, "amber": 1, "green": 2, "grey": 3}

# One stylesheet for every page. Pages fit a 1280 px window (no horizontal scrolling):
# tables may not exceed the text column, headers wrap anywhere, numbers never wrap. Text
# cells are left-aligned, numbers right-aligned (``table`` marks each cell), badges centred.
# Printing drops the navigation, opens every folded table and keeps rows, figures and
# boxes whole on a page.
_CSS = """
*, *::before, *::after { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1180px; padding: 24px; color: #1a202c; line-height: 1.45;
       overflow-wrap: break-word; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #e2e8f0; padding-bottom: 4px; margin-top: 1.8em; }
h3 { margin-top: 1.3em; } .meta { color: #4a5568; font-size: 0.92em; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.88em; max-width: 100%; }
th, td { border: 1px solid #e2e8f0; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f7fafc; vertical-align: bottom; overflow-wrap: anywhere; min-width: 3.5em; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.badge, th.badge { text-align: center; }
td.text { min-width: 6em; overflow-wrap: anywhere; } td.long { min-width: 16em; }
tbody th { vertical-align: top; text-align: left; } td ul { margin: 0; padding-left: 1.2em; }
img { max-width: 100%; height: auto; } .note { background: #f7fafc; border-left: 4px solid #a0aec0; padding: 8px 12px; margin: 8px 0; }
.light { display: inline-block; min-width: 4.2em; text-align: center; color: white; border-radius: 3px; padding: 0 6px; font-weight: 600; }
nav a { margin-right: 12px; } code { background: #edf2f7; padding: 0 3px; border-radius: 3px; overflow-wrap: anywhere; }
nav.related { background: #edf2f7; padding: 6px 10px; border-radius: 4px; margin: 8px 0; }
nav.related a { margin-right: 16px; } nav.related .here { font-weight: 600; margin-right: 16px; }
.verdict { border: 1px solid #cbd5e0; border-left: 8px solid #718096; padding: 10px 16px; margin: 14px 0; background: #fbfdff; }
.verdict.red { border-left-color: #c53030; } .verdict.amber { border-left-color: #b7791f; } .verdict.green { border-left-color: #1a7f37; }
.verdict h2 { margin-top: 0.2em; border: 0; font-size: 1.25em; } .verdict table { margin-bottom: 6px; }
.verdict th { text-align: left; white-space: nowrap; background: transparent; border: 0; padding: 2px 14px 2px 0; vertical-align: top; min-width: 0; }
.verdict td { border: 0; padding: 2px 0; }
.verdict ol { margin: 4px 0 6px; padding-left: 1.4em; }
details { margin: 6px 0 16px; } details > summary { cursor: pointer; color: #2b6cb0; font-weight: 600; }
.warn { color: #c53030; font-weight: 600; } .ok { color: #1a7f37; font-weight: 600; }
@media print {
  @page { size: A4; margin: 14mm; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav.toc, nav.related { display: none; }
  details > summary { display: none; }
  details::details-content { content-visibility: visible; display: block; }
  h2, h3 { break-after: avoid; } tr, img, .verdict, .note { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  .light, th { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


class SignOffView(Protocol):
    """What a page shows of a sign-off (``research.signoff.SignOffStatus`` is one)."""

    @property
    def approved(self) -> bool: ...

    def line(self) -> str: ...


@dataclass
class Section:
    """A titled part of a report; ``body`` is already-escaped HTML."""

    title: str
    body: str
    anchor: str = field(default="")

    def __post_init__(self) -> None:
        if not self.anchor:
            self.anchor = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


def escape(text: object) -> str:
    """HTML-escape any value shown as text."""
    return html.escape(str(text))


def paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def note(text: str) -> str:
    return f'<div class="note">{escape(text)}</div>'


def light(colour: str) -> str:
    """A traffic-light badge (green, amber, red; grey when not judged)."""
    hexcode = LIGHT_COLOURS.get(colour, LIGHT_COLOURS["grey"])
    return f'<span class="light" style="background:{hexcode}">{escape(colour)}</span>'


# A cell that reads as a number: digits with separators, a sign, a percent or "x" suffix,
# a unit word after it (``12.5 days``) and a parenthesis (``545 (32.1%)``); a date; "n/a"
# or nothing.
_NUMBER = re.compile(
    r"^\s*(?:[-+\u2212]?(?:\d[\d,\u202f\u00a0]*(?:\.\d+)?|\.\d+)(?:e[-+]?\d+)?\s*(?:%|x|[a-z]{1,8})?"
    r"(?:\s*\([^)]*\))?|\d{4}-\d{2}-\d{2}|n/a|nan)?\s*$",
    re.IGNORECASE,
)
_BADGE = '<span class="light"'


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float, np.integer, np.floating)):
        return True
    return isinstance(value, str) and bool(_NUMBER.match(value))


def _column_kind(values: Sequence[object], raw: bool) -> str:
    """``num`` (right-aligned), ``badge`` (centred) or ``text`` (left) for a column's cells."""
    shown = [
        v for v in values if not (v is None or (isinstance(v, float) and pd.isna(v)) or v == "")
    ]
    if not shown:
        return "num"
    if raw:
        return "badge" if all(str(v).lstrip().startswith(_BADGE) for v in shown) else "text"
    if all(_is_number(v) for v in shown):
        return "num"
    longest = max(len(str(v)) for v in shown)
    return "long" if longest > 60 else "text"


def _cell_class(kind: str) -> str:
    return {"num": "num", "badge": "badge", "long": "text long"}.get(kind, "text")


def _header(name: object) -> str:
    """A column name that may wrap after each underscore (``observed_<wbr>rate``)."""
    return escape(name).replace("_", "_<wbr>")


def _recorded(value: float) -> float:
    """``value`` as the metrics files record it (6 decimals): every page rounds from that one value."""
    return round(value, 6) if np.isfinite(value) else value


def _rows_html(
    shown: pd.DataFrame, classes: Sequence[str], raw: Sequence[str], float_format: str
) -> str:
    rows = []
    for values in shown.itertuples(index=False):
        cells = []
        for col, value, cls in zip(shown.columns, values, classes, strict=True):
            if col in raw:
                text = str(value)
            elif isinstance(value, (float, np.floating)):
                text = "" if pd.isna(value) else float_format.format(_recorded(float(value)))
            else:
                text = escape(value)
            cells.append(f'<td class="{cls}">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(rows)


def table(
    frame: pd.DataFrame,
    *,
    float_format: str = "{:,.4f}",
    index: bool = False,
    raw_html_columns: Sequence[str] = (),
    top: int | None = None,
    rest: str = "",
) -> str:
    """An HTML table of ``frame``; columns in ``raw_html_columns`` are inserted unescaped (badges).

    Text columns are left-aligned and numbers right-aligned (a column is a number column
    when every cell is a number or reads as one). Floats are rounded to 6 decimals first,
    as the metrics files record them, so a page never rounds a figure differently from the
    file. With ``top``, a longer table shows its first ``top`` rows and folds the whole
    table into a ``<details>`` below them (``rest`` names what unfolds; printing opens it).
    """
    shown = frame.reset_index() if index else frame
    raw = set(raw_html_columns)
    kinds = [_column_kind(shown[c].tolist(), c in raw) for c in shown.columns]
    classes = [_cell_class(k) for k in kinds]
    head = "".join(
        f'<th class="{"num" if k == "num" else "badge" if k == "badge" else "text"}">{_header(c)}</th>'
        for c, k in zip(shown.columns, kinds, strict=True)
    )

    def render(part: pd.DataFrame) -> str:
        body = _rows_html(part, classes, list(raw), float_format)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    if top is None or len(shown) <= top:
        return render(shown)
    label = rest or f"all {len(shown):,} rows"
    return (
        render(shown.head(top))
        + f'<p class="meta">The first {top} of {len(shown):,} rows; unfold for {escape(label)}.</p>'
        + folded(render(shown), f"Show {label}")
    )


def folded(body: str, summary: str, *, open_: bool = False) -> str:
    """``body`` inside a ``<details>`` that ``summary`` unfolds (printing shows it unfolded)."""
    flag = " open" if open_ else ""
    return f"<details{flag}><summary>{escape(summary)}</summary>{body}</details>"


def link(text: str, href: str | None, *, missing: str = "not built yet") -> str:
    """An ``<a href>`` to ``href`` (relative to the page), or the text and why there is no link."""
    if not href:
        return f"{escape(text)} ({escape(missing)})" if missing else escape(text)
    return f'<a href="{escape(href)}">{escape(text)}</a>'


def related_nav(links: Sequence[tuple[str, str | None]], *, here: str = "") -> str:
    """The bar of links back to the front page and across to the sibling reports."""
    parts = [f'<span class="here">{escape(here)}</span>'] if here else []
    parts += [link(text, href, missing="") for text, href in links if href]
    return f'<nav class="related" aria-label="related reports">{"".join(parts)}</nav>'


def worst_light(counts: Mapping[str, int]) -> str:
    """red when any check is red, amber when any is amber, green when any is green; grey otherwise."""
    for colour in ("red", "amber", "green"):
        if int(counts.get(colour, 0) or 0) > 0:
            return colour
    return "grey"


def short_amount(value: float, _pos: object = None) -> str:
    """An axis label for an amount: ``850``, ``12.5k``, ``3.2m``, ``1.45bn`` (never a 1e9 offset)."""
    size = abs(value)
    for limit, suffix in ((1e12, "tn"), (1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if size >= limit:
            return f"{value / limit:,.3g}{suffix}"
    return f"{value:,.0f}" if size >= 1 or value == 0 else f"{value:.2g}"


def amount_axis(axis: Any) -> None:
    """Label a matplotlib axis (``ax.xaxis`` / ``ax.yaxis``) in k, m and bn, with no offset."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(short_amount))


# PNG metadata of embedded figures: matplotlib writes its version as "Software" unless told
# not to (a PNG gets no date; an SVG or PDF would, so figures are PNG). The pages are DVC
# outputs: the same figure must give the same bytes, whatever matplotlib is installed.
PNG_METADATA: dict[str, str | None] = {"Software": None}


def figure(fig, *, alt: str, dpi: int = 96) -> str:
    """Embed a matplotlib figure as a PNG data URI (no metadata, same bytes every run) and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata=PNG_METADATA)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def page(
    title: str,
    sections: Iterable[Section],
    *,
    subtitle: str = "",
    links: Sequence[tuple[str, str | None]] = (),
    here: str = "",
    lead: str = "",
) -> str:
    """A complete self-contained HTML page with a table of contents.

    ``links`` (text, relative href) open the page as a bar back to the front page and
    across to the sibling reports (``here`` names this one); ``lead`` is HTML shown
    above the contents (a verdict box).
    """
    sections = list(sections)
    nav = "".join(f'<a href="#{s.anchor}">{escape(s.title)}</a>' for s in sections)
    body = "".join(f'<h2 id="{s.anchor}">{escape(s.title)}</h2>{s.body}' for s in sections)
    sub = f'<p class="meta">{escape(subtitle)}</p>' if subtitle else ""
    bar = related_nav(links, here=here) if links else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f'<body>{bar}<h1>{escape(title)}</h1>{sub}{lead}<nav class="toc">{nav}</nav>{body}</body></html>'
    )


_TAG_REF = re.compile(
    r"""<([a-z][a-z0-9]*)\b[^>]*?\s(src|href)\s*=\s*["']([^"']*)["']""", re.IGNORECASE
)
_CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)""", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:|^//", re.IGNORECASE)
_LOOPBACK = re.compile(r"^https?://(127\.0\.0\.1|localhost)(:\d+)?(/|$)", re.IGNORECASE)


def external_references(document: str, *, allow_relative: bool = False) -> list[str]:
    """Every ``src``/``href``/CSS ``url()`` that would load something from outside the file.

    In-page anchors (``#...``) and ``data:`` URIs are self-contained. A link a reader
    follows (``<a href>``) loads nothing by itself: one to a sibling report (a relative
    path) or to the local MLflow UI (``http://127.0.0.1:<port>/...``) is allowed; any
    other target of an ``<a>`` is reported. Elsewhere (``src``, ``<link href>``, CSS
    ``url()``) a relative reference is allowed only with ``allow_relative``.
    """
    found = []
    refs = [(tag.lower(), ref.strip()) for tag, _attr, ref in _TAG_REF.findall(document)]
    refs += [("css", ref.strip()) for ref in _CSS_URL.findall(document)]
    for tag, ref in refs:
        if ref.startswith("#") or ref.lower().startswith("data:"):
            continue
        relative = not _SCHEME.match(ref)
        if tag == "a" and (relative or _LOOPBACK.match(ref)):
            continue
        if allow_relative and relative:
            continue
        found.append(ref)
    return found
