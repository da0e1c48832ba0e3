"""The report's number and text formats (pure; every function accepts None).

Figures are shown, never recomputed: these functions only choose precision.
Missing figures (None, NaN, pd.NA) print as an em dash.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

from xpkit.narrative.numbers import format_p, format_percent, format_pp
from xpkit.stats.numbers import finite

DASH = "—"
DECISION_LABELS = {
    "scale": "Scale",
    "iterate": "Iterate",
    "stop": "Stop",
    "do_not_start": "Do not start",
    "keep_running": "Keep running",
}
METHOD_LABELS = {
    "welch_t": "Welch's t-test on unit means",
    "pooled_score_z": "pooled-variance score z-test (few events per unit)",
    "two_proportion_score_z": "two-proportion score z-test (pooled rate)",
    "two_proportion_score_z_continuity_corrected": (
        "two-proportion score z-test with Yates' continuity correction"
    ),
    "ratio_delta_welch_t": "delta-method t-test for a ratio of sums",
}


def number_label(value: float) -> str:
    """A metric value with three significant digits (2.345 -> +2.35)."""
    if value == 0:
        return "0"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:+.{min(digits, 4)}f}"


def pct(value: Any, signed: bool = True) -> str:
    """A proportion as a percentage: 0.4423 -> +44.2%; None -> —."""
    number = finite(value)
    return DASH if number is None else format_percent(number, signed=signed)


def setting(value: Any) -> str:
    """A registered proportion (power, MDE, tolerance) as given: 0.8 -> 80%."""
    number = finite(value)
    if number is None:
        return DASH
    return format_percent(number, signed=False, decimals=_setting_decimals(number))


def _setting_decimals(value: float) -> int:
    """The fewest decimals (at most 4) that show a registered percentage exactly."""
    for places in range(5):
        if round(value * 100, places) == round(value * 100, 6):
            return places
    return 4


def p_value(value: Any) -> str:
    """A p-value with two significant digits; below 0.0001 as "< 0.0001"."""
    number = finite(value)
    if number is None:
        return DASH
    if number < 0.0001:
        return "< 0.0001"
    if number > 0.99:
        # Two significant digits would round 0.996 (or a capped adjusted p
        # of 1) to "1", which reads as certainty of no effect.
        return "> 0.99"
    return f"{number:.2g}"


def p_phrase(value: Any) -> str:
    """A p-value in a sentence: "p = 0.37", "p < 0.0001", "p > 0.99"."""
    number = finite(value)
    return f"p = {DASH}" if number is None else format_p(number)


def _decimals(*values: float, digits: int = 3) -> int:
    """Decimals showing the largest value to ``digits`` significant digits."""
    largest = max((abs(v) for v in values), default=0.0)
    if largest == 0:
        return 2
    return min(6, max(0, digits - 1 - math.floor(math.log10(largest))))


def number(value: Any, decimals: int | None = None, signed: bool = False) -> str:
    """A plain number with thousands separators and sensible precision."""
    figure = finite(value)
    if figure is None:
        return DASH
    places = _decimals(figure) if decimals is None else decimals
    return f"{figure:{'+' if signed else ''},.{places}f}"


def integer(value: Any) -> str:
    """A count with thousands separators."""
    figure = finite(value)
    return DASH if figure is None else f"{round(figure):,}"


def row_decimals(mean_control: Any, mean_treatment: Any, aggregation: Any) -> int:
    """Decimals for one comparison's means and lifts, as its summary sentence uses:
    the larger mean to 3 significant digits and the change to 2 (binary metrics
    in percent, at least one decimal)."""
    scale = 100.0 if aggregation == "binary" else 1.0
    values = [finite(v) for v in (mean_control, mean_treatment)]
    known = [v * scale for v in values if v is not None]
    if not known:
        return 1 if aggregation == "binary" else 2

    def needed(value: float, digits: int) -> int:
        return 0 if value == 0 else digits - 1 - math.floor(math.log10(abs(value)))

    places = needed(max(abs(v) for v in known), 3)
    if len(known) == 2:
        places = max(places, needed(known[1] - known[0], 2))
    places = min(6, max(0, places))
    return max(1, places) if aggregation == "binary" else places


def metric_value(value: Any, aggregation: Any, decimals: int | None = None) -> str:
    """A metric level: binary rates as percentages, others as plain numbers."""
    figure = finite(value)
    if figure is None:
        return DASH
    places = row_decimals(figure, None, aggregation) if decimals is None else decimals
    if aggregation == "binary":
        return format_percent(figure, signed=False, decimals=places)
    return f"{figure:,.{places}f}"


def metric_change(value: Any, aggregation: Any, decimals: int | None = None) -> str:
    """An absolute lift: percentage points for binary metrics, else signed units."""
    figure = finite(value)
    if figure is None:
        return DASH
    if decimals is None:
        scale = 100.0 if aggregation == "binary" else 1.0
        decimals = min(6, max(0, _decimals(figure * scale, digits=2)))
        decimals = max(1, decimals) if aggregation == "binary" else decimals
    if aggregation == "binary":
        return format_pp(figure, decimals)
    return f"{figure:+,.{decimals}f}"


def uplift(value: Any, aggregation: Any) -> str:
    """A per-unit effect (a CATE, an observed uplift) to three significant
    digits: percentage points for binary metrics (0.0645 -> +6.45 pp), signed
    units otherwise (9.9 -> +9.90)."""
    figure = finite(value)
    if figure is None:
        return DASH
    if aggregation == "binary":
        return f"{number(figure * 100, signed=True)} pp"
    return number(figure, signed=True)


def interval(
    low: Any,
    high: Any,
    kind: str = "pct",
    aggregation: Any = None,
    decimals: int | None = None,
) -> str:
    """A confidence interval as "[low, high]" in the unit of its estimate."""
    lo, hi = finite(low), finite(high)
    if lo is None or hi is None:
        return ""
    if kind == "pct":
        return f"[{pct(lo)}, {pct(hi)}]"
    return (
        f"[{metric_change(lo, aggregation, decimals)}, "
        f"{metric_change(hi, aggregation, decimals)}]"
    )


def day(value: Any) -> str:
    """A date (or timestamp) as YYYY-MM-DD."""
    if value is None:
        return DASH
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return text[:10] if text and text.lower() not in ("nan", "nat", "none") else DASH


def timestamp(value: Any) -> str:
    """A timestamp as YYYY-MM-DD HH:MM:SS (UTC)."""
    if value is None:
        return DASH
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    return text[:19] if text and text.lower() not in ("nan", "nat", "none") else DASH


def plural(count: Any, noun: str, nouns: str | None = None) -> str:
    """A count with its noun in the right number: 1 experiment, 5 experiments."""
    figure = finite(count)
    if figure is None:
        return f"{DASH} {nouns or noun + 's'}"
    word = noun if figure == 1 else nouns or noun + "s"
    return f"{round(figure):,} {word}"


NOT_RECORDED = "not recorded"


def attribute(value: Any) -> str:
    """A unit attribute's value; absent ones (None, "(missing)") as "not recorded"."""
    if value is None:
        return NOT_RECORDED
    text = str(value).strip()
    if not text or text.lower() in ("(missing)", "nan", "none", "null"):
        return NOT_RECORDED
    return text


def decision_label(decision: Any) -> str:
    """Human label of a decision code (do_not_start -> Do not start)."""
    if decision is None:
        return "Not available"
    return DECISION_LABELS.get(str(decision), str(decision).replace("_", " ").title())


def css_token(value: Any) -> str:
    """A value reduced to a safe CSS class suffix ([a-z0-9-])."""
    return re.sub(r"[^a-z0-9-]+", "-", str(value or "none").lower()).strip("-") or "x"


def sentence(text: Any) -> str:
    """Text with a capital first letter and a final full stop."""
    if text is None:
        return ""
    value = str(text).strip()
    if not value:
        return ""
    value = value[:1].upper() + value[1:]
    return value if value[-1] in ".!?" else value + "."
