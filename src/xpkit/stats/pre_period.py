"""Pre-exposure bias check (issue 17 item 4): did the arms differ before the
experiment started?

Over the CUPED pre-period (the same lookback window, the covariate of
``arm_metrics``) the arms should differ only by chance. The check compares
the pre-period means of the two arms with Welch's t-test (the delta-method
Welch test of section 2 for a ratio metric's pre-period ratio). The
Bonferroni-corrected flag over an experiment's comparisons is set by the
results mart (``experiment_results._flag_pre_period``).
"""

from __future__ import annotations

from dataclasses import dataclass

from xpkit.stats.frequentist import ratio_delta_test, welch_t_test
from xpkit.stats.statistics import (
    Ratio,
    RegressionAdjusted,
    RegressionAdjustedRatio,
    SampleMean,
    Statistic,
)

__all__ = ["PrePeriodResult", "pre_period_test"]


@dataclass(frozen=True, slots=True)
class PrePeriodResult:
    """The pre-period comparison of treatment against control.

    Attributes:
        abs_diff: Treatment minus control pre-period mean (or ratio).
        p_value: Two-sided Welch p-value of that difference.
        error_message: Why the figures are None; None when computed.
    """

    abs_diff: float | None = None
    p_value: float | None = None
    error_message: str | None = None


def pre_period_test(
    control: Statistic | None, treatment: Statistic | None
) -> PrePeriodResult:
    """Welch's t-test of the arms' pre-period means (see the module docstring).

    Args:
        control: Control-arm statistic with its pre-period covariate.
        treatment: Treatment-arm statistic with its pre-period covariate.

    Returns:
        The difference and p-value; None with a reason when there is no
        pre-period (cuped_lookback_days 0) or no test.
    """
    adjusted = RegressionAdjusted | RegressionAdjustedRatio
    if not isinstance(control, adjusted) or not isinstance(treatment, adjusted):
        if control is None or treatment is None:
            return PrePeriodResult(error_message="control or treatment arm missing")
        return PrePeriodResult(
            error_message="no pre-period covariate (cuped_lookback_days is 0)"
        )
    pre_c, pre_t = control.pre, treatment.pre
    if isinstance(pre_c, Ratio) and isinstance(pre_t, Ratio):
        result = ratio_delta_test(pre_c, pre_t)
    elif isinstance(pre_c, SampleMean) and isinstance(pre_t, SampleMean):
        result = welch_t_test(pre_c, pre_t)
    else:
        return PrePeriodResult(error_message="control and treatment differ in kind")
    if result.p_value is None:
        return PrePeriodResult(
            abs_diff=result.abs_lift,
            error_message=f"pre-period: {result.error_message or 'no test'}",
        )
    return PrePeriodResult(abs_diff=result.abs_lift, p_value=result.p_value)
