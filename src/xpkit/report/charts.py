"""Inline SVG charts for the report: pure functions from figures to SVG text.

Every function returns one self-contained ``<svg>`` element (valid XML, no
external references, text escaped) and never raises on degenerate input: no
rows, a single point, or missing and non-finite figures (None, NaN, pd.NA)
give a chart that says what is missing instead of a number. Figures are drawn,
never computed: callers pass values taken from the marts.

Size: one module, past the project's ~400 lines, because every chart draws
with the same scale, tick, text and colour primitives; each chart is one
function of plain records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from xpkit.narrative.numbers import format_percent
from xpkit.narrative.report import number_label
from xpkit.stats.numbers import finite

__all__ = [
    "BalanceBar",
    "CateCell",
    "ForestRow",
    "HeatmapCell",
    "LiftPoint",
    "LiftSeries",
    "UpliftSeries",
    "balance_bars",
    "cate_heatmap",
    "cumulative_lift_chart",
    "forest_plot",
    "progress_bar",
    "segment_heatmap",
    "uplift_chart",
]

FONT = (
    "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, 'Helvetica Neue', "
    "Arial, sans-serif"
)
INK = "#1f2328"
MUTED = "#656d76"
GRID = "#d8dee4"
DIRECTION_COLOURS = {
    "good": "#1a7f37",
    "bad": "#cf222e",
    "flat": "#57606a",
}
UNKNOWN_COLOUR = "#8c959f"
# A verdict that its drawn interval contradicts (dashed, never green/red/grey).
DISAGREE_COLOUR = "#9a6700"
SERIES_COLOURS = ("#0969da", "#8250df", "#bf3989", "#bc4c00", "#1a7f37", "#57606a")
EXPECTED_COLOUR = "#afb8c1"
OBSERVED_COLOUR = "#0969da"
MISMATCH_COLOUR = "#cf222e"


def _num(value: float) -> str:
    """A coordinate with at most two decimals."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _text(
    x: float,
    y: float,
    content: str,
    *,
    anchor: str = "start",
    size: int = 12,
    fill: str = INK,
    weight: str | None = None,
) -> str:
    bold = f' font-weight="{weight}"' if weight else ""
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" '
        f'font-size="{size}" fill="{fill}"{bold}>{escape(content)}</text>'
    )


def _clip(text: str, length: int) -> str:
    """Text cut to ``length`` characters, with an ellipsis when cut."""
    return text if len(text) <= length else text[: length - 1] + "…"


# Advance widths of the sans-serif stack in ems (Arial/Helvetica metrics,
# rounded up), so that a label's width is known before a browser draws it.
_NARROW = set("il.,:;'|!ijtfI[]()") | {" "}
_WIDE = set("mwMW%@")


def text_width(text: str, size: float) -> float:
    """Estimated drawn width of ``text`` at font ``size`` (px), on the wide side."""
    ems = 0.0
    for char in text:
        if char in _NARROW:
            ems += 0.32
        elif char in _WIDE:
            ems += 0.9
        elif char.isupper():
            ems += 0.7
        else:
            ems += 0.58
    return ems * size


def fit(text: str, size: float, room: float) -> str:
    """``text`` ellipsised to fit ``room`` px at font ``size`` (whole when it fits)."""
    if text_width(text, size) <= room:
        return text
    cut = text
    while cut and text_width(cut + "…", size) > room:
        cut = cut[:-1]
    return cut.rstrip() + "…"


def _label(
    x: float,
    y: float,
    content: str,
    room: float,
    *,
    anchor: str = "start",
    size: int = 12,
    fill: str = INK,
    weight: str | None = None,
) -> str:
    """A text fitted to ``room`` px; when cut, its full text is a tooltip
    (an SVG ``<title>`` child)."""
    shown = fit(content, size, room)
    element = _text(x, y, shown, anchor=anchor, size=size, fill=fill, weight=weight)
    if shown == content:
        return element
    return element[: -len("</text>")] + f"<title>{escape(content)}</title></text>"


