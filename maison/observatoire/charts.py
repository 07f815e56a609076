"""Bar and line charts of a report's `Table`, drawn as inline SVG — no JavaScript, no library.

The HTML report (`maison indicateurs … --html`) and the observatory portal (issue 24) draw a table
whose `chart` says "bar" or "line": the first column on the x axis, each numeric column a series
(`maison.observatoire.report.Table`). Each chart is accessible on its own (WAI-ARIA graphics, SVG
1.1 §5.4): `role="img"`, a `<title>` and a `<desc>` naming every value, each bar or point with its
own `<title>`, axis labels, and colours whose contrast with the white background is at least 4.5:1
(WCAG 2.1 SC 1.4.11 asks 3:1 for graphics) — and the page prints the table beside it anyway.
"""

from __future__ import annotations

from html import escape
from itertools import count

from maison.observatoire.report import Table

WIDTH, HEIGHT = 720, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 40, 72
# WCAG contrast against white: 8.6, 5.6, 5.1, 8.2, 5.6 : 1
PALETTE = ("#1f4e79", "#b34700", "#2e6b30", "#6a1b9a", "#8a5a00")
_ids = count(1)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def series(table: Table) -> list[tuple[str, list[float | None]]]:
    """The numeric columns (after the first): each a series, one value per row (None: no value). An
    audit sequence number (a column named `seq…`) names a record, it is no quantity: never drawn."""
    out = []
    for index, name in enumerate(table.columns[1:], start=1):
        if name.startswith("seq"):
            continue
        values = [_number(row[index]) for row in table.rows]
        if any(v is not None for v in values) and all(
            v is not None or row[index] in (None, "", "—") for v, row in zip(values, table.rows, strict=True)
        ):
            out.append((name, values))
    return out


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def svg(table: Table) -> str | None:
    """The table's chart as an `<svg>` element, or None when it has no chart or nothing to draw."""
    if table.chart not in ("bar", "line") or not table.rows:
        return None
    drawn = series(table)
    if not drawn:
        return None
    top = max((v for _, values in drawn for v in values if v is not None), default=0.0) or 1.0
    labels = [str(row[0]) for row in table.rows]
    uid = f"graphique-{next(_ids)}"
    desc = "; ".join(
        f"{name} : "
        + ", ".join(f"{x} {_fmt(v) if v is not None else 'sans valeur'}" for x, v in zip(labels, values, strict=True))
        for name, values in drawn
    )
    kind = "en barres" if table.chart == "bar" else "en courbes"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-labelledby="{uid}-t {uid}-d">',
        f'<title id="{uid}-t">{escape(table.title)} (graphique {kind})</title>',
        f'<desc id="{uid}-d">{escape(desc)}</desc>',
        *_axes(table, top),
        *(_bars(labels, drawn, top) if table.chart == "bar" else _lines(labels, drawn, top)),
        *_legend(drawn),
        "</svg>",
    ]
    return "\n".join(parts)


def _text(x: float, y: float, text: str, size: int = 10, anchor: str = "middle") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="#1a1a1a">{escape(text)}</text>'
    )


def _y(value: float, top: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / top)


def _slot(i: int, n: int) -> tuple[float, float]:
    """(left, width) of the i-th of n categories along the x axis."""
    width = (WIDTH - LEFT - RIGHT) / n
    return LEFT + i * width, width


def _axes(table: Table, top: float) -> list[str]:
    base = HEIGHT - BOTTOM
    out = [
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#1a1a1a"/>',
        f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="#1a1a1a"/>',
    ]
    for step in range(5):
        value = top * step / 4
        y = _y(value, top)
        out.append(_text(LEFT - 6, y + 4, _fmt(round(value, 1)), 11, "end"))
    n = len(table.rows)
    for i, row in enumerate(table.rows):
        left, width = _slot(i, n)
        out.append(_text(left + width / 2, base + 16, str(row[0])[:18], 11))
    out.append(_text((LEFT + WIDTH - RIGHT) / 2, HEIGHT - 8, table.columns[0], 12))
    out.append(
        f'<text x="14" y="{(TOP + HEIGHT - BOTTOM) / 2}" font-size="12" text-anchor="middle" fill="#1a1a1a" '
        f'transform="rotate(-90 14 {(TOP + HEIGHT - BOTTOM) / 2})">valeur</text>'
    )
    return out


def _bars(labels: list[str], drawn: list[tuple[str, list[float | None]]], top: float) -> list[str]:
    out, base = [], HEIGHT - BOTTOM
    for i, label in enumerate(labels):
        left, width = _slot(i, len(labels))
        bar = width * 0.8 / len(drawn)
        for s, (name, values) in enumerate(drawn):
            value = values[i]
            if value is None:
                continue
            x, y = left + width * 0.1 + s * bar, _y(value, top)
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{base - y:.1f}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(label)} — {escape(name)} : '
                f"{_fmt(value)}</title></rect>"
            )
            out.append(_text(x + bar / 2, y - 3, _fmt(value)))
    return out


def _lines(labels: list[str], drawn: list[tuple[str, list[float | None]]], top: float) -> list[str]:
    out = []
    for s, (name, values) in enumerate(drawn):
        colour = PALETTE[s % len(PALETTE)]
        points = []
        for i, value in enumerate(values):
            if value is None:
                continue
            left, width = _slot(i, len(labels))
            points.append((left + width / 2, _y(value, top), labels[i], value))
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y, label, value in points:
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"><title>{escape(label)} — '
                f"{escape(name)} : {_fmt(value)}</title></circle>"
            )
            out.append(_text(x, y - 7, _fmt(value)))
    return out


def _legend(drawn: list[tuple[str, list[float | None]]]) -> list[str]:
    out, x = [], LEFT
    for s, (name, _) in enumerate(drawn):
        out.append(f'<rect x="{x}" y="12" width="12" height="12" fill="{PALETTE[s % len(PALETTE)]}"/>')
        out.append(f'<text x="{x + 16}" y="22" font-size="12" fill="#1a1a1a">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return out
