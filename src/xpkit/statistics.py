"""Per-arm sufficient statistics, mapped from rows of the ``arm_metrics`` mart.

Each statistic is a frozen dataclass of sums computed in SQL, with ``mean`` and
``variance`` properties. ``variance`` is always the unit-level sample variance
(ddof=1); a property is ``None`` where it is undefined (no units, or fewer than
two units for a variance), never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SUFFICIENT_STATISTIC_COLUMNS",
    "Proportion",
    "Ratio",
    "RegressionAdjusted",
    "RegressionAdjustedRatio",
    "SampleMean",
    "Statistic",
    "from_row",
]


# A centred sum of squares below this share of sum(m**2) is read as 0: it is the
# rounding noise of sum(m**2) - sum(m)**2 / n (sums from SQL carry relative errors
# up to about n * 1e-16), not spread in the data. In effect a metric whose
# coefficient of variation is below 1e-5 counts as constant.
RELATIVE_ZERO = 1e-10


def _sample_variance(n: int, total: float, sum_squares: float) -> float | None:
    """Unit-level variance (ddof=1) from n, sum and sum of squares."""
    if n < 2:
        return None
    centred = sum_squares - total * total / n
    if centred <= RELATIVE_ZERO * abs(sum_squares):
        return 0.0
    return centred / (n - 1)


def _sample_covariance(
    n: int, sum_a: float, sum_b: float, sum_ab: float
) -> float | None:
    """Unit-level covariance (ddof=1) from n, the two sums and the cross product."""
    if n < 2:
        return None
    return (sum_ab - sum_a * sum_b / n) / (n - 1)


# The sum columns of the arm_metrics family (the SQL/Python boundary), in
# contract order; the last nine are null for non-ratio metrics.
SUFFICIENT_STATISTIC_COLUMNS = (
    "metric_sum",
    "metric_sum_squares",
    "covariate_sum",
    "covariate_sum_squares",
    "metric_covariate_sum_product",
    "denominator_sum",
    "denominator_sum_squares",
    "metric_denominator_sum_product",
    "covariate_denominator_sum",
    "covariate_denominator_sum_squares",
    "covariate_covariate_denominator_sum_product",
    "metric_covariate_denominator_sum_product",
    "denominator_covariate_sum_product",
    "denominator_covariate_denominator_sum_product",
)


@dataclass(frozen=True, slots=True)
class SampleMean:
    """A metric averaged over units (count, sum or capped metrics).

    Attributes:
        n: Number of units in the arm.
        sum: Sum of the unit values, ``sum(m)``.
        sum_squares: Sum of the squared unit values, ``sum(m**2)``.
    """

    n: int
    sum: float
    sum_squares: float

    @property
    def mean(self) -> float | None:
        """``sum / n``; None when the arm has no units."""
        return self.sum / self.n if self.n > 0 else None

    @property
    def variance(self) -> float | None:
        """``(sum_squares - sum**2 / n) / (n - 1)``; None when ``n < 2``."""
        return _sample_variance(self.n, self.sum, self.sum_squares)


@dataclass(frozen=True, slots=True)
class Proportion:
    """A binary (0/1) metric: the share of units with at least one event.

    Attributes:
        n: Number of units in the arm.
        sum: Number of units with value 1 (for 0/1 data ``sum(m**2) == sum(m)``).
    """

    n: int
    sum: float

    @property
    def sum_squares(self) -> float:
        """Equal to ``sum`` for 0/1 data."""
        return self.sum

    @property
    def mean(self) -> float | None:
        """The proportion ``p = sum / n``; None when the arm has no units."""
        return self.sum / self.n if self.n > 0 else None

    @property
    def variance(self) -> float | None:
        """Unit-level variance (ddof=1), ``n p (1 - p) / (n - 1)``; None when n < 2."""
        return _sample_variance(self.n, self.sum, self.sum)


@dataclass(frozen=True, slots=True)
class Ratio:
    """A ratio metric ``sum(m) / sum(d)`` (e.g. minutes per ticket) over units.

    Attributes:
        n: Number of units in the arm.
        numerator_sum: ``sum(m)``.
        numerator_sum_squares: ``sum(m**2)``.
        denominator_sum: ``sum(d)``.
        denominator_sum_squares: ``sum(d**2)``.
        numerator_denominator_sum_product: ``sum(m * d)``.
    """

    n: int
    numerator_sum: float
    numerator_sum_squares: float
    denominator_sum: float
    denominator_sum_squares: float
    numerator_denominator_sum_product: float

    @property
    def mean(self) -> float | None:
        """``r = sum(m) / sum(d)``; None when there are no units or ``sum(d) == 0``."""
        if self.n <= 0 or self.denominator_sum == 0:
            return None
        return self.numerator_sum / self.denominator_sum

    @property
    def numerator_variance(self) -> float | None:
        """Sample variance (ddof=1) of m."""
        return _sample_variance(self.n, self.numerator_sum, self.numerator_sum_squares)

    @property
    def denominator_variance(self) -> float | None:
        """Sample variance (ddof=1) of d."""
        return _sample_variance(
            self.n, self.denominator_sum, self.denominator_sum_squares
        )

    @property
    def numerator_denominator_covariance(self) -> float | None:
        """Sample covariance (ddof=1) of m and d."""
        return _sample_covariance(
            self.n,
            self.numerator_sum,
            self.denominator_sum,
            self.numerator_denominator_sum_product,
        )

    @property
    def variance(self) -> float | None:
        """Delta-method unit-level variance of the ratio.

        ``(var_m - 2 r cov_md + r**2 var_d) / dbar**2`` with ``dbar = sum(d) / n``:
        the sample variance (ddof=1) of the linearised values
        ``(m - r d) / dbar``. None when ``n < 2`` or ``sum(d) == 0``.
        """
        r = self.mean
        var_m = self.numerator_variance
        var_d = self.denominator_variance
        cov = self.numerator_denominator_covariance
        if r is None or var_m is None or var_d is None or cov is None:
            return None
        dbar = self.denominator_sum / self.n
        linear = var_m - 2 * r * cov + r * r * var_d
        if linear <= RELATIVE_ZERO * (var_m + r * r * var_d):
            return 0.0
        return linear / (dbar * dbar)


@dataclass(frozen=True, slots=True)
class RegressionAdjusted:
    """A mean or binary metric with its pre-period covariate (for CUPED).

    Attributes:
        post: The metric over the analysis window (m).
        pre: The same metric over the pre-exposure lookback window (x; 0 for units
            without pre-period data).
        post_pre_sum_product: ``sum(m * x)``.
    """

    post: SampleMean | Proportion
    pre: SampleMean
    post_pre_sum_product: float

    def __post_init__(self) -> None:
        """Check both periods describe the same units."""
        if self.post.n != self.pre.n:
            raise ValueError("post and pre statistics must have the same n")

    @property
    def n(self) -> int:
        """Number of units in the arm."""
        return self.post.n

    @property
    def mean(self) -> float | None:
        """Unadjusted mean of the metric."""
        return self.post.mean

    @property
    def variance(self) -> float | None:
        """Unadjusted unit-level variance (ddof=1) of the metric."""
        return self.post.variance

    @property
    def covariance(self) -> float | None:
        """Sample covariance (ddof=1) of m and x."""
        return _sample_covariance(
            self.n, self.post.sum, self.pre.sum, self.post_pre_sum_product
        )


@dataclass(frozen=True, slots=True)
class RegressionAdjustedRatio:
    """A ratio metric with its pre-period numerator and denominator (for CUPED).

    Attributes:
        post: Numerator m and denominator d over the analysis window.
        pre: Numerator x and denominator w over the pre-exposure lookback window.
        numerator_covariate_sum_product: ``sum(m * x)``.
        numerator_covariate_denominator_sum_product: ``sum(m * w)``.
        denominator_covariate_sum_product: ``sum(d * x)``.
        denominator_covariate_denominator_sum_product: ``sum(d * w)``.
    """

    post: Ratio
    pre: Ratio
    numerator_covariate_sum_product: float
    numerator_covariate_denominator_sum_product: float
    denominator_covariate_sum_product: float
    denominator_covariate_denominator_sum_product: float

    def __post_init__(self) -> None:
        """Check both periods describe the same units."""
        if self.post.n != self.pre.n:
            raise ValueError("post and pre statistics must have the same n")

    @property
    def n(self) -> int:
        """Number of units in the arm."""
        return self.post.n

    @property
    def mean(self) -> float | None:
        """Unadjusted ratio ``sum(m) / sum(d)``."""
        return self.post.mean

    @property
    def variance(self) -> float | None:
        """Unadjusted delta-method unit-level variance of the ratio."""
        return self.post.variance

    @property
    def covariance(self) -> float | None:
        """Sample covariance (ddof=1) of the linearised post and pre values.

        ``sum((m - r d)(x - q w)) / ((n - 1) dbar wbar)`` with ``r = sum(m)/sum(d)``,
        ``q = sum(x)/sum(w)``, ``dbar = sum(d)/n`` and ``wbar = sum(w)/n``; the
        linearised values have mean zero in the arm, so no centring term is needed.
        None when ``n < 2`` or either denominator sum is 0.
        """
        r, q = self.post.mean, self.pre.mean
        if r is None or q is None or self.n < 2:
            return None
        cross = (
            self.numerator_covariate_sum_product
            - q * self.numerator_covariate_denominator_sum_product
            - r * self.denominator_covariate_sum_product
            + r * q * self.denominator_covariate_denominator_sum_product
        )
        dbar = self.post.denominator_sum / self.n
        wbar = self.pre.denominator_sum / self.n
        return cross / ((self.n - 1) * dbar * wbar)


Statistic = (
    SampleMean | Proportion | Ratio | RegressionAdjusted | RegressionAdjustedRatio
)

_MEAN_COLUMNS = ("metric_sum", "metric_sum_squares")
_COVARIATE_COLUMNS = (
    "covariate_sum",
    "covariate_sum_squares",
    "metric_covariate_sum_product",
)
_RATIO_COLUMNS = (
    "denominator_sum",
    "denominator_sum_squares",
    "metric_denominator_sum_product",
)
_RATIO_COVARIATE_COLUMNS = (
    "covariate_denominator_sum",
    "covariate_denominator_sum_squares",
    "covariate_covariate_denominator_sum_product",
    "metric_covariate_denominator_sum_product",
    "denominator_covariate_sum_product",
    "denominator_covariate_denominator_sum_product",
)


def _is_missing(value: Any) -> bool:
    """True for None, NaN and pandas NA."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and pd.NA
    except TypeError:
        return True