def _legend(
    items: Sequence[tuple[str, str, str]], x: float, y: float, room: float
) -> tuple[list[str], float]:
    """Legend entries (name, colour, "box" or "line") in rows from (x, y) within
    ``room`` px, outside any plot area; returns the elements and the height used."""
    body: list[str] = []
    cx, row = x, 0
    for name, colour, kind in items:
        shown = fit(name, 11, min(room - 18, 220))
        step = 18 + text_width(shown, 11) + 16
        if cx > x and cx + step > x + room:
            cx, row = x, row + 1
        top = y + 16 * row
        if kind == "line":
            body.append(
                f'<rect x="{_num(cx)}" y="{_num(top + 4)}" width="12" height="3" '
                f'fill="{colour}"/>'
            )
        else:
            body.append(
                f'<rect x="{_num(cx)}" y="{_num(top)}" width="12" height="11" '
                f'rx="2" fill="{colour}"/>'
            )
        body.append(_label(cx + 18, top + 10, name, min(room - 18, 220), size=11))
        cx += step
    return body, 16.0 * (row + 1) if items else 0.0


def thinned(
    positions: Sequence[float], labels: Sequence[str], size: float
) -> list[int]:
    """Indices of the axis labels to draw so that none overlaps the next: every
    k-th, the last always, the one before it dropped when too close."""
    if not positions:
        return []
    widest = max(text_width(label, size) for label in labels) + 10
    if len(positions) == 1:
        return [0]
    spacing = abs(positions[1] - positions[0]) or 1.0
    every = max(1, math.ceil(widest / spacing))
    chosen = list(range(0, len(positions), every))
    last = len(positions) - 1
    if chosen[-1] != last:
        if abs(positions[last] - positions[chosen[-1]]) < widest and len(chosen) > 1:
            chosen.pop()
        chosen.append(last)
    return chosen


