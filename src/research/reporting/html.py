"""Self-contained HTML pages: inline CSS, images embedded as data URIs, no network.

Report builders compose a page from ``Section`` objects; ``external_references`` is
what the tests use to prove a page loads nothing from outside the file.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

LIGHT_COLOURS = {"green": "#1a7f37", "amber": "#b7791f", "red": "#c53030", "grey": "#718096"}

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1180px; padding: 24px; color: #1a202c; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #e2e8f0; padding-bottom: 4px; margin-top: 1.8em; }
h3 { margin-top: 1.3em; } .meta { color: #4a5568; font-size: 0.92em; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.9em; }
th, td { border: 1px solid #e2e8f0; padding: 4px 8px; text-align: right; }
th { background: #f7fafc; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; height: auto; } .note { background: #f7fafc; border-left: 4px solid #a0aec0; padding: 8px 12px; }
.light { display: inline-block; min-width: 4.2em; text-align: center; color: white; border-radius: 3px; padding: 0 6px; font-weight: 600; }
nav a { margin-right: 12px; } code { background: #edf2f7; padding: 0 3px; border-radius: 3px; }
"""


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


def table(
    frame: pd.DataFrame,
    *,
    float_format: str = "{:,.4f}",
    index: bool = False,
    raw_html_columns: Sequence[str] = (),
) -> str:
    """An HTML table of ``frame``; columns in ``raw_html_columns`` are inserted unescaped (badges)."""
    shown = frame.reset_index() if index else frame
    head = "".join(f"<th>{escape(c)}</th>" for c in shown.columns)
    rows = []
    for values in shown.itertuples(index=False):
        cells = []
        for col, value in zip(shown.columns, values, strict=True):
            if col in raw_html_columns:
                cells.append(f"<td>{value}</td>")
            elif isinstance(value, float):
                cells.append(f"<td>{'' if pd.isna(value) else float_format.format(value)}</td>")
            else:
                cells.append(f"<td>{escape(value)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


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


def page(title: str, sections: Iterable[Section], *, subtitle: str = "") -> str:
    """A complete self-contained HTML page with a table of contents."""
    sections = list(sections)
    nav = "".join(f'<a href="#{s.anchor}">{escape(s.title)}</a>' for s in sections)
    body = "".join(f'<h2 id="{s.anchor}">{escape(s.title)}</h2>{s.body}' for s in sections)
    sub = f'<p class="meta">{escape(subtitle)}</p>' if subtitle else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{escape(title)}</h1>{sub}<nav>{nav}</nav>{body}</body></html>"
    )


_REF = re.compile(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)""", re.IGNORECASE)


def external_references(document: str, *, allow_relative: bool = False) -> list[str]:
    """Every ``src``/``href``/CSS ``url()`` that would load something from outside the file.

    In-page anchors (``#...``) and ``data:`` URIs are self-contained. Relative links
    (to sibling reports) are allowed only with ``allow_relative`` (the index page).
    """
    found = []
    for ref in _REF.findall(document) + _CSS_URL.findall(document):
        ref = ref.strip()
        if ref.startswith("#") or ref.lower().startswith("data:"):
            continue
        if allow_relative and not re.match(r"^[a-z][a-z0-9+.-]*:|^//", ref, re.IGNORECASE):
            continue
        found.append(ref)
    return found
