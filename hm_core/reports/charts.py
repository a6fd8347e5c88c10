"""Inline SVG charts for the dashboard: geometry computed here, markup escaped by Django.

No JavaScript and no third-party asset: each chart is one `<svg>` with a `<title>` per mark
(the browser shows it as a tooltip) and CSS classes the dashboard's stylesheet colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 720, 240
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 48, 36, 12
ROW = 26


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    series: str = "a"  # CSS class suffix: which colour


def column_chart(css: str, title: str, bars: Sequence[Bar]) -> SafeString:
    """Vertical bars over a labelled x axis (one per day), with the y axis's maximum marked."""
    if not bars:
        return _empty(css, title)
    top = max(bar.value for bar in bars) or 1
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_TOP - PAD_BOTTOM
    step = plot_w / len(bars)
    every = max(1, len(bars) // 10)  # at most ~10 x labels
    marks = []
    for i, bar in enumerate(bars):
        h = plot_h * bar.value / top
        x, y = PAD_LEFT + i * step + step * 0.1, PAD_TOP + plot_h - h
        marks.append(
            format_html(
                '<rect class="bar bar-{}" x="{}" y="{}" width="{}" height="{}">'
                "<title>{}: {}</title></rect>",
                bar.series,
                _c(x),
                _c(y),
                _c(step * 0.8),
                _c(h),
                bar.label,
                _num(bar.value),
            )
        )
        if i % every == 0:
            marks.append(
                format_html(
                    '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                    _c(x + step * 0.4),
                    HEIGHT - PAD_BOTTOM + 14,
                    bar.label[5:],
                )
            )
    axis = format_html(
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>'
        '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>',
        PAD_LEFT,
        PAD_TOP + plot_h,
        WIDTH - 8,
        PAD_TOP + plot_h,
        PAD_LEFT - 6,
        PAD_TOP + 10,
        _num(top),
    )
    return _svg(css, title, HEIGHT, axis + SafeString("".join(marks)))


def bar_rows(css: str, title: str, rows: Sequence[tuple[str, Sequence[Bar]]]) -> SafeString:
    """Horizontal bars, one group per label (a test, a payer), one bar per series in it."""
    if not rows:
        return _empty(css, title)
    top = max((bar.value for _, bars in rows for bar in bars), default=0) or 1
    label_w, plot_w = 150, WIDTH - 150 - 80
    marks, y = [], PAD_TOP
    for label, bars in rows:
        marks.append(
            format_html(
                '<text class="label" x="{}" y="{}" text-anchor="end">{}</text>',
                label_w - 8,
                _c(y + ROW * len(bars) / 2 + 4),
                label,
            )
        )
        for bar in bars:
            w = plot_w * bar.value / top
            marks.append(
                format_html(
                    '<rect class="bar bar-{}" x="{}" y="{}" width="{}" height="{}">'
                    "<title>{} {}: {}</title></rect>"
                    '<text class="value" x="{}" y="{}">{}</text>',
                    bar.series,
                    label_w,
                    y + 3,
                    _c(max(w, 1)),
                    ROW - 6,
                    label,
                    bar.series,
                    _num(bar.value),
                    _c(label_w + max(w, 1) + 4),
                    y + ROW - 8,
                    _num(bar.value),
                )
            )
            y += ROW
        y += 8
    return _svg(css, title, y + PAD_TOP, SafeString("".join(marks)))


def _svg(css: str, title: str, height: float, body: SafeString) -> SafeString:
    return format_html(
        '<svg class="chart {}" role="img" aria-label="{}" viewBox="0 0 {} {}" width="{}" '
        'height="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>{}</svg>',
        css,
        title,
        WIDTH,
        _c(height, 0),
        WIDTH,
        _c(height, 0),
        title,
        body,
    )


def _empty(css: str, title: str) -> SafeString:
    return format_html(
        '<svg class="chart {} empty" role="img" aria-label="{}" viewBox="0 0 {} 40" width="{}" '
        'height="40" xmlns="http://www.w3.org/2000/svg"><text x="8" y="24">No data in this '
        "period</text></svg>",
        css,
        title,
        WIDTH,
        WIDTH,
    )


def _c(value: float, digits: int = 1) -> str:
    """A coordinate as SVG text."""
    return f"{value:.{digits}f}"


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def legend(items: Sequence[tuple[str, str]]) -> SafeString:
    """A legend: (series, label) pairs as coloured swatches."""
    return format_html_join("", '<span class="key"><i class="swatch bar-{}"></i>{}</span>', items)