def _svg(width: float, height: float, label: str, body: Sequence[str]) -> str:
    """Wrap chart elements in an accessible, standalone <svg> element."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'width="{_num(width)}" height="{_num(height)}" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" '
        f"aria-label={quoteattr(label)} font-family={quoteattr(FONT)}>"
        f"<title>{escape(label)}</title>" + "".join(body) + "</svg>"
    )


def _empty(label: str, message: str, width: float = 640, height: float = 64) -> str:
    """A chart-sized placeholder that says why there is nothing to draw."""
    return _svg(
        width,
        height,
        label,
        [
            f'<rect x="0.5" y="0.5" width="{_num(width - 1)}" '
            f'height="{_num(height - 1)}" rx="6" fill="#f6f8fa" stroke="{GRID}"/>',
            _text(width / 2, height / 2 + 4, message, anchor="middle", fill=MUTED),
        ],
    )


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Round tick values covering [low, high] (about ``target`` of them)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high < low:
        low, high = high, low
    if high == low:
        pad = abs(low) * 0.1 or 0.01
        low, high = low - pad, high + pad
    step = _nice_step(high - low, target)
    start = math.floor(low / step) * step
    ticks: list[float] = []
    value = start
    while value <= high + step * 1e-9 and len(ticks) < 50:
        ticks.append(round(value / step) * step)
        value += step
    if ticks and ticks[-1] < high - step * 1e-9:
        ticks.append(ticks[-1] + step)
    return ticks


def tick_decimals(ticks: Sequence[float]) -> int:
    """Decimals that tell percentage ticks apart (step 0.025 -> 1)."""
    if len(ticks) < 2:
        return 1
    step = abs(ticks[1] - ticks[0]) * 100
    decimals = 0
    while decimals < 4 and abs(round(step, decimals) - step) > 1e-9 * max(step, 1):
        decimals += 1
    return decimals


def _domain(values: Sequence[float], include_zero: bool = True) -> tuple[float, float]:
    """A padded [low, high] covering the values (and 0)."""
    points = list(values) + ([0.0] if include_zero else [])
    low, high = min(points), max(points)
    if high == low:
        pad = abs(high) * 0.1 or 0.01
        return low - pad, high + pad
    pad = (high - low) * 0.06
    return low - pad, high + pad


# --- forest plot -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ForestRow:
    """One comparison in a forest plot.

    Attributes:
        label: Row label (e.g. the metric, "Reply rate").
        sublabel: Second, smaller line of the label (e.g. the variant).
        estimate: Relative lift (0.1 = +10%); None when not computed.
        low: Lower end of its interval.
        high: Upper end of its interval.
        direction: good, bad or flat (colours the row); None when unknown.
            The interval should be the one the verdict is judged on (the
            multiplicity-adjusted interval for an adjusted verdict): a
            significant verdict whose interval covers 0, or a flat one whose
            interval excludes 0, is drawn dashed in ``DISAGREE_COLOUR``.
        note: Shown instead of the interval when there is no estimate.
    """

    label: str
    estimate: float | None
    sublabel: str | None = None
    low: float | None = None
    high: float | None = None
    direction: str | None = None
    note: str | None = None


def agrees(direction: str | None, low: float | None, high: float | None) -> bool:
    """Does the interval [low, high] say what the verdict says? A significant
    verdict (good, bad) needs an interval clear of 0, a flat one an interval
    that covers 0; an endpoint exactly at 0 agrees with both. Unknown
    verdicts and missing intervals always agree (nothing is claimed)."""
    lo, hi = finite(low), finite(high)
    if direction not in DIRECTION_COLOURS or lo is None or hi is None:
        return True
    lo, hi = min(lo, hi), max(lo, hi)
    if direction == "flat":
        return lo <= 0 <= hi
    return lo >= 0 or hi <= 0


def forest_plot(rows: Sequence[ForestRow], title: str = "Relative lift") -> str:
    """Relative lifts with their intervals, one row each, around a zero line.

    A row is coloured by its verdict only when the drawn interval agrees with
    it (``agrees``); otherwise its bar is dashed in ``DISAGREE_COLOUR`` and a
    caption under the plot says so.
    """
    label = f"{title}: forest plot"
    if not rows:
        return _empty(label, "No comparisons to plot")
    values = [
        v
        for row in rows
        for v in (finite(row.estimate), finite(row.low), finite(row.high))
        if v is not None
    ]
    width, left, right, top, row_height = 760.0, 230.0, 190.0, 30.0, 36.0
    disagree = [
        finite(row.estimate) is not None
        and not agrees(row.direction, row.low, row.high)
        for row in rows
    ]
    height = top + row_height * len(rows) + 34 + (18 if any(disagree) else 0)
    plot_w = width - left - right
    low, high = _domain(values) if values else (-0.1, 0.1)
    ticks = [t for t in nice_ticks(low, high) if low <= t <= high] or [0.0]
    digits = tick_decimals(ticks)
    span = high - low

    def x(value: float) -> float:
        return left + (value - low) / span * plot_w

    body = [
        _label(left, 16, title, width - left - 8, size=12, fill=MUTED, weight="600")
    ]
    bottom = top + row_height * len(rows)
    for tick in ticks:
        body.append(
            f'<line x1="{_num(x(tick))}" y1="{_num(top - 6)}" x2="{_num(x(tick))}" '
            f'y2="{_num(bottom)}" stroke="{GRID}" stroke-width="1"/>'
        )
        body.append(
            _text(
                x(tick),
                bottom + 16,
                format_percent(tick, decimals=digits),
                anchor="middle",
                size=11,
                fill=MUTED,
            )
        )
    if low <= 0 <= high:
        body.append(
            f'<line x1="{_num(x(0))}" y1="{_num(top - 6)}" x2="{_num(x(0))}" '
            f'y2="{_num(bottom)}" stroke="{INK}" stroke-width="1.2" '
            'stroke-dasharray="4 3"/>'
        )
    for index, row in enumerate(rows):
        cy = top + row_height * (index + 0.5)
        colour = DIRECTION_COLOURS.get(row.direction or "", UNKNOWN_COLOUR)
        dash = ""
        if disagree[index]:
            colour, dash = DISAGREE_COLOUR, ' stroke-dasharray="5 4"'
        if row.sublabel:
            body.append(_label(left - 10, cy - 2, row.label, left - 18, anchor="end"))
            body.append(
                _label(
                    left - 10,
                    cy + 12,
                    row.sublabel,
                    left - 18,
                    anchor="end",
                    size=11,
                    fill=MUTED,
                )
            )
        else:
            body.append(_label(left - 10, cy + 4, row.label, left - 18, anchor="end"))
        estimate = finite(row.estimate)
        lo, hi = finite(row.low), finite(row.high)
        if estimate is None:
            body.append(
                _text(left + 4, cy + 4, row.note or "no estimate", size=11, fill=MUTED)
            )
            continue
        if lo is not None and hi is not None:
            body.append(
                f'<line x1="{_num(x(lo))}" y1="{_num(cy)}" x2="{_num(x(hi))}" '
                f'y2="{_num(cy)}" stroke="{colour}" stroke-width="2.5" '
                f'stroke-linecap="round"{dash}/>'
            )
            for end in (lo, hi):
                body.append(
                    f'<line x1="{_num(x(end))}" y1="{_num(cy - 5)}" '
                    f'x2="{_num(x(end))}" y2="{_num(cy + 5)}" stroke="{colour}" '
                    'stroke-width="2"/>'
                )
            interval = (
                f"{format_percent(estimate)} "
                f"[{format_percent(lo)}, {format_percent(hi)}]"
            )
        else:
            interval = f"{format_percent(estimate)} (no interval)"
        body.append(
            f'<circle cx="{_num(x(estimate))}" cy="{_num(cy)}" r="5.5" '
            f'fill="{colour}" stroke="#ffffff" stroke-width="1.5"/>'
        )
        if disagree[index]:
            interval += " †"
        body.append(_text(width - right + 12, cy + 4, interval, size=11))
    if any(disagree):
        body.append(
            _text(
                left,
                bottom + 34,
                "† dashed: the verdict and interval disagree (the verdict is "
                "from the test, see the table)",
                size=11,
                fill=DISAGREE_COLOUR,
            )
        )
    return _svg(width, height, label, body)


# --- cumulative lift -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiftPoint:
    """The cumulative estimate after one exposure day.

    Attributes:
        day: The exposure day, as shown on the x axis (e.g. "2024-10-03").
        estimate: Relative lift of the units exposed up to that day.
        low: Lower end of its interval (None when not computable).
        high: Upper end of its interval.
    """

    day: str
    estimate: float | None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True, slots=True)
class LiftSeries:
    """One treatment variant's cumulative lift over exposure days."""

    name: str
    points: Sequence[LiftPoint] = field(default_factory=tuple)


