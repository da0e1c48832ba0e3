"""Per-arm sufficient statistics, mapped from rows of the ``arm_metrics`` mart.

Each statistic is a frozen dataclass of sums computed in SQL, with ``mean`` and
``variance`` properties. Statistics add: ``a + b`` is the statistic of the
union of two disjoint sets of units (daily rows -> cumulative arm, segments ->
the rest of an arm), and ``sum(statistics)`` works. ``variance`` is always the
unit-level sample variance (ddof=1); a property is ``None`` where it is
undefined (no units, or fewer than two units for a variance), never NaN.

Size: one module, past the project's ~400 lines, because the five statistic
kinds, their ``+`` and their readers from mart rows share one set of
invariants and validity checks (``statistic_problems``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from xpkit.stats.numbers import is_missing

__all__ = [
    "accumulate",
    "SUFFICIENT_STATISTIC_COLUMNS",
    "Proportion",
    "Ratio",
    "RegressionAdjusted",
    "RegressionAdjustedRatio",
    "SampleMean",
    "Statistic",
    "RAW_SUM_COLUMNS",
    "SHIFTED_SUM_COLUMNS",
    "SHIFT_COLUMNS",
    "from_row",
    "rounding_tolerance",
    "statistic_problems",
    "unadjusted_from_row",
]


# Kept for callers that still threshold a residual against a total: a share
# of a centred sum below this counts as 0. The statistics here no longer use
# it: they compare centred sums with the rounding error of the sums they are
# computed from (``rounding_tolerance``), on sums shifted by a central value
# where the mart provides them.
RELATIVE_ZERO = 1e-10

_EPSILON = sys.float_info.epsilon


def rounding_tolerance(n: int) -> float:
    """Relative rounding error bound of a centred sum computed from n-term sums.

    Summing n floating-point terms in any order errs by at most ``(n - 1) u``
    times the sum of their magnitudes (u = epsilon / 2; Higham, *Accuracy and
    Stability of Numerical Algorithms*, section 4.2). ``S_ab - S_a S_b / n``
    then errs by at most about ``3 n u sqrt(S_aa S_bb)``. This returns
    ``2 (n + 2) epsilon``, a little above that bound: a centred sum whose
    magnitude is below this share of its sums of squares cannot be told from
    zero, and one more negative than that cannot come from any data.

    Args:
        n: Number of units summed.

    Returns:
        The relative tolerance.
    """
    return 2.0 * (max(int(n), 0) + 2) * _EPSILON


def _centred(n: int, sum_a: float, sum_b: float, sum_ab: float) -> float:
    """``sum((a - abar)(b - bbar))`` from n, the two sums and their cross product."""
    return sum_ab - sum_a * sum_b / n


def _spread(n: int, centred: float, sum_squares: float) -> float | None:
    """A centred sum of squares with rounding noise read as 0.

    None when it is negative beyond rounding (no data gives that): the
    statistic is impossible and ``statistic_problems`` says so.
    """
    tolerance = rounding_tolerance(n) * abs(sum_squares)
    if centred < -tolerance:
        return None
    if centred <= tolerance:
        return 0.0
    return centred


def _sample_variance(n: int, total: float, sum_squares: float) -> float | None:
    """Unit-level variance (ddof=1) from n, sum and sum of squares."""
    if n < 2:
        return None
    spread = _spread(n, _centred(n, total, total, sum_squares), sum_squares)
    return None if spread is None else spread / (n - 1)


def _sample_covariance(
    n: int, sum_a: float, sum_b: float, sum_ab: float
) -> float | None:
    """Unit-level covariance (ddof=1) from n, the two sums and the cross product."""
    if n < 2:
        return None
    return _centred(n, sum_a, sum_b, sum_ab) / (n - 1)


def _all_present(*values: float | None) -> bool:
    return all(value is not None for value in values)


# The sum columns of the arm_metrics family (the SQL/Python boundary), in
# contract order; the ratio ones are null for non-ratio metrics.
def _added(left: Any, right: Any) -> Any:
    """The statistic of the units of ``left`` and ``right`` together.

    Every sum adds field by field (nested statistics too). An optional
    shifted sum is kept only when both sides have it: shifted sums add
    because the marts use one shift per experiment x metric for every row. A
    statistic without units is the identity, whatever its optional sums.
    """
    if type(left) is not type(right):
        return NotImplemented
    if right.n == 0:
        return left
    if left.n == 0:
        return right
    values = []
    for field in fields(left):
        a, b = getattr(left, field.name), getattr(right, field.name)
        values.append(None if a is None or b is None else a + b)
    return type(left)(*values)


def _radded(right: Any, left: Any) -> Any:
    """``0 + statistic``, so that ``sum()`` of statistics starts from 0."""
    if isinstance(left, int) and not isinstance(left, bool) and left == 0:
        return right
    return NotImplemented


RAW_SUM_COLUMNS = (
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
# The same sums over the values minus their shift (metric_shift for m,
# covariate_shift for x, denominator_shift for d, covariate_denominator_shift
# for w): ``metric_sum_shifted = sum(m - metric_shift)``,
# ``metric_covariate_sum_product_shifted = sum((m - metric_shift) (x -
# covariate_shift))``. The shift is shared by every row of one experiment and
# metric, so shifted sums add up across rows (days, segments) like raw ones.
SHIFTED_SUM_COLUMNS = tuple(f"{column}_shifted" for column in RAW_SUM_COLUMNS)
SHIFT_COLUMNS = (
    "metric_shift",
    "covariate_shift",
    "denominator_shift",
    "covariate_denominator_shift",
)
# Every column that is summed when rows of one arm are combined.
SUFFICIENT_STATISTIC_COLUMNS = RAW_SUM_COLUMNS + SHIFTED_SUM_COLUMNS


@dataclass(frozen=True, slots=True)
class SampleMean:
    """A metric averaged over units (count, sum or capped metrics).

    Attributes:
        n: Number of units in the arm.
        sum: Sum of the unit values, ``sum(m)``.
        sum_squares: Sum of the squared unit values, ``sum(m**2)``.
        shifted_sum: ``sum(m - s)`` for a shift s near the values (None when
            not provided). The spread is computed from the shifted sums when
            both are given: ``sum(m**2) - sum(m)**2 / n`` cancels
            catastrophically when the mean is large against the spread.
        shifted_sum_squares: ``sum((m - s)**2)`` (None when not provided).
    """

    n: int
    sum: float
    sum_squares: float
    shifted_sum: float | None = None
    shifted_sum_squares: float | None = None

    __add__ = _added
    __radd__ = _radded

    @property
    def is_shifted(self) -> bool:
        """True when the spread is computed from the shifted sums."""
        return _all_present(self.shifted_sum, self.shifted_sum_squares)

    def spread_sums(self) -> tuple[float, float]:
        """(sum, sum of squares) the spread is computed from: shifted if given."""
        if self.is_shifted:
            return self.shifted_sum, self.shifted_sum_squares  # type: ignore[return-value]
        return self.sum, self.sum_squares

    @property
    def mean(self) -> float | None:
        """``sum / n``; None when the arm has no units."""
        return self.sum / self.n if self.n > 0 else None

    @property
    def variance(self) -> float | None:
        """``(sum_squares - sum**2 / n) / (n - 1)`` (of the shifted sums if given).

        None when ``n < 2``, or when the centred sum is negative beyond
        rounding (impossible input); 0 when it is within rounding of 0.
        """
        return _sample_variance(self.n, *self.spread_sums())


@dataclass(frozen=True, slots=True)
class Proportion:
    """A binary (0/1) metric: the share of units with at least one event.

    Attributes:
        n: Number of units in the arm.
        sum: Number of units with value 1 (for 0/1 data ``sum(m**2) == sum(m)``).
    """

    n: int
    sum: float

    __add__ = _added
    __radd__ = _radded

    @property
    def sum_squares(self) -> float:
        """Equal to ``sum`` for 0/1 data."""
        return self.sum

    @property
    def is_shifted(self) -> bool:
        """Always False: 0/1 values need no shift."""
        return False

    def spread_sums(self) -> tuple[float, float]:
        """(sum, sum of squares) the spread is computed from."""
        return self.sum, self.sum

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
        numerator_shifted_sum: ``sum(m - a)`` for a shift a (None if not given).
        numerator_shifted_sum_squares: ``sum((m - a)**2)``.
        denominator_shifted_sum: ``sum(d - b)`` for a shift b.
        denominator_shifted_sum_squares: ``sum((d - b)**2)``.
        numerator_denominator_shifted_sum_product: ``sum((m - a)(d - b))``.
            The variances and the covariance use the five shifted sums when
            all are given, else the raw ones.
    """

    n: int
    numerator_sum: float
    numerator_sum_squares: float
    denominator_sum: float
    denominator_sum_squares: float
    numerator_denominator_sum_product: float
    numerator_shifted_sum: float | None = None
    numerator_shifted_sum_squares: float | None = None
    denominator_shifted_sum: float | None = None
    denominator_shifted_sum_squares: float | None = None
    numerator_denominator_shifted_sum_product: float | None = None

    __add__ = _added
    __radd__ = _radded

    @property
    def is_shifted(self) -> bool:
        """True when the spread is computed from the shifted sums."""
        return _all_present(
            self.numerator_shifted_sum,
            self.numerator_shifted_sum_squares,
            self.denominator_shifted_sum,
            self.denominator_shifted_sum_squares,
            self.numerator_denominator_shifted_sum_product,
        )

    def spread_sums(self) -> tuple[float, float, float, float, float]:
        """Sums m, m**2, d, d**2 and m d for the spread: shifted if given."""
        if self.is_shifted:
            return (
                self.numerator_shifted_sum,
                self.numerator_shifted_sum_squares,
                self.denominator_shifted_sum,
                self.denominator_shifted_sum_squares,
                self.numerator_denominator_shifted_sum_product,
            )  # type: ignore[return-value]
        return _raw_ratio_sums(self)

    @property
    def mean(self) -> float | None:
        """``r = sum(m) / sum(d)``; None when there are no units or ``sum(d) == 0``."""
        if self.n <= 0 or self.denominator_sum == 0:
            return None
        return self.numerator_sum / self.denominator_sum

    @property
    def numerator_variance(self) -> float | None:
        """Sample variance (ddof=1) of m."""
        m_sum, m_squares, _, _, _ = self.spread_sums()
        return _sample_variance(self.n, m_sum, m_squares)

    @property
    def denominator_variance(self) -> float | None:
        """Sample variance (ddof=1) of d."""
        _, _, d_sum, d_squares, _ = self.spread_sums()
        return _sample_variance(self.n, d_sum, d_squares)

    @property
    def numerator_denominator_covariance(self) -> float | None:
        """Sample covariance (ddof=1) of m and d."""
        m_sum, _, d_sum, _, md = self.spread_sums()
        return _sample_covariance(self.n, m_sum, d_sum, md)

    @property
    def variance(self) -> float | None:
        """Delta-method unit-level variance of the ratio.

        ``(var_m - 2 r cov_md + r**2 var_d) / dbar**2`` with ``dbar = sum(d) / n``:
        the sample variance (ddof=1) of the linearised values
        ``(m - r d) / dbar``. None when ``n < 2`` or ``sum(d) == 0`` (or the
        sums are impossible); 0 when the linearised spread is within rounding
        of 0.
        """
        r = self.mean
        if r is None or self.n < 2:
            return None
        m_sum, m_squares, d_sum, d_squares, md = self.spread_sums()
        n = self.n
        c_mm = _centred(n, m_sum, m_sum, m_squares)
        c_dd = _centred(n, d_sum, d_sum, d_squares)
        c_md = _centred(n, m_sum, d_sum, md)
        linear = c_mm - 2 * r * c_md + r * r * c_dd
        # The rounding errors of the three centred sums scale with
        # sqrt(Smm), sqrt(Sdd) and their product.
        root = math.sqrt(abs(m_squares)) + abs(r) * math.sqrt(abs(d_squares))
        spread = _spread(n, linear, root * root)
        if spread is None:
            return None
        dbar = self.denominator_sum / n
        return spread / ((n - 1) * dbar * dbar)


