"""Charts for ``skillforge report`` and ``skillforge eval --plot``: Plotly figures in one
self-contained HTML file.

Plotly (MIT, maintained by Plotly Inc.) is imported lazily: it is the optional ``report`` extra
(``pip install 'skillforge[report]'``). Its JavaScript is inlined once per page
(``include_plotlyjs=True``), so a report opens offline and from an e-mail attachment alike; the
charts are SVG, interactive (hover, zoom) without a server.
"""

from __future__ import annotations

import html
import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from skillforge.errors import ConfigurationError

#: Colours: the student's side blue, the teacher's red, the rest grey (colour-blind safe pairs).
BLUE, RED, ORANGE, GREY, GREEN = "#1f5fbf", "#c33c2c", "#e08a00", "#888888", "#2e8b57"


def plotly() -> ModuleType:
    """``plotly.graph_objects``, or a :class:`ConfigurationError` naming the extra to install."""
    try:
        return importlib.import_module("plotly.graph_objects")
    except ImportError:
        raise ConfigurationError("charts need plotly: pip install 'skillforge[report]'") from None


@dataclass
class Series:
    """One trace: ``kind`` ``line``, ``bar`` or ``marker``; ``axis`` ``y`` or ``y2`` (right-hand)."""

    name: str
    x: Sequence[Any]
    y: Sequence[float | None]
    kind: str = "line"
    color: str | None = None
    dash: str | None = None
    axis: str = "y"
    text: Sequence[str] | None = None


@dataclass
class Chart:
    """A titled chart of :class:`Series`, with optional horizontal reference lines ``(y, label)``."""

    title: str
    series: list[Series]
    x_title: str = ""
    y_title: str = ""
    y2_title: str | None = None
    y_range: tuple[float, float] | None = None
    hlines: list[tuple[float, str]] = field(default_factory=list)
    x_is_category: bool = False

    def figure(self) -> Any:
        go = plotly()
        fig = go.Figure()
        for s in self.series:
            marker = {"color": s.color} if s.color else None
            yaxis = "y2" if s.axis == "y2" else "y"
            if s.kind == "bar":
                fig.add_trace(go.Bar(name=s.name, x=list(s.x), y=list(s.y), marker=marker, yaxis=yaxis,
                                     text=None if s.text is None else list(s.text)))
            else:
                mode = "markers+text" if s.kind == "marker" else "lines+markers" if len(s.x) < 40 else "lines"
                fig.add_trace(go.Scatter(name=s.name, x=list(s.x), y=list(s.y), mode=mode, yaxis=yaxis,
                                         line={"color": s.color, "dash": s.dash}, marker=marker,
                                         text=None if s.text is None else list(s.text), textposition="top right"))
        for y, label in self.hlines:
            fig.add_hline(y=y, line_dash="dash", line_color=RED, annotation_text=label,
                          annotation_position="top left")
        layout: dict[str, Any] = {
            "title": {"text": html.escape(self.title)}, "template": "plotly_white", "height": 360,
            "margin": {"l": 60, "r": 60, "t": 50, "b": 90}, "barmode": "group",
            "xaxis": {"title": {"text": self.x_title}, "type": "category" if self.x_is_category else "-"},
            "yaxis": {"title": {"text": self.y_title}, "range": list(self.y_range) if self.y_range else None},
            "legend": {"orientation": "h", "y": -0.3},
        }
        if self.y2_title is not None:
            layout["yaxis2"] = {"title": {"text": self.y2_title}, "overlaying": "y", "side": "right",
                                "range": [0, 1.05], "showgrid": False, "tickformat": ".0%",
                                "tickmode": "linear", "tick0": 0, "dtick": 0.2}
        fig.update_layout(**layout)
        return fig


def chart_html(chart: Chart, *, first: bool) -> str:
    """One chart as an HTML ``<div>``; the first of a page carries plotly.js inline."""
    return str(chart.figure().to_html(full_html=False, include_plotlyjs=bool(first),
                                      config={"displaylogo": False, "responsive": True}))


_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.drift{color:#c33c2c;font-weight:bold}
.ok{color:#2e8b57}.note{color:#666;font-size:.9em}.grid{display:grid;grid-template-columns:1fr 1fr;gap:.5rem}
@media(max-width:900px){.grid{grid-template-columns:1fr}}"""


def page(title: str, blocks: Sequence[str | Chart]) -> str:
    """A whole HTML document: ``blocks`` are HTML fragments (trusted, already escaped) or charts.
    Self-contained: no request leaves the page."""
    parts, first = [], True
    for block in blocks:
        if isinstance(block, Chart):
            parts.append(f'<div class="chart">{chart_html(block, first=first)}</div>')
            first = False
        else:
            parts.append(block)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style>'
            f'</head><body>\n{"".join(parts)}\n</body></html>\n')


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table; every cell is escaped."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