def cumulative_lift_chart(
    series: Sequence[LiftSeries], title: str = "Cumulative relative lift"
) -> str:
    """Lines of the cumulative relative lift with shaded interval bands."""
    label = f"{title}: line chart"
    days = sorted({point.day for s in series for point in s.points})
    values = [
        v
        for s in series
        for p in s.points
        for v in (finite(p.estimate), finite(p.low), finite(p.high))
        if v is not None
    ]
    if not days or not values:
        return _empty(label, "No daily data to plot")
    width, left, right, top, bottom_pad = 760.0, 64.0, 48.0, 40.0, 44.0
    # The legend sits in its own rows between the title and the plot.
    legend, legend_h = _legend(
        [
            (s.name, SERIES_COLOURS[n % len(SERIES_COLOURS)], "box")
            for n, s in enumerate(series)
        ],
        left,
        24,
        width - left - right,
    )
    top += legend_h
    height = 300.0 + legend_h
    plot_w, plot_h = width - left - right, height - top - bottom_pad
    low, high = _domain(values)
    ticks = [t for t in nice_ticks(low, high) if low <= t <= high] or [0.0]
    digits = tick_decimals(ticks)
    span = high - low

    def x(index: int) -> float:
        if len(days) == 1:
            return left + plot_w / 2
        return left + index / (len(days) - 1) * plot_w

    def y(value: float) -> float:
        return top + (high - value) / span * plot_h

    position = {day: index for index, day in enumerate(days)}
    opacity = "0.16" if len(series) == 1 else "0.09"
    body = [
        _label(left, 16, title, width - left - 8, size=12, fill=MUTED, weight="600")
    ]
    for tick in ticks:
        body.append(
            f'<line x1="{_num(left)}" y1="{_num(y(tick))}" x2="{_num(width - right)}" '
            f'y2="{_num(y(tick))}" stroke="{GRID}" stroke-width="1"/>'
        )
        body.append(
            _text(
                left - 8,
                y(tick) + 4,
                format_percent(tick, decimals=digits),
                anchor="end",
                size=11,
                fill=MUTED,
            )
        )
    if low <= 0 <= high:
        body.append(
            f'<line x1="{_num(left)}" y1="{_num(y(0))}" x2="{_num(width - right)}" '
            f'y2="{_num(y(0))}" stroke="{INK}" stroke-width="1.2" '
            'stroke-dasharray="4 3"/>'
        )
    for index in thinned([x(i) for i in range(len(days))], days, 11):
        body.append(
            _text(
                x(index), height - 22, days[index], anchor="middle", size=11, fill=MUTED
            )
        )
    for number, s in enumerate(series):
        colour = SERIES_COLOURS[number % len(SERIES_COLOURS)]
        # Split the series into runs of consecutive drawable points.
        runs: list[list[tuple[float, float, float | None, float | None]]] = [[]]
        for point in sorted(s.points, key=lambda p: position[p.day]):
            estimate = finite(point.estimate)
            if estimate is None:
                runs.append([])
                continue
            lo, hi = finite(point.low), finite(point.high)
            runs[-1].append((x(position[point.day]), estimate, lo, hi))
        for run in (r for r in runs if r):
            band = [
                (px, lo, hi)
                for px, _, lo, hi in run
                if lo is not None and hi is not None
            ]
            if len(band) > 1:
                outline = [f"{_num(px)},{_num(y(hi))}" for px, _, hi in band] + [
                    f"{_num(px)},{_num(y(lo))}" for px, lo, _ in reversed(band)
                ]
                body.append(
                    f'<polygon points="{" ".join(outline)}" fill="{colour}" '
                    f'fill-opacity="{opacity}" stroke="none"/>'
                )
            elif band:
                px, lo, hi = band[0]
                body.append(
                    f'<line x1="{_num(px)}" y1="{_num(y(lo))}" x2="{_num(px)}" '
                    f'y2="{_num(y(hi))}" stroke="{colour}" stroke-opacity="0.45" '
                    'stroke-width="6" stroke-linecap="round"/>'
                )
            if len(run) > 1:
                path = " ".join(
                    f"{'M' if i == 0 else 'L'}{_num(px)},{_num(y(est))}"
                    for i, (px, est, _, _) in enumerate(run)
                )
                body.append(
                    f'<path d="{path}" fill="none" stroke="{colour}" '
                    'stroke-width="2.2" stroke-linejoin="round"/>'
                )
            for px, est, _, _ in run:
                body.append(
                    f'<circle cx="{_num(px)}" cy="{_num(y(est))}" r="3.5" '
                    f'fill="{colour}"/>'
                )
    return _svg(width, height, label, body + legend)