def _number(row: Mapping[str, Any], column: str, n: int) -> float:
    """A sum column as float; a null sum is 0 only for an arm with no units."""
    value = row.get(column)
    if _is_missing(value):
        if n == 0:
            return 0.0
        raise ValueError(f"arm_metrics column {column!r} is null for an arm with units")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"arm_metrics column {column!r} is not finite")
    return number


def from_row(row: Mapping[str, Any]) -> Statistic:
    """Map one ``arm_metrics`` row onto its sufficient statistic.

    ``aggregation`` picks the class: ``binary`` -> Proportion, ``count``/``sum`` ->
    SampleMean, ``ratio`` -> Ratio. When ``has_covariate`` is true the statistic
    is wrapped in RegressionAdjusted (or RegressionAdjustedRatio) with the
    pre-period sums. Null sums are read as 0 for an arm with no units.

    Args:
        row: A mapping with the ``arm_metrics`` columns (e.g. a dict or a
            pandas Series).

    Returns:
        The statistic for the arm.

    Raises:
        ValueError: If ``aggregation`` is unknown, ``n_units`` is missing or
            negative, or a needed sum is null for an arm with units.
    """
    aggregation = row.get("aggregation")
    raw_n = row.get("n_units")
    if _is_missing(raw_n) or float(raw_n) < 0 or float(raw_n) != int(float(raw_n)):
        raise ValueError("arm_metrics column 'n_units' must be a non-negative integer")
    n = int(float(raw_n))
    has_covariate = row.get("has_covariate")
    has_covariate = False if _is_missing(has_covariate) else bool(has_covariate)

    if aggregation in ("binary", "count", "sum"):
        post: SampleMean | Proportion
        if aggregation == "binary":
            post = Proportion(n=n, sum=_number(row, "metric_sum", n))
        else:
            total, squares = (_number(row, c, n) for c in _MEAN_COLUMNS)
            post = SampleMean(n=n, sum=total, sum_squares=squares)
        if not has_covariate:
            return post
        x_sum, x_squares, mx = (_number(row, c, n) for c in _COVARIATE_COLUMNS)
        return RegressionAdjusted(
            post=post,
            pre=SampleMean(n=n, sum=x_sum, sum_squares=x_squares),
            post_pre_sum_product=mx,
        )

    if aggregation == "ratio":
        m_sum, m_squares = (_number(row, c, n) for c in _MEAN_COLUMNS)
        d_sum, d_squares, md = (_number(row, c, n) for c in _RATIO_COLUMNS)
        ratio = Ratio(
            n=n,
            numerator_sum=m_sum,
            numerator_sum_squares=m_squares,
            denominator_sum=d_sum,
            denominator_sum_squares=d_squares,
            numerator_denominator_sum_product=md,
        )
        if not has_covariate:
            return ratio
        x_sum, x_squares, mx = (_number(row, c, n) for c in _COVARIATE_COLUMNS)
        w_sum, w_squares, xw, mw, dx, dw = (
            _number(row, c, n) for c in _RATIO_COVARIATE_COLUMNS
        )
        return RegressionAdjustedRatio(
            post=ratio,
            pre=Ratio(
                n=n,
                numerator_sum=x_sum,
                numerator_sum_squares=x_squares,
                denominator_sum=w_sum,
                denominator_sum_squares=w_squares,
                numerator_denominator_sum_product=xw,
            ),
            numerator_covariate_sum_product=mx,
            numerator_covariate_denominator_sum_product=mw,
            denominator_covariate_sum_product=dx,
            denominator_covariate_denominator_sum_product=dw,
        )

    raise ValueError(f"unknown aggregation {aggregation!r}")
