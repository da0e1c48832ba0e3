"""The report's pre-exposure bias line (issue 17 item 4): flagged comparisons
are named with "arms differed before the experiment"; none flagged says so."""

from xpkit.report.sections.balance import pre_period_text


def row(metric, variant, p, flag, diff=0.1):
    return {
        "metric_id": metric,
        "metric_name": metric.title(),
        "variant": variant,
        "pre_period_p_value": p,
        "pre_period_imbalance_flag": flag,
        "pre_period_abs_diff": diff,
    }


def test_flagged_comparisons_are_named():
    line = pre_period_text(
        [row("sessions", "b", 1e-6, True, 0.42), row("orders", "b", 0.4, False)]
    )
    assert line["flag"]
    assert line["text"].startswith("Arms differed before the experiment: Sessions (b)")
    assert "+0.42" in line["text"] and "Bonferroni over 2 comparisons" in line["text"]
    assert "Orders" not in line["text"]


def test_balanced_and_untested_experiments():
    line = pre_period_text([row("orders", "b", 0.4, False)])
    assert not line["flag"] and line["text"].startswith("No pre-period imbalance")
    assert pre_period_text([row("orders", "b", None, None)]) is None
    assert pre_period_text([]) is None