# --- assignment balance ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class BalanceBar:
    """One arm: its expected and observed share of the analysed units."""

    variant: str
    expected_share: float | None
    observed_share: float | None
    units: int | None = None


def balance_bars(bars: Sequence[BalanceBar], mismatch: bool = False) -> str:
    """Expected versus observed share of units per arm, as paired bars."""
    label = "Assignment balance: expected versus observed share per arm"
    if not bars:
        return _empty(label, "No arms registered")
    width, left, right, top = 760.0, 160.0, 170.0, 34.0
    group = 44.0
    height = top + group * len(bars) + 10
    plot_w = width - left - right
    shares = [
        v
        for bar in bars
        for v in (finite(bar.expected_share), finite(bar.observed_share))
        if v is not None
    ]
    scale = max(shares + [0.0]) * 1.1 or 1.0
    observed_colour = MISMATCH_COLOUR if mismatch else OBSERVED_COLOUR
    body = [
        f'<rect x="{_num(left)}" y="8" width="12" height="10" '
        f'fill="{EXPECTED_COLOUR}"/>',
        _text(left + 18, 17, "expected share", size=11),
        f'<rect x="{_num(left + 130)}" y="8" width="12" height="10" '
        f'fill="{observed_colour}"/>',
        _text(left + 148, 17, "observed share", size=11),
    ]
    for index, bar in enumerate(bars):
        y0 = top + group * index
        body.append(_label(left - 10, y0 + 20, bar.variant, left - 18, anchor="end"))
        for offset, share, colour in (
            (4.0, finite(bar.expected_share), EXPECTED_COLOUR),
            (20.0, finite(bar.observed_share), observed_colour),
        ):
            if share is None:
                body.append(
                    _text(left + 4, y0 + offset + 11, "n/a", size=11, fill=MUTED)
                )
                continue
            bar_w = max(share / scale * plot_w, 1.0 if share > 0 else 0.0)
            body.append(
                f'<rect x="{_num(left)}" y="{_num(y0 + offset)}" '
                f'width="{_num(bar_w)}" height="14" rx="2" fill="{colour}"/>'
            )
            body.append(
                _text(
                    left + bar_w + 6,
                    y0 + offset + 11,
                    format_percent(share, signed=False, decimals=1),
                    size=11,
                )
            )
        if bar.units is not None:
            body.append(
                _text(
                    width - 10,
                    y0 + 31,
                    f"{bar.units:,} units",
                    anchor="end",
                    size=11,
                    fill=MUTED,
                )
            )
    return _svg(width, height, label, body)


# --- segment heatmap -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeatmapCell:
    """One segment x variant cell.

    Attributes:
        row: Segment label (e.g. "segment = New Customer").
        column: Treatment variant.
        value: Relative lift; None when not computed.
        desired_direction: increase or decrease (which sign is good).
        is_significant: Draws a marker on the cell.
        is_suppressed: Too few units: drawn hatched grey, no figure.
    """

    row: str
    column: str
    value: float | None
    desired_direction: str | None = "increase"
    is_significant: bool = False
    is_suppressed: bool = False