def _raw_ratio_sums(ratio: Ratio) -> tuple[float, float, float, float, float]:
    """``Ratio.spread_sums`` from the raw sums, shifted ones given or not."""
    return (
        ratio.numerator_sum,
        ratio.numerator_sum_squares,
        ratio.denominator_sum,
        ratio.denominator_sum_squares,
        ratio.numerator_denominator_sum_product,
    )


@dataclass(frozen=True, slots=True)
class RegressionAdjusted:
    """A mean or binary metric with its pre-period covariate (for CUPED).

    Attributes:
        post: The metric over the analysis window (m).
        pre: The same metric over the pre-exposure lookback window (x; 0 for units
            without pre-period data).
        post_pre_sum_product: ``sum(m * x)``.
        post_pre_shifted_sum_product: ``sum((m - a)(x - c))`` with the shifts
            of ``post`` and ``pre`` (None when not given). Used, with the
            shifted sums of both periods, when all are given.
    """

    post: SampleMean | Proportion
    pre: SampleMean
    post_pre_sum_product: float
    post_pre_shifted_sum_product: float | None = None

    __add__ = _added
    __radd__ = _radded

    def __post_init__(self) -> None:
        """Check both periods describe the same units."""
        if self.post.n != self.pre.n:
            raise ValueError("post and pre statistics must have the same n")

    @property
    def n(self) -> int:
        """Number of units in the arm."""
        return self.post.n

    @property
    def is_shifted(self) -> bool:
        """True when the covariance is computed from shifted sums."""
        return (
            self.post.is_shifted
            and self.pre.is_shifted
            and self.post_pre_shifted_sum_product is not None
        )

    def spread_sums(self) -> tuple[float, float, float, float, float]:
        """(sum m, sum m**2, sum x, sum x**2, sum m x): shifted if all given."""
        if self.is_shifted:
            m_sum, m_squares = self.post.spread_sums()
            x_sum, x_squares = self.pre.spread_sums()
            cross = self.post_pre_shifted_sum_product
        else:
            m_sum, m_squares = self.post.sum, self.post.sum_squares
            x_sum, x_squares = self.pre.sum, self.pre.sum_squares
            cross = self.post_pre_sum_product
        return m_sum, m_squares, x_sum, x_squares, cross  # type: ignore[return-value]

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
        m_sum, _, x_sum, _, cross = self.spread_sums()
        return _sample_covariance(self.n, m_sum, x_sum, cross)


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
        numerator_covariate_shifted_sum_product: ``sum((m - a)(x - c))`` (the
            shifted cross products are None when not given; all four and the
            shifted sums of both periods are used together or not at all).
        numerator_covariate_denominator_shifted_sum_product: ``sum((m - a)(w - e))``.
        denominator_covariate_shifted_sum_product: ``sum((d - b)(x - c))``.
        denominator_covariate_denominator_shifted_sum_product:
            ``sum((d - b)(w - e))``.
    """

    post: Ratio
    pre: Ratio
    numerator_covariate_sum_product: float
    numerator_covariate_denominator_sum_product: float
    denominator_covariate_sum_product: float
    denominator_covariate_denominator_sum_product: float
    numerator_covariate_shifted_sum_product: float | None = None
    numerator_covariate_denominator_shifted_sum_product: float | None = None
    denominator_covariate_shifted_sum_product: float | None = None
    denominator_covariate_denominator_shifted_sum_product: float | None = None

    __add__ = _added
    __radd__ = _radded

    def __post_init__(self) -> None:
        """Check both periods describe the same units."""
        if self.post.n != self.pre.n:
            raise ValueError("post and pre statistics must have the same n")

    @property
    def n(self) -> int:
        """Number of units in the arm."""
        return self.post.n

    @property
    def is_shifted(self) -> bool:
        """True when the covariance is computed from shifted sums."""
        return (
            self.post.is_shifted
            and self.pre.is_shifted
            and _all_present(
                self.numerator_covariate_shifted_sum_product,
                self.numerator_covariate_denominator_shifted_sum_product,
                self.denominator_covariate_shifted_sum_product,
                self.denominator_covariate_denominator_shifted_sum_product,
            )
        )

    def cross_sums(self) -> tuple[float, float, float, float]:
        """(sum m x, sum m w, sum d x, sum d w): shifted if all given."""
        if self.is_shifted:
            return (
                self.numerator_covariate_shifted_sum_product,
                self.numerator_covariate_denominator_shifted_sum_product,
                self.denominator_covariate_shifted_sum_product,
                self.denominator_covariate_denominator_shifted_sum_product,
            )  # type: ignore[return-value]
        return (
            self.numerator_covariate_sum_product,
            self.numerator_covariate_denominator_sum_product,
            self.denominator_covariate_sum_product,
            self.denominator_covariate_denominator_sum_product,
        )

    def spread_sums(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The post and pre ``Ratio.spread_sums``, both shifted or both raw."""
        if self.is_shifted:
            return self.post.spread_sums(), self.pre.spread_sums()
        return _raw_ratio_sums(self.post), _raw_ratio_sums(self.pre)

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
        ``q = sum(x)/sum(w)``, ``dbar = sum(d)/n`` and ``wbar = sum(w)/n``. The
        linearised values have mean zero in the arm, so the cross sum equals
        its centred form ``C_mx - q C_mw - r C_dx + r q C_dw`` (``C_ab =
        sum(a b) - sum(a) sum(b) / n``), which is what is computed: it is the
        same from shifted sums. None when ``n < 2`` or either denominator sum
        is 0.
        """
        r, q = self.post.mean, self.pre.mean
        n = self.n
        if r is None or q is None or n < 2:
            return None
        (m_sum, _, d_sum, _, _), (x_sum, _, w_sum, _, _) = self.spread_sums()
        mx, mw, dx, dw = self.cross_sums()
        cross = (
            _centred(n, m_sum, x_sum, mx)
            - q * _centred(n, m_sum, w_sum, mw)
            - r * _centred(n, d_sum, x_sum, dx)
            + r * q * _centred(n, d_sum, w_sum, dw)
        )
        dbar = self.post.denominator_sum / n
        wbar = self.pre.denominator_sum / n
        return cross / ((n - 1) * dbar * wbar)


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


def _sum_column(row: Mapping[str, Any], column: str, n: int) -> float:
    """A sum column as float; a null sum is 0 only for an arm with no units."""
    value: Any = row.get(column)
    if is_missing(value):
        if n == 0:
            return 0.0
        raise ValueError(f"arm_metrics column {column!r} is null for an arm with units")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"arm_metrics column {column!r} is not finite")
    return number


def _shifted(row: Mapping[str, Any], columns: tuple[str, ...]) -> list[float | None]:
    """The shifted sums of ``columns`` (all None unless every one is present)."""
    values: list[float | None] = []
    for column in columns:
        value: Any = row.get(f"{column}_shifted")
        if is_missing(value):
            return [None] * len(columns)
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"arm_metrics column '{column}_shifted' is not finite")
        values.append(number)
    return values


def from_row(row: Mapping[str, Any]) -> Statistic:
    """Map one ``arm_metrics`` row onto its sufficient statistic.

    ``aggregation`` picks the class: ``binary`` -> Proportion, ``count``/``sum`` ->
    SampleMean, ``ratio`` -> Ratio. When ``has_covariate`` is true the statistic
    is wrapped in RegressionAdjusted (or RegressionAdjustedRatio) with the
    pre-period sums. Null sums are read as 0 for an arm with no units. The
    ``*_shifted`` columns (``SHIFTED_SUM_COLUMNS``) are read when present and
    non-null, so variances and covariances come from them; rows without them
    (hand-built, older marts) use the raw sums.

    Args:
        row: A mapping with the ``arm_metrics`` columns (e.g. a dict or a
            pandas Series).

    Returns:
        The statistic for the arm.

    Raises:
        ValueError: If ``aggregation`` is unknown, ``n_units`` is missing or
            negative, a needed sum is null for an arm with units, or a sum is
            not finite.
    """
    aggregation = row.get("aggregation")
    raw_n: Any = row.get("n_units")
    if is_missing(raw_n) or float(raw_n) < 0 or float(raw_n) != int(float(raw_n)):
        raise ValueError("arm_metrics column 'n_units' must be a non-negative integer")
    n = int(float(raw_n))
    has_covariate = row.get("has_covariate")
    has_covariate = False if is_missing(has_covariate) else bool(has_covariate)

    if aggregation in ("binary", "count", "sum"):
        post: SampleMean | Proportion
        if aggregation == "binary":
            post = Proportion(n=n, sum=_sum_column(row, "metric_sum", n))
        else:
            total, squares = (_sum_column(row, c, n) for c in _MEAN_COLUMNS)
            shifted_total, shifted_squares = _shifted(row, _MEAN_COLUMNS)
            post = SampleMean(n, total, squares, shifted_total, shifted_squares)
        if not has_covariate:
            return post
        x_sum, x_squares, mx = (_sum_column(row, c, n) for c in _COVARIATE_COLUMNS)
        x_shifted, x_squares_shifted, mx_shifted = _shifted(row, _COVARIATE_COLUMNS)
        return RegressionAdjusted(
            post=post,
            pre=SampleMean(n, x_sum, x_squares, x_shifted, x_squares_shifted),
            post_pre_sum_product=mx,
            post_pre_shifted_sum_product=mx_shifted,
        )

    if aggregation == "ratio":
        m_sum, m_squares = (_sum_column(row, c, n) for c in _MEAN_COLUMNS)
        d_sum, d_squares, md = (_sum_column(row, c, n) for c in _RATIO_COLUMNS)
        ratio = Ratio(
            n,
            m_sum,
            m_squares,
            d_sum,
            d_squares,
            md,
            *_shifted(row, _MEAN_COLUMNS + _RATIO_COLUMNS),
        )
        if not has_covariate:
            return ratio
        x_sum, x_squares, mx = (_sum_column(row, c, n) for c in _COVARIATE_COLUMNS)
        w_sum, w_squares, xw, mw, dx, dw = (
            _sum_column(row, c, n) for c in _RATIO_COVARIATE_COLUMNS
        )
        x_s, x2_s, mx_s = _shifted(row, _COVARIATE_COLUMNS)
        w_s, w2_s, xw_s, mw_s, dx_s, dw_s = _shifted(row, _RATIO_COVARIATE_COLUMNS)
        return RegressionAdjustedRatio(
            post=ratio,
            pre=Ratio(
                n, x_sum, x_squares, w_sum, w_squares, xw, x_s, x2_s, w_s, w2_s, xw_s
            ),
            numerator_covariate_sum_product=mx,
            numerator_covariate_denominator_sum_product=mw,
            denominator_covariate_sum_product=dx,
            denominator_covariate_denominator_sum_product=dw,
            numerator_covariate_shifted_sum_product=mx_s,
            numerator_covariate_denominator_shifted_sum_product=mw_s,
            denominator_covariate_shifted_sum_product=dx_s,
            denominator_covariate_denominator_shifted_sum_product=dw_s,
        )

    raise ValueError(f"unknown aggregation {aggregation!r}")


def unadjusted_from_row(
    row: Mapping[str, Any], aggregation: Any = None
) -> SampleMean | Proportion | Ratio:
    """``from_row`` without the pre-period covariate (no CUPED).

    Args:
        row: A mapping with the ``arm_metrics`` columns.
        aggregation: The metric's aggregation when not the row's own.

    Returns:
        The statistic of the analysis window only.
    """
    kind = row.get("aggregation") if aggregation is None else aggregation
    return from_row({**row, "aggregation": kind, "has_covariate": False})  # type: ignore[return-value]


def accumulate(
    so_far: Statistic | str | None,
    row: Mapping[str, Any] | None,
    read: Callable[[Mapping[str, Any]], Statistic],
) -> Statistic | str | None:
    """A running statistic plus the statistic of one more row.

    Args:
        so_far: The running statistic: None before the first row, the reason
            when an earlier row could not be read (it then stays).
        row: The next row, or None when there is none.
        read: Maps a row onto its statistic (``from_row`` or
            ``unadjusted_from_row``); its ValueError becomes the reason.

    Returns:
        The new running statistic, or the reason it cannot be formed.
    """
    if row is None or isinstance(so_far, str):
        return so_far
    try:
        statistic = read(row)
    except ValueError as problem:
        return str(problem)
    return statistic if so_far is None else so_far + statistic


def _field_problems(statistic: Statistic) -> list[str]:
    """Non-finite sums and a negative n, for any statistic."""
    problems = []
    parts = [statistic]
    if isinstance(statistic, RegressionAdjusted | RegressionAdjustedRatio):
        parts = [statistic, statistic.post, statistic.pre]
    for part in parts:
        for name in part.__slots__:
            value = getattr(part, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if not math.isfinite(value):
                problems.append(f"{name} is not finite ({value})")
    if statistic.n < 0:
        problems.append(f"negative number of units (n = {statistic.n})")
    return problems


def _spread_problems(
    what: str, n: int, total: float, squares: float, label: str = "sum of squares"
) -> list[str]:
    """A negative sum of squares, or a negative centred one beyond rounding."""
    if squares < 0:
        return [f"negative {label} of the {what} ({squares:.6g})"]
    centred = _centred(n, total, total, squares)
    tolerance = rounding_tolerance(n) * squares
    if centred < -tolerance:
        return [
            f"negative centred {label} of the {what}: {label} {squares:.17g} "
            f"< sum**2 / n = {total * total / n:.17g} beyond rounding"
        ]
    return []


def _cauchy_schwarz_problems(
    what: str,
    n: int,
    a: tuple[float, float],
    b: tuple[float, float],
    cross: float,
) -> list[str]:
    """A centred cross product larger than Cauchy-Schwarz allows, beyond rounding.

    ``|C_ab| <= sqrt(C_aa C_bb)`` for any data; each centred sum errs by at
    most ``rounding_tolerance(n)`` times ``S_aa``, ``S_bb`` or
    ``sqrt(S_aa S_bb)``, so the check allows exactly that much.
    """
    (sum_a, squares_a), (sum_b, squares_b) = a, b
    if squares_a < 0 or squares_b < 0:
        return []  # reported by _spread_problems
    tolerance = rounding_tolerance(n)
    c_aa = max(_centred(n, sum_a, sum_a, squares_a), 0.0) + tolerance * squares_a
    c_bb = max(_centred(n, sum_b, sum_b, squares_b), 0.0) + tolerance * squares_b
    c_ab = _centred(n, sum_a, sum_b, cross)
    bound = math.sqrt(c_aa) * math.sqrt(c_bb) + tolerance * math.sqrt(
        squares_a
    ) * math.sqrt(squares_b)
    if abs(c_ab) > bound:
        return [
            f"centred cross product of the {what} ({c_ab:.6g}) exceeds the "
            f"Cauchy-Schwarz bound sqrt(C_aa C_bb) = {bound:.6g}"
        ]
    return []


def _consistency_problems(
    what: str, n: int, raw: tuple[float, float], shifted: tuple[float, float]
) -> list[str]:
    """Raw and shifted sums that describe different spreads.

    The centred sum of squares does not depend on the shift, so the two must
    agree within the rounding of the raw sums (plus that of the shifted ones).
    """
    tolerance = rounding_tolerance(n)
    c_raw = _centred(n, raw[0], raw[0], raw[1])
    c_shifted = _centred(n, shifted[0], shifted[0], shifted[1])
    allowed = tolerance * (abs(raw[1]) + abs(shifted[1]))
    if abs(c_raw - c_shifted) > allowed:
        return [
            f"shifted sums of the {what} disagree with its raw sums (centred sum "
            f"of squares {c_shifted:.6g} against {c_raw:.6g})"
        ]
    return []


def statistic_problems(statistic: Statistic) -> list[str]:
    """Why no data could have produced these sufficient statistics.

    Checks: a negative ``n``; sums that are not finite; for a proportion,
    successes below 0, above ``n`` or not a whole number; for every variable,
    a negative sum of squares, a centred sum of squares below 0 beyond
    rounding (``rounding_tolerance``); centred cross products beyond the
    Cauchy-Schwarz bound (plus rounding); and shifted sums whose spread
    disagrees with that of the raw sums. Each problem names the variable and
    the check; the caller adds the arm.

    Args:
        statistic: A per-arm statistic.

    Returns:
        The problems found (empty when the statistic is possible).
    """
    problems = _field_problems(statistic)
    if problems or statistic.n == 0:
        return problems
    n = statistic.n
    post: Statistic = statistic
    if isinstance(statistic, RegressionAdjusted | RegressionAdjustedRatio):
        post = statistic.post

    if isinstance(post, Proportion):
        successes = post.sum
        if successes < 0:
            problems.append(f"negative number of successes ({successes:g})")
        elif successes > n:
            problems.append(f"more successes ({successes:g}) than units ({n})")
        elif abs(successes - round(successes)) > rounding_tolerance(n) * n:
            problems.append(f"number of successes is not whole ({successes!r})")
    elif isinstance(post, SampleMean):
        problems += _spread_problems("metric", n, post.sum, post.sum_squares)
        if post.is_shifted:
            shifted = post.spread_sums()
            problems += _spread_problems(
                "metric", n, *shifted, "shifted sum of squares"
            )
            problems += _consistency_problems(
                "metric", n, (post.sum, post.sum_squares), shifted
            )
    elif isinstance(post, Ratio):
        problems += _ratio_problems("metric", post)

    if isinstance(statistic, RegressionAdjusted):
        pre = statistic.pre
        problems += _spread_problems("covariate", n, pre.sum, pre.sum_squares)
        if pre.is_shifted:
            shifted = pre.spread_sums()
            problems += _spread_problems(
                "covariate", n, *shifted, "shifted sum of squares"
            )
            problems += _consistency_problems(
                "covariate", n, (pre.sum, pre.sum_squares), shifted
            )
        if not problems:
            m_sum, m_squares, x_sum, x_squares, cross = statistic.spread_sums()
            problems += _cauchy_schwarz_problems(
                "metric and covariate", n, (m_sum, m_squares), (x_sum, x_squares), cross
            )
    elif isinstance(statistic, RegressionAdjustedRatio):
        problems += _ratio_problems("covariate", statistic.pre)
        if not problems:
            (m, m2, d, d2, _), (x, x2, w, w2, _) = statistic.spread_sums()
            mx, mw, dx, dw = statistic.cross_sums()
            for what, a, b, cross in (
                ("metric and covariate", (m, m2), (x, x2), mx),
                ("metric and covariate denominator", (m, m2), (w, w2), mw),
                ("denominator and covariate", (d, d2), (x, x2), dx),
                ("denominator and covariate denominator", (d, d2), (w, w2), dw),
            ):
                problems += _cauchy_schwarz_problems(what, n, a, b, cross)
    return problems


def _ratio_problems(what: str, ratio: Ratio) -> list[str]:
    """``statistic_problems`` of a ratio's numerator, denominator and their product."""
    n = ratio.n
    numerator, denominator = f"{what} numerator", f"{what} denominator"
    raw = _raw_ratio_sums(ratio)
    problems = _spread_problems(numerator, n, raw[0], raw[1])
    problems += _spread_problems(denominator, n, raw[2], raw[3])
    if ratio.is_shifted:
        shifted = ratio.spread_sums()
        label = "shifted sum of squares"
        problems += _spread_problems(numerator, n, shifted[0], shifted[1], label)
        problems += _spread_problems(denominator, n, shifted[2], shifted[3], label)
        problems += _consistency_problems(numerator, n, raw[:2], shifted[:2])
        problems += _consistency_problems(denominator, n, raw[2:4], shifted[2:4])
    if not problems:
        m_sum, m_squares, d_sum, d_squares, md = ratio.spread_sums()
        problems += _cauchy_schwarz_problems(
            f"{what} numerator and denominator",
            n,
            (m_sum, m_squares),
            (d_sum, d_squares),
            md,
        )
    return problems
