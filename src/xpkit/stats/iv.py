"""Non-compliance: intention-to-treat, complier effect (Wald / 2SLS), per-protocol.

With a binary instrument Z (assigned to the treatment arm = 1, to the control
arm = 0) and a binary treatment actually received D, every estimator here is a
function of four cells (z, d), each holding sums over its units of a weight w
(1 for the plain estimators), w Y, w^2, w^2 Y and w^2 Y^2, where Y is the
unit's metric value. The warehouse computes the cells (``arm_metrics_by_
compliance``); this module turns them into figures for the
``compliance_results`` mart (``xpkit.marts.compliance_results``). Pure
functions, no I/O; degenerate input never raises: figures that cannot be
computed are None and a message says why.

Estimators (unweighted, ``compliance_estimates``):

- ITT = mean(Y | Z=1) - mean(Y | Z=0), Welch standard error (sample variances
  with n - 1): the same figure as ``experiment_results.abs_lift``.
- First stage = P(D=1 | Z=1) - P(D=1 | Z=0) (the uptake difference), with its
  F statistic (= t^2 of the first-stage regression D ~ 1 + Z) both classical
  and heteroskedasticity-robust (HC1); the robust one is the effective F.
- CACE (complier average causal effect, the local average treatment effect)
  = ITT / first stage: the Wald estimator, identical to 2SLS of Y on (1, D)
  with instruments (1, Z). Standard errors: robust HC1 (reported) and
  classical (homoskedastic, as ``statsmodels.sandbox.regression.gmm.IV2SLS``),
  both from the structural residual e = Y - a - b D.
- Per-protocol = mean(Y | Z=1, D=1) - mean(Y | Z=0, D=0); as-treated
  = mean(Y | D=1) - mean(Y | D=0): naive comparisons, biased whenever uptake
  depends on something that also drives Y; Welch standard errors conditional on
  the groups.

``weighted_compliance_estimates`` gives the ITT and CACE with unit weights
(Hajek: weighted means per arm), standard errors treating the weights as fixed
(HC0 sandwich of weighted 2SLS); the compliance mart uses it for inverse
probability of eligibility weighting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scipy import stats

from xpkit.settings import WEAK_INSTRUMENT_F
from xpkit.stats.numbers import finite

__all__ = [
    "WEAK_INSTRUMENT_F",
    "ComplianceCell",
    "ComplianceEstimates",
    "WeightedEstimates",
    "compliance_estimates",
    "weighted_compliance_estimates",
]

# Staiger and Stock's rule of thumb: a first-stage F below 10 signals a weak
# instrument (Wald intervals too narrow, the estimate biased towards the naive).

# A first stage this small relative to 1 is treated as zero (no identification).
_ZERO_FIRST_STAGE = 1e-12

Cells = Mapping[tuple[int, int], "ComplianceCell"]


@dataclass(frozen=True, slots=True)
class ComplianceCell:
    """Sums over the units of one (assigned arm, received treatment) cell.

    ``n`` is the unit count; the other sums are of w, w y, w^2, w^2 y and
    w^2 y^2 for the unit weight w and value y. ``ComplianceCell.unweighted``
    builds a cell with w = 1 from n, sum y and sum y^2.
    """

    n: int
    weight_sum: float
    weighted_sum: float
    weight_sq_sum: float
    weight_sq_weighted_sum: float
    weight_sq_weighted_sum_squares: float

    @classmethod
    def unweighted(cls, n: int, total: float, sum_squares: float) -> ComplianceCell:
        """The cell of n units with sum y = total and sum y^2 = sum_squares."""
        return cls(int(n), float(n), total, float(n), total, sum_squares)

    @property
    def total(self) -> float:
        """Sum of y (meaningful for unweighted cells)."""
        return self.weighted_sum

    @property
    def sum_squares(self) -> float:
        """Sum of y^2 (meaningful for unweighted cells)."""
        return self.weight_sq_weighted_sum_squares


_EMPTY = ComplianceCell(0, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class ComplianceEstimates:
    """Everything ``compliance_estimates`` reports; None = not computable."""

    n_assigned_treatment: int
    n_assigned_control: int
    uptake_treatment: float | None = None
    uptake_control: float | None = None
    itt: float | None = None
    itt_se: float | None = None
    itt_ci_low: float | None = None
    itt_ci_high: float | None = None
    itt_p_value: float | None = None
    first_stage: float | None = None
    first_stage_se: float | None = None
    first_stage_f: float | None = None
    first_stage_f_classical: float | None = None
    is_weak_instrument: bool | None = None
    cace: float | None = None
    cace_se: float | None = None
    cace_se_classical: float | None = None
    cace_ci_low: float | None = None
    cace_ci_high: float | None = None
    cace_p_value: float | None = None
    per_protocol: float | None = None
    per_protocol_se: float | None = None
    as_treated: float | None = None
    as_treated_se: float | None = None
    error_message: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class WeightedEstimates:
    """ITT and CACE with unit weights; None = not computable."""

    itt: float | None = None
    itt_se: float | None = None
    first_stage: float | None = None
    cace: float | None = None
    cace_se: float | None = None
    error_message: str | None = None


def _cell(cells: Cells, z: int, d: int) -> ComplianceCell:
    return cells.get((z, d)) or _EMPTY


def _merge(*parts: ComplianceCell) -> ComplianceCell:
    return ComplianceCell(
        sum(p.n for p in parts),
        sum(p.weight_sum for p in parts),
        sum(p.weighted_sum for p in parts),
        sum(p.weight_sq_sum for p in parts),
        sum(p.weight_sq_weighted_sum for p in parts),
        sum(p.weight_sq_weighted_sum_squares for p in parts),
    )


def _weighted_sq_deviation(cell: ComplianceCell, center: float) -> float:
    """sum w^2 (y - center)^2 over the cell, from its sums (clamped at 0)."""
    if cell.n == 0:
        return 0.0
    value = (
        cell.weight_sq_weighted_sum_squares
        - 2.0 * center * cell.weight_sq_weighted_sum
        + center * center * cell.weight_sq_sum
    )
    return max(value, 0.0)


def _sq_deviation(cell: ComplianceCell, center: float) -> float:
    """sum (y - center)^2 over an unweighted cell, in the stable centred form."""
    if cell.n == 0:
        return 0.0
    mean = cell.total / cell.n
    within = max(cell.sum_squares - cell.total * mean, 0.0)
    return within + cell.n * (mean - center) ** 2


def _mean_and_variance(cell: ComplianceCell) -> tuple[float | None, float | None]:
    """Mean and sample variance (n - 1) of an unweighted cell."""
    if cell.n == 0:
        return None, None
    mean = cell.total / cell.n
    if cell.n < 2:
        return mean, None
    return mean, _sq_deviation(cell, mean) / (cell.n - 1)


def _difference(
    a: ComplianceCell, b: ComplianceCell
) -> tuple[float | None, float | None]:
    """mean(a) - mean(b) and its Welch standard error."""
    mean_a, var_a = _mean_and_variance(a)
    mean_b, var_b = _mean_and_variance(b)
    if mean_a is None or mean_b is None:
        return None, None
    if var_a is None or var_b is None:
        return mean_a - mean_b, None
    return mean_a - mean_b, math.sqrt(var_a / a.n + var_b / b.n)


def _interval(
    estimate: float | None, se: float | None, alpha: float
) -> tuple[float | None, float | None, float | None]:
    """Normal confidence interval and two-sided p-value of estimate / se."""
    if estimate is None or se is None or se <= 0:
        return None, None, None
    z = float(stats.norm.ppf(1 - alpha / 2))
    p = float(2 * stats.norm.sf(abs(estimate / se)))
    return estimate - z * se, estimate + z * se, p


def compliance_estimates(
    cells: Cells, alpha: float = 0.05, weak_f: float = WEAK_INSTRUMENT_F
) -> ComplianceEstimates:
    """ITT, first stage, CACE (Wald / 2SLS) and the naive estimates.

    Args:
        cells: Unweighted cells keyed by (z, d): z = 1 for units assigned to the
            treatment arm, 0 for the control arm; d = 1 when the unit actually
            received the treatment. Missing keys are empty cells.
        alpha: Two-sided level of the normal confidence intervals.
        weak_f: The robust first-stage F below which the instrument is weak.

    Returns:
        The estimates. The CACE standard error ``cace_se`` is the robust HC1
        sandwich of 2SLS, sum_z sum_{i in z} e_i^2 / n_z^2 / first_stage^2
        x n / (n - 2), with e = Y - a - b D; ``cace_se_classical`` is
        sqrt(sum e^2 / (n - 2) x n / (n_1 n_0 first_stage^2)). CACE p-values and
        intervals are Wald-type (normal); under a weak instrument the ITT
        p-value (the Anderson-Rubin test of a zero complier effect) is the valid
        test of "no effect".
    """
    c10, c11 = _cell(cells, 1, 0), _cell(cells, 1, 1)
    c00, c01 = _cell(cells, 0, 0), _cell(cells, 0, 1)
    arm1, arm0 = _merge(c10, c11), _merge(c00, c01)
    n1, n0 = arm1.n, arm0.n
    figures: dict[str, Any] = {
        "n_assigned_treatment": n1,
        "n_assigned_control": n0,
    }
    warnings: list[str] = []

    pp, pp_se = _difference(c11, c00)
    at, at_se = _difference(_merge(c11, c01), _merge(c10, c00))
    figures |= {"per_protocol": pp, "per_protocol_se": pp_se}
    figures |= {"as_treated": at, "as_treated_se": at_se}

    if n1 == 0 or n0 == 0:
        missing = "treatment" if n1 == 0 else "control"
        return ComplianceEstimates(
            **figures,
            error_message=f"no analysed units in the {missing} arm",
        )

    p1, p0 = c11.n / n1, c01.n / n0
    first_stage = p1 - p0
    itt, itt_se = _difference(arm1, arm0)
    itt_low, itt_high, itt_p = _interval(itt, itt_se, alpha)
    figures |= {
        "uptake_treatment": p1,
        "uptake_control": p0,
        "itt": itt,
        "itt_se": itt_se,
        "itt_ci_low": itt_low,
        "itt_ci_high": itt_high,
        "itt_p_value": itt_p,
        "first_stage": first_stage,
    }
    n = n1 + n0
    if n <= 2:
        return ComplianceEstimates(
            **figures,
            error_message="fewer than 3 analysed units: no standard errors",
        )

    # First stage D ~ 1 + Z: residual D - p_z; t^2 = F with one instrument.
    fs_ssr = n1 * p1 * (1 - p1) + n0 * p0 * (1 - p0)
    fs_var_classical = fs_ssr / (n - 2) * n / (n1 * n0)
    fs_var_robust = (
        (p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0) * n / (n - 2)
    )  # sum_z n_z p_z (1 - p_z) / n_z^2, HC1
    if abs(first_stage) <= _ZERO_FIRST_STAGE:
        figures |= {"first_stage_f": 0.0, "first_stage_f_classical": 0.0}
        return ComplianceEstimates(
            **figures,
            is_weak_instrument=True,
            error_message=(
                "uptake is the same in both arms (first stage 0): the complier"
                " effect is not identified"
            ),
        )
    if fs_var_robust > 0:
        figures["first_stage_se"] = math.sqrt(fs_var_robust)
        figures["first_stage_f"] = first_stage**2 / fs_var_robust
        figures["is_weak_instrument"] = figures["first_stage_f"] < weak_f
    else:
        # Everyone in each arm has the same D (full compliance or a
        # deterministic flip): the first stage is known exactly.
        figures["first_stage_se"] = 0.0
        figures["is_weak_instrument"] = False
    if fs_var_classical > 0:
        figures["first_stage_f_classical"] = first_stage**2 / fs_var_classical

    cace = itt / first_stage  # type: ignore[operator]
    mean1, mean0 = arm1.total / n1, arm0.total / n0
    # Structural residual e = Y - mean_z - b (D - p_z) within each (z, d) cell.
    sse1 = _sq_deviation(c10, mean1 + cace * (0 - p1)) + _sq_deviation(
        c11, mean1 + cace * (1 - p1)
    )
    sse0 = _sq_deviation(c00, mean0 + cace * (0 - p0)) + _sq_deviation(
        c01, mean0 + cace * (1 - p0)
    )
    var_robust = (sse1 / n1**2 + sse0 / n0**2) / first_stage**2 * n / (n - 2)
    var_classical = (sse1 + sse0) / (n - 2) * n / (n1 * n0 * first_stage**2)
    cace_se = math.sqrt(var_robust)
    low, high, p = _interval(cace, cace_se, alpha)
    figures |= {
        "cace": cace,
        "cace_se": cace_se,
        "cace_se_classical": math.sqrt(var_classical),
        "cace_ci_low": low,
        "cace_ci_high": high,
        "cace_p_value": p,
    }
    if figures.get("is_weak_instrument"):
        warnings.append(
            f"weak instrument: first-stage F = {figures['first_stage_f']:.3g}"
            f" < {weak_f:g}; the complier effect and its interval are unreliable"
            " (test 'no effect' with the ITT p-value)"
        )
    clean = {
        key: finite(value) if isinstance(value, float) else value
        for key, value in figures.items()
    }
    return ComplianceEstimates(**clean, warnings=tuple(warnings))  # type: ignore[arg-type]


def weighted_compliance_estimates(cells: Cells) -> WeightedEstimates:
    """ITT and CACE from weighted cells (Hajek means per arm).

    ITT_w = ybar_w(Z=1) - ybar_w(Z=0) with ybar_w = sum w y / sum w; first
    stage likewise on D; CACE_w = ITT_w / first stage_w, which is weighted 2SLS
    of Y on (1, D) with instruments (1, Z). Standard errors take the weights as
    fixed: var(ITT_w) = sum_z sum w^2 (y - ybar_wz)^2 / (sum_z w)^2 and
    var(CACE_w) = sum_z sum w^2 e^2 / (sum_z w)^2 / first_stage_w^2 with
    e = y - ybar_wz - b (d - dbar_wz) (the HC0 sandwich of weighted 2SLS).
    """
    c10, c11 = _cell(cells, 1, 0), _cell(cells, 1, 1)
    c00, c01 = _cell(cells, 0, 0), _cell(cells, 0, 1)
    arm1, arm0 = _merge(c10, c11), _merge(c00, c01)
    if arm1.weight_sum <= 0 or arm0.weight_sum <= 0:
        missing = "treatment" if arm1.weight_sum <= 0 else "control"
        return WeightedEstimates(
            error_message=f"no weighted units in the {missing} arm"
        )
    w1, w0 = arm1.weight_sum, arm0.weight_sum
    mean1, mean0 = arm1.weighted_sum / w1, arm0.weighted_sum / w0
    p1, p0 = c11.weight_sum / w1, c01.weight_sum / w0
    itt = mean1 - mean0
    itt_var = (
        _weighted_sq_deviation(arm1, mean1) / w1**2
        + _weighted_sq_deviation(arm0, mean0) / w0**2
    )
    first_stage = p1 - p0
    base: dict[str, Any] = {
        "itt": itt,
        "itt_se": math.sqrt(itt_var),
        "first_stage": first_stage,
    }
    if abs(first_stage) <= _ZERO_FIRST_STAGE:
        return WeightedEstimates(
            **base,
            error_message=(
                "weighted uptake is the same in both arms: the complier effect"
                " is not identified"
            ),
        )
    cace = itt / first_stage
    sse1 = _weighted_sq_deviation(c10, mean1 - cace * p1) + _weighted_sq_deviation(
        c11, mean1 + cace * (1 - p1)
    )
    sse0 = _weighted_sq_deviation(c00, mean0 - cace * p0) + _weighted_sq_deviation(
        c01, mean0 + cace * (1 - p0)
    )
    cace_var = (sse1 / w1**2 + sse0 / w0**2) / first_stage**2
    return WeightedEstimates(**base, cace=cace, cace_se=math.sqrt(cace_var))