def _mix(colour: str, weight: float) -> str:
    """``colour`` blended with white; weight 0 is white, 1 the colour."""
    weight = min(max(weight, 0.0), 1.0)
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(255 + (c - 255) * weight) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def _hatch(x0: float, y0: float, x1: float, y1: float, step: float = 9) -> list[str]:
    """Diagonal lines filling the rectangle [x0, x1] x [y0, y1]."""
    lines = []
    c = x0 + y0 + step
    while c < x1 + y1:
        ax, ay = c - y0, y0
        if ax > x1:
            ax, ay = x1, c - x1
        bx, by = c - y1, y1
        if bx < x0:
            bx, by = x0, c - x0
        lines.append(
            f'<line x1="{_num(ax)}" y1="{_num(ay)}" x2="{_num(bx)}" y2="{_num(by)}" '
            'stroke="#d0d7de" stroke-width="1"/>'
        )
        c += step
    return lines


def segment_heatmap(
    cells: Sequence[HeatmapCell], title: str = "Relative lift by segment"
) -> str:
    """Segments x variants coloured by relative lift (green good, red bad)."""
    label = f"{title}: heatmap"
    if not cells:
        return _empty(label, "No segment results")
    rows = list(dict.fromkeys(cell.row for cell in cells))
    columns = list(dict.fromkeys(cell.column for cell in cells))
    lookup = {(cell.row, cell.column): cell for cell in cells}
    magnitudes = [
        abs(v)
        for cell in cells
        if not cell.is_suppressed and (v := finite(cell.value)) is not None
    ]
    scale = max(magnitudes) if magnitudes and max(magnitudes) > 0 else 1.0
    left, top, cell_w, cell_h = 230.0, 52.0, 120.0, 40.0
    width = max(left + cell_w * len(columns) + 20, 640.0)
    height = top + cell_h * len(rows) + 40
    body = [
        _label(left, 16, title, width - left - 8, size=12, fill=MUTED, weight="600"),
    ]
    for j, column in enumerate(columns):
        body.append(
            _label(
                left + cell_w * (j + 0.5),
                top - 10,
                column,
                cell_w - 8,
                anchor="middle",
                size=12,
            )
        )
    for i, row in enumerate(rows):
        y0 = top + cell_h * i
        body.append(
            _label(left - 10, y0 + cell_h / 2 + 4, row, left - 18, anchor="end")
        )
        for j, column in enumerate(columns):
            x0 = left + cell_w * j
            cell = lookup.get((row, column))
            value = None if cell is None else finite(cell.value)
            if cell is None or cell.is_suppressed:
                fill, text, ink = "#eaeef2", "suppressed", MUTED
                if cell is None:
                    text = "—"
            elif value is None:
                fill, text, ink = "#f6f8fa", "n/a", MUTED
            else:
                good = (value > 0) == (cell.desired_direction != "decrease")
                colour = DIRECTION_COLOURS["good" if good else "bad"]
                weight = 0.15 + 0.85 * min(abs(value) / scale, 1.0)
                fill = _mix(colour, weight) if value != 0 else "#ffffff"
                ink = "#ffffff" if weight > 0.6 else INK
                text = format_percent(value) + (" *" if cell.is_significant else "")
            body.append(
                f'<rect x="{_num(x0 + 1)}" y="{_num(y0 + 1)}" '
                f'width="{_num(cell_w - 2)}" height="{_num(cell_h - 2)}" rx="3" '
                f'fill="{fill}"/>'
            )
            if cell is not None and cell.is_suppressed:
                body.extend(_hatch(x0 + 1, y0 + 1, x0 + cell_w - 1, y0 + cell_h - 1))
            weight_attr = "600" if cell is not None and cell.is_significant else None
            body.append(
                _text(
                    x0 + cell_w / 2,
                    y0 + cell_h / 2 + 4,
                    text,
                    anchor="middle",
                    fill=ink,
                    weight=weight_attr,
                )
            )
    body.append(
        _text(
            left,
            height - 12,
            "* significant (adjusted p) · green: better · red: worse · "
            "hatched: too few units",
            size=11,
            fill=MUTED,
        )
    )
    return _svg(width, height, label, body)


# --- power progress --------------------------------------------------------


