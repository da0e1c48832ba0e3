"""xpkit.narrative on its own: each sentence and number format on hand-built
figures, with the expected text worked out by hand (see the comments)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from xpkit.narrative import decisions as phrases
from xpkit.narrative import report as fmt
from xpkit.narrative.numbers import (
    confidence_label,
    decimals,
    format_p,
    format_percent,
    format_pp,
    pct,
)
from xpkit.narrative.results import (
    guardrail_clause,
    result_summary,
    suppressed_message,
    suppressed_summary,
    verdict_sentence,
)


@pytest.mark.parametrize(
    ("control", "treatment", "expected"),
    [
        # largest 16.45 -> 3 significant digits = 1 decimal; change 6.45 -> 1.
        (10.0, 16.45, 1),
        # largest 0.52 -> 3 decimals; change 0.02 -> 2 significant = 3 decimals.
        (0.5, 0.52, 3),
        # largest 1000 needs none; no change.
        (1000.0, 1000.0, 0),
        # a tiny change is capped at 6 decimals.
        (1.0, 1.0 + 1e-9, 6),
    ],
)
def test_decimals_show_three_digits_of_the_mean_and_two_of_the_change(
    control, treatment, expected
):
    assert decimals(control, treatment) == expected


def test_format_p_and_pct():
    assert format_p(0.00005) == "p < 0.0001"
    assert format_p(0.0123) == "p = 0.012"
    assert format_p(0.5) == "p = 0.5"
    assert pct(0.125) == "+12.5%"
    assert pct(-0.034) == "-3.4%"


def binary_row(**extra) -> dict:
    return {
        "metric_id": "conversion",
        "metric_name": "conversion",
        "variant": "t",
        "control_variant": "c",
        "aggregation": "binary",
        "alpha": 0.05,
        "role": "primary",
    } | extra


def test_summary_of_a_rate_with_a_relative_interval_and_no_correction():
    row = binary_row(
        mean_control=0.10,
        mean_treatment=0.15,
        abs_lift=0.05,
        rel_lift=0.5,
        rel_ci_low=0.2,
        rel_ci_high=0.8,
        p_value_adjusted=0.001,
        is_significant=True,
    )
    # Means 10.0% and 15.0% (1 decimal); relative figures with pct().
    assert result_summary(row, "none") == (
        "Conversion rose from 10.0% in c to 15.0% in t (+50.0% relative, "
        "95% CI +20.0% to +80.0%); significant at alpha = 0.05 (p = 0.001)."
    )


def test_summary_of_a_rate_from_zero_prints_the_absolute_lift_in_pp():
    row = binary_row(
        mean_control=0.0,
        mean_treatment=0.0645,
        abs_lift=0.0645,
        rel_lift=None,
        abs_ci_low_adjusted=0.02,
        abs_ci_high_adjusted=0.11,
        p_value_adjusted=0.02,
        is_significant=True,
    )
    # decimals(0, 6.45) = 2: the lift of 6.45 percentage points is "+6.45 pp".
    assert verdict_sentence(row, "holm") == (
        "Conversion rose from 0.00% in c to 6.45% in t (+6.45 pp absolute, "
        "Holm-adjusted 95% CI +2.00 pp to +11.00 pp; relative lift undefined "
        "as the control mean is 0); significant after Holm correction "
        "(adjusted p = 0.02)"
    )


def test_summary_without_figures_says_why():
    row = binary_row(mean_control=None, error_message="no units exposed")
    assert result_summary(row, "holm") == (
        "No result for Conversion (t vs c): no units exposed."
    )


def test_guardrail_clause_states_the_bound_against_the_tolerance():
    row = binary_row(
        guardrail_status="passed",
        guardrail_tolerance=0.02,
        guardrail_bound=-0.01,
        desired_direction="increase",
    )
    # An increase metric tolerates a fall of 2%: the limit is -2.0%.
    assert guardrail_clause(row) == (
        "guardrail passed: at worst -1.0% (one-sided 95% bound), within the "
        "-2.0% tolerance"
    )
    bad = binary_row(guardrail_tolerance="-1")
    assert guardrail_clause(bad) == (
        "guardrail inconclusive: its tolerance is not a number >= 0"
    )


def test_decision_number_phrases():
    assert phrases.percent(0.442) == "+44.2%"
    assert phrases.percent(None) == "n/a"
    assert phrases.percent(1.0, 0, signed=False) == "100%"
    assert phrases.count(1020) == "1,020"
    assert phrases.count(None) == "n/a"
    assert phrases.in_sentence("Reply rate") == "reply rate"
    assert phrases.in_sentence("CSAT score") == "CSAT score"


def test_lift_phrase_quotes_the_adjusted_interval_and_p():
    row = {
        "metric_name": "reply rate",
        "rel_lift": 0.442,
        "abs_lift": 0.01,
        "variant": "b",
        "rel_ci_low_adjusted": 0.1,
        "rel_ci_high_adjusted": 0.8,
        "p_value_adjusted": 0.003,
        "alpha": 0.05,
    }
    assert phrases.interval_text(row) == "adjusted 95% CI +10.0% to +80.0%"
    assert phrases.lift_phrase(row) == (
        "Reply rate rose 44.2% with b (adjusted 95% CI +10.0% to +80.0%; "
        "adjusted p = 0.003)"
    )


def test_share_phrase_and_segment_label():
    power = {"share_of_target": 1.0, "current_units": 1020}
    assert phrases.share_phrase(power | {"required_units_total": 1020}) == (
        "100% of the planned sample (1,020 of 1,020 units)"
    )
    assert phrases.share_phrase({}) == (
        "share of the planned sample unknown (no sample-size target)"
    )
    row = {"segment_dimension": "country", "segment_value": "DE"}
    assert phrases.segment_label(row, 2) == "country=DE"
    assert phrases.segment_label(row, 1) == "DE"


def test_breach_text_and_harm_sentences():
    check = SimpleNamespace(
        metric_id="csat", where="overall", rel_lift=-0.2, tolerance=0.02
    )
    assert phrases.breach_text(check) == "csat (overall): -20.0% (tolerance 2.0%)"
    harms = (
        SimpleNamespace(kind="worse", key="a", text="A"),
        SimpleNamespace(kind="breached", key="b", text="B"),
        SimpleNamespace(kind="breached", key="c", text="C"),
    )
    assert phrases.harm_list(harms) == [
        "Significantly worse: A.",
        "Guardrails breached: B; C.",
    ]
    assert phrases.harm_sentences(harms, frozenset({"a", "c"})) == (
        "Guardrail breached: B."
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.442, "+44.2%"),  # one decimal from 1%
        (1.5, "+150%"),  # none from 100%
        (0.005, "+0.50%"),  # two below 1%
        (0.0, "0%"),
    ],
)
def test_report_percent_precision(value, expected):
    assert fmt.format_percent(value) == expected


def test_report_number_label_has_three_significant_digits():
    assert fmt.number_label(12.34) == "+12.3"
    assert fmt.number_label(0.01234) == "+0.0123"
    assert fmt.number_label(0) == "0"


def test_suppressed_cell_sentences():
    message = suppressed_message(10)
    assert message == (
        "suppressed: fewer than 10 units in an arm of this segment "
        "(var min_segment_units)"
    )
    assert suppressed_summary("x") == "No result shown: x."
    assert suppressed_summary("x", guardrail=True) == (
        "No result shown: x; guardrail inconclusive."
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.37, "0.37"),
        (0.99, "0.99"),  # 0.99 itself still has its two digits
        (0.996, "> 0.99"),  # "{:.2g}" of 0.996 is "1"
        (1.0, "> 0.99"),  # a capped adjusted p never reads "1"
        (0.00005, "< 0.0001"),
        (None, "—"),
    ],
)
def test_report_p_value_never_prints_one(value, expected):
    assert fmt.p_value(value) == expected


def test_p_phrases_in_sentences():
    assert format_p(1.0) == "p > 0.99"
    assert format_p(0.9951) == "p > 0.99"
    assert fmt.p_phrase(0.5) == "p = 0.5"
    assert fmt.p_phrase(0.00001) == "p < 0.0001"
    assert fmt.p_phrase(1.0) == "p > 0.99"
    assert fmt.p_phrase(None) == "p = —"


@pytest.mark.parametrize(
    ("count", "noun", "expected"),
    [
        (1, "registered experiment", "1 registered experiment"),
        (5, "registered experiment", "5 registered experiments"),
        (0, "day", "0 days"),
        (1.0, "more day", "1 more day"),
        (63.4, "more day", "63 more days"),
        (1234, "unit", "1,234 units"),
        (None, "day", "— days"),
    ],
)
def test_plural_agrees_with_the_count(count, noun, expected):
    assert fmt.plural(count, noun) == expected


def test_plural_with_an_irregular_noun():
    assert fmt.plural(2, "analysis", "analyses") == "2 analyses"
    assert fmt.plural(1, "analysis", "analyses") == "1 analysis"


def test_absent_attributes_read_not_recorded():
    assert fmt.attribute("(missing)") == "not recorded"
    assert fmt.attribute(None) == "not recorded"
    assert fmt.attribute("") == "not recorded"
    assert fmt.attribute("vip") == "vip"
    assert fmt.attribute("2-4") == "2-4"


@pytest.mark.parametrize(
    ("value", "aggregation", "expected"),
    [
        # A rate's effect in percentage points, three significant digits:
        # 0.0645 * 100 = 6.45 -> "+6.45 pp".
        (0.0645, "binary", "+6.45 pp"),
        (-0.0012, "binary", "-0.120 pp"),  # 0.12 pp to three digits
        (9.9, "sum", "+9.90"),  # 9.9 to three significant digits
        (1.77, "mean", "+1.77"),
        (None, "binary", "—"),
    ],
)
def test_uplift_of_a_rate_is_in_percentage_points(value, aggregation, expected):
    assert fmt.uplift(value, aggregation) == expected


def test_metric_change_of_a_rate_is_in_percentage_points():
    # 0.0645 as a rate is 6.45 pp; with the row's two decimals "+6.45 pp",
    # on its own two significant digits "+6.5 pp"; not a rate: "+0.065".
    assert fmt.metric_change(0.0645, "binary", 2) == "+6.45 pp"
    assert fmt.metric_change(0.0645, "binary") == "+6.5 pp"
    assert fmt.metric_change(0.0645, "mean") == "+0.065"


# One percentage format (xpkit.narrative.numbers.format_percent) behind every
# other: the expected texts are worked out by hand.


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # 0.575 * 100 = 57.5; auto precision: one decimal between 1% and 100%.
        ({"value": 0.575}, "+57.5%"),
        # 0.576 with no decimals: 57.6 -> 58, signed.
        ({"value": 0.576, "decimals": 0}, "+58%"),
        # -0.00004 * 100 = -0.004 -> 0.00 at two decimals: printed unsigned.
        ({"value": -0.00004}, "0.00%"),
        # a change of exactly 0 in a sentence keeps its sign: +0.0%.
        ({"value": 0.0, "decimals": 1, "sign_zero": True}, "+0.0%"),
        # unsigned share: 0.25 -> 25.0% (one decimal from 1%).
        ({"value": 0.25, "signed": False}, "25.0%"),
        # 2.0 -> 200, none from 100%.
        ({"value": -2.0}, "-200%"),
    ],
)
def test_format_percent_by_hand(kwargs, expected):
    assert format_percent(**kwargs) == expected


def test_every_percentage_goes_through_format_percent():
    # The same figure reads the same in a mart sentence, a rationale, the
    # report table and a registered setting.
    assert pct(0.575) == format_percent(0.575, decimals=1) == "+57.5%"
    assert phrases.percent(0.575) == "+57.5%"
    # decimals=None: the report table's precision (the segment-winner text).
    assert phrases.percent(0.575, None) == fmt.pct(0.575) == "+57.5%"
    assert phrases.percent(1.234, None) == fmt.pct(1.234) == "+123%"
    assert phrases.percent(None) == "n/a"
    assert fmt.pct(None) == fmt.DASH
    # settings as registered: 0.8 -> 80%, 0.025 -> 2.5%, 0.0125 -> 1.25%.
    assert [fmt.setting(v) for v in (0.8, 0.025, 0.0125)] == ["80%", "2.5%", "1.25%"]


def test_rates_read_in_percentage_points_everywhere():
    # 0.0645 at 2 decimals: 6.45 pp; the summary sentence of a binary metric
    # (6.00% -> 12.45%, change 6.45 pp) quotes the same figure.
    assert format_pp(0.0645, 2) == "+6.45 pp"
    # -0.0123 at one decimal: -1.23 -> -1.2 pp.
    assert format_pp(-0.0123, 1) == "-1.2 pp"
    assert fmt.metric_change(0.0645, "binary", 2) == format_pp(0.0645, 2)
    assert fmt.metric_value(0.0645, "binary", 2) == "6.45%"


def test_confidence_label():
    # 1 - 0.05 = 0.95 -> 95%; 1 - 0.1 = 0.9 -> 90%; 1 - 0.025 -> 97.5%.
    assert [confidence_label(a) for a in (0.05, 0.1, 0.025)] == ["95%", "90%", "97.5%"]


@pytest.mark.parametrize(
    ("count", "noun", "expected"),
    [
        (0, "experiment", "0 experiments"),
        (1, "registered experiment", "1 registered experiment"),
        (1_020, "unit", "1,020 units"),
        (1.0, "day", "1 day"),
    ],
)
def test_plural_by_hand(count, noun, expected):
    assert fmt.plural(count, noun) == expected
