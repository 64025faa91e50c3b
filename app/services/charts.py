"""Server-side SVG bar charts (SPEC X17): no JavaScript, nothing from the internet, CSP-safe
(no style attributes: colours come from CSS classes `chart-series-<n>` in regportal.css).
Every label is escaped.

    bar_chart(["运营", "暂停"], [("车辆", [120, 3])], title="车辆状态")  -> Markup("<svg ...>")
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape


def nice_max(value: float, ticks: int = 4) -> tuple[float, float]:
    """A round top for the axis and its tick step, e.g. 87 -> (100, 25)."""
    if value <= 0:
        return float(ticks), 1.0
    raw = value / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if step >= raw:
            break
    if step < 1:
        step = 1.0
    return step * math.ceil(value / step), step


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def bar_chart(categories: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *,
              title: str = "", width: int = 640, height: int = 260,
              chart_id: str | None = None) -> Markup:
    """Grouped vertical bars: one group per category, one bar per series, a legend when there
    is more than one series, the value above each bar, and a text table in <desc>."""
    categories = [str(c) for c in categories]
    series = [(str(name), [float(v or 0) for v in values]) for name, values in series]
    for name, values in series:
        if len(values) != len(categories):
            raise ValueError(f"series {name!r} has {len(values)} values for "
                             f"{len(categories)} categories")
    left, right, top, bottom = 44, 10, 28 if len(series) > 1 else 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value, step = nice_max(max([v for _, vals in series for v in vals] + [0]))
    n = max(len(categories), 1)
    group_w = plot_w / n
    bar_w = max(2.0, group_w * 0.8 / max(len(series), 1))

    def y(value: float) -> float:
        return top + plot_h - (value / top_value) * plot_h

    out = []
    label = escape(title)
    id_attr = f' id="{escape(chart_id)}"' if chart_id else ""
    out.append(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart"{id_attr} '
               f'viewBox="0 0 {width} {height}" width="100%" role="img" '
               f'aria-label="{label}" preserveAspectRatio="xMidYMid meet">')
    out.append(f"<title>{label}</title>")
    desc = "; ".join(
        f"{c}: " + ", ".join(f"{name} {_num(vals[i])}" for name, vals in series)
        for i, c in enumerate(categories))
    out.append(f"<desc>{escape(desc)}</desc>")
    # Grid and axis labels.
    ticks = int(round(top_value / step))
    for i in range(ticks + 1):
        value = step * i
        gy = y(value)
        out.append(f'<line class="chart-grid" x1="{left}" x2="{width - right}" '
                   f'y1="{gy:.1f}" y2="{gy:.1f}"/>')
        out.append(f'<text class="chart-axis" x="{left - 6}" y="{gy + 4:.1f}" '
                   f'text-anchor="end">{_num(value)}</text>')
    # Bars.
    for i, cat in enumerate(categories):
        gx = left + i * group_w + (group_w - bar_w * len(series)) / 2
        for s, (name, values) in enumerate(series):
            value = values[i]
            by = y(value)
            bx = gx + s * bar_w
            out.append(f'<rect class="chart-bar chart-series-{s}" x="{bx:.1f}" '
                       f'y="{by:.1f}" width="{bar_w - 1:.1f}" '
                       f'height="{top + plot_h - by:.1f}">'
                       f"<title>{escape(cat)} · {escape(name)}: {_num(value)}</title></rect>")
            if value:
                out.append(f'<text class="chart-value" x="{bx + bar_w / 2:.1f}" '
                           f'y="{by - 3:.1f}" text-anchor="middle">{_num(value)}</text>')
        out.append(f'<text class="chart-label" x="{left + i * group_w + group_w / 2:.1f}" '
                   f'y="{height - bottom + 16}" text-anchor="middle">{escape(cat)}</text>')
    out.append(f'<line class="chart-axis-line" x1="{left}" x2="{width - right}" '
               f'y1="{top + plot_h}" y2="{top + plot_h}"/>')
    # Legend.
    if len(series) > 1:
        lx = left
        for s, (name, _values) in enumerate(series):
            out.append(f'<rect class="chart-series-{s}" x="{lx}" y="6" width="12" '
                       f'height="12"/>')
            out.append(f'<text class="chart-legend" x="{lx + 16}" y="16">{escape(name)}</text>')
            lx += 28 + 14 * len(name)
    out.append("</svg>")
    return Markup("".join(out))


__all__ = ["bar_chart", "nice_max"]