def progress_bar(share: float | None, caption: str = "") -> str:
    """Share of the target sample reached (may exceed 100%)."""
    label = "Progress towards the planned sample size"
    value = finite(share)
    width, height, left, bar_w, bar_h = 760.0, 58.0, 8.0, 600.0, 18.0
    body = [
        f'<rect x="{_num(left)}" y="8" width="{_num(bar_w)}" height="{_num(bar_h)}" '
        'rx="9" fill="#eaeef2"/>'
    ]
    if value is None:
        body.append(_text(left + bar_w + 12, 22, "n/a", size=13, fill=MUTED))
    else:
        shown = min(max(value, 0.0), 1.0)
        colour = "#1a7f37" if value >= 1 else "#0969da"
        if shown > 0:
            body.append(
                f'<rect x="{_num(left)}" y="8" width="{_num(max(bar_w * shown, 9))}" '
                f'height="{_num(bar_h)}" rx="9" fill="{colour}"/>'
            )
        body.append(
            _text(
                left + bar_w + 12,
                22,
                format_percent(
                    value, signed=False, decimals=0 if value >= 0.1 or value == 0 else 1
                ),
                size=14,
                weight="600",
            )
        )
    body.append(
        f'<line x1="{_num(left + bar_w)}" y1="4" x2="{_num(left + bar_w)}" '
        f'y2="{_num(12 + bar_h)}" stroke="{INK}" stroke-width="1.5"/>'
    )
    if caption:
        body.append(_text(left, 48, caption, size=11, fill=MUTED))
    return _svg(width, height, label, body)


# --- heterogeneous effects -------------------------------------------------


@dataclass(frozen=True, slots=True)
class CateCell:
    """One row x column cell of mean estimated CATE (metric units).

    Attributes:
        row: Row label (e.g. a segment).
        column: Column label (e.g. an activity bin).
        value: Mean estimated CATE; None when suppressed or not computed.
        units: Units in the cell (shown under the value).
    """

    row: str
    column: str
    value: float | None
    units: int | None = None


def cate_heatmap(
    cells: Sequence[CateCell],
    title: str = "Mean estimated CATE",
    desired_direction: str | None = "increase",
) -> str:
    """Rows x columns coloured by the mean estimated treatment effect (green
    for the desired direction, red for the other; the deeper, the larger)."""
    label = f"{title}: heatmap"
    if not cells:
        return _empty(label, "No CATE estimates")
    rows = list(dict.fromkeys(cell.row for cell in cells))
    columns = list(dict.fromkeys(cell.column for cell in cells))
    lookup = {(cell.row, cell.column): cell for cell in cells}
    magnitudes = [abs(v) for cell in cells if (v := finite(cell.value)) is not None]
    scale = max(magnitudes) if magnitudes and max(magnitudes) > 0 else 1.0
    left, top, cell_w, cell_h = 150.0, 52.0, 96.0, 44.0
    width = max(left + cell_w * len(columns) + 20, 640.0)
    height = top + cell_h * len(rows) + 40
    body = [
        _label(left, 16, title, width - left - 8, size=12, fill=MUTED, weight="600")
    ]
    for j, column in enumerate(columns):
        body.append(
            _label(
                left + cell_w * (j + 0.5),
                top - 10,
                column,
                cell_w - 8,
                anchor="middle",
                size=12,
            )
        )
    for i, row in enumerate(rows):
        y0 = top + cell_h * i
        body.append(
            _label(left - 10, y0 + cell_h / 2 + 4, row, left - 18, anchor="end")
        )
        for j, column in enumerate(columns):
            x0 = left + cell_w * j
            cell = lookup.get((row, column))
            value = None if cell is None else finite(cell.value)
            if value is None:
                fill, text, ink = "#eaeef2", "—" if cell is None else "n/a", MUTED
            else:
                good = (value > 0) == (desired_direction != "decrease")
                colour = DIRECTION_COLOURS["good" if good else "bad"]
                weight = 0.12 + 0.78 * min(abs(value) / scale, 1.0)
                fill = _mix(colour, weight) if value != 0 else "#ffffff"
                ink = "#ffffff" if weight > 0.6 else INK
                text = number_label(value)
            body.append(
                f'<rect x="{_num(x0 + 1)}" y="{_num(y0 + 1)}" '
                f'width="{_num(cell_w - 2)}" height="{_num(cell_h - 2)}" rx="3" '
                f'fill="{fill}"/>'
            )
            body.append(_text(x0 + cell_w / 2, y0 + cell_h / 2, text, anchor="middle"))
            if cell is not None and cell.units is not None:
                body.append(
                    _text(
                        x0 + cell_w / 2,
                        y0 + cell_h / 2 + 14,
                        f"n={cell.units:,}",
                        anchor="middle",
                        size=10,
                        fill=ink if value is not None else MUTED,
                    )
                )
    body.append(
        _text(
            left,
            height - 12,
            "green: effect in the desired direction · red: the other · "
            "n/a: too few units in an arm",
            size=11,
            fill=MUTED,
        )
    )
    return _svg(width, height, label, body)


@dataclass(frozen=True, slots=True)
class UpliftSeries:
    """One learner's ROI-versus-budget curve.

    Attributes:
        name: Learner name.
        points: (budget share, incremental outcome) pairs; None outcomes are
            gaps.
    """

    name: str
    points: Sequence[tuple[float, float | None]] = field(default_factory=tuple)


def uplift_chart(
    series: Sequence[UpliftSeries],
    random: Sequence[tuple[float, float | None]] = (),
    title: str = "Incremental outcome by budget",
) -> str:
    """Incremental outcome of treating the top x% by predicted uplift, one line
    per learner, against the dashed line of targeting at random."""
    label = f"{title}: line chart"
    lines = [(s.name, s.points) for s in series] + [("random", random)]
    values = [
        v
        for _, points in lines
        for share, y in points
        if finite(share) is not None and (v := finite(y)) is not None
    ]
    if not values:
        return _empty(label, "No uplift curve")
    width, left, right, top, bottom_pad = 760.0, 72.0, 24.0, 40.0, 48.0
    # The legend sits in its own rows between the title and the plot.
    legend, legend_h = _legend(
        [
            (
                name,
                MUTED
                if number == len(lines) - 1
                else SERIES_COLOURS[number % len(SERIES_COLOURS)],
                "line",
            )
            for number, (name, _) in enumerate(lines)
        ],
        left,
        24,
        width - left - right,
    )
    top += legend_h
    height = 300.0 + legend_h
    plot_w, plot_h = width - left - right, height - top - bottom_pad
    low, high = _domain(values)
    ticks = [t for t in nice_ticks(low, high) if low <= t <= high] or [0.0]
    span = high - low

    def x(share: float) -> float:
        return left + min(max(share, 0.0), 1.0) * plot_w

    def y(value: float) -> float:
        return top + (high - value) / span * plot_h

    body = [
        _label(left, 16, title, width - left - 8, size=12, fill=MUTED, weight="600")
    ]
    for tick in ticks:
        body.append(
            f'<line x1="{_num(left)}" y1="{_num(y(tick))}" x2="{_num(width - right)}" '
            f'y2="{_num(y(tick))}" stroke="{GRID}" stroke-width="1"/>'
        )
        body.append(
            _text(
                left - 8, y(tick) + 4, f"{tick:,.6g}", anchor="end", size=11, fill=MUTED
            )
        )
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        body.append(
            _text(
                x(share),
                height - 26,
                format_percent(share, signed=False, decimals=0),
                anchor="middle",
                size=11,
                fill=MUTED,
            )
        )
    body.append(
        _text(
            left + plot_w / 2,
            height - 8,
            "share of units treated, highest predicted uplift first",
            anchor="middle",
            size=11,
            fill=MUTED,
        )
    )
    for number, (_name, points) in enumerate(lines):
        is_random = number == len(lines) - 1
        colour = MUTED if is_random else SERIES_COLOURS[number % len(SERIES_COLOURS)]
        drawn = [
            (x(share), y(v))
            for share, value in sorted(
                (p for p in points if finite(p[0]) is not None), key=lambda p: p[0]
            )
            if (v := finite(value)) is not None
        ]
        if len(drawn) > 1:
            path = " ".join(
                f"{'M' if i == 0 else 'L'}{_num(px)},{_num(py)}"
                for i, (px, py) in enumerate(drawn)
            )
            dash = ' stroke-dasharray="5 4"' if is_random else ""
            body.append(
                f'<path d="{path}" fill="none" stroke="{colour}" '
                f'stroke-width="2"{dash} stroke-linejoin="round"/>'
            )
        for px, py in drawn if not is_random else []:
            body.append(
                f'<circle cx="{_num(px)}" cy="{_num(py)}" r="2.5" fill="{colour}"/>'
            )
    return _svg(width, height, label, body + legend)
