"""An independent pandas/numpy implementation of the pipeline's rules, used as
the oracle for the warehouse tests. It reads the raw tables and the registry
CSVs and recomputes per-arm sufficient statistics and SRM figures from scratch,
sharing no code with the dbt models or the xpkit package.

The rules (README, "How figures are computed"):
- an exposure is usable when unit_id, experiment_id and variant are non-blank,
  exposed_at parses and is not in the future, the experiment and the variant
  are registered, and start_date <= exposed_at < end_date + 1 day;
- exposures of planned experiments are not usable;
- timestamps at or before 1970-01-01 are invalid;
- an event is usable when unit_id and event_name are non-blank, event_at
  parses and is not in the future, value is blank or a finite number of size
  at most 1e100, value is not
  negative on an event a sum metric sums, and it is the first of exact copies;
- a unit's first exposure fe is its earliest usable exposure; units seen in
  two variants are excluded;
- metric window [fe, fe + window days) cut at end_date + 1 day; pre-period
  [fe - lookback days, fe); binary / count / sum, capped at cap_value; units
  without events are 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

FUTURE_TOLERANCE = pd.Timedelta(hours=24)
EPOCH = pd.Timestamp("1970-01-01")
MAX_ABS_VALUE = 1e100


@dataclass
class Registry:
    experiments: pd.DataFrame
    variants: pd.DataFrame
    metrics: pd.DataFrame
    experiment_metrics: pd.DataFrame

    @classmethod
    def from_seeds(cls, seeds_dir: Path) -> Registry:
        def read(name: str) -> pd.DataFrame:
            return pd.read_csv(
                seeds_dir / f"{name}.csv", dtype=str, keep_default_na=False
            )

        experiments = read("experiments")
        for column in ("start_date", "end_date"):
            experiments[column] = pd.to_datetime(experiments[column].replace("", None))
        for column in ("analysis_window_days", "cuped_lookback_days"):
            experiments[column] = experiments[column].astype(int)
        variants = read("experiment_variants")
        variants["allocation_weight"] = variants["allocation_weight"].astype(float)
        metrics = read("metrics")
        metrics["cap_value"] = pd.to_numeric(metrics["cap_value"].replace("", None))
        return cls(experiments, variants, metrics, read("experiment_metrics"))


def _blank(series: pd.Series) -> pd.Series:
    return series.isna() | (series.astype("string").str.strip() == "")


def _timestamps(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        parsed = series
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        return parsed.astype("datetime64[us]")
    parsed = pd.to_datetime(series, errors="coerce", utc=True, format="mixed")
    return parsed.dt.tz_localize(None).astype("datetime64[us]")


def usable_exposures(exposures: pd.DataFrame, registry: Registry, now: pd.Timestamp):
    frame = exposures[["experiment_id", "unit_id", "variant"]].astype("string").copy()
    frame["ts"] = _timestamps(exposures["exposed_at"])
    keep = ~(
        _blank(frame.unit_id) | _blank(frame.experiment_id) | _blank(frame.variant)
    )
    keep &= frame.ts.notna() & (frame.ts > EPOCH) & (frame.ts <= now + FUTURE_TOLERANCE)
    frame = frame[keep.fillna(False).astype(bool)]
    planned = registry.experiments.loc[
        registry.experiments.status == "planned", "experiment_id"
    ]
    frame = frame[~frame.experiment_id.isin(set(planned))]
    registered = registry.variants[["experiment_id", "variant"]].astype("string")
    frame = frame.merge(registered, on=["experiment_id", "variant"], how="inner")
    dates = registry.experiments[["experiment_id", "start_date", "end_date"]].copy()
    dates["experiment_id"] = dates["experiment_id"].astype("string")
    frame = frame.merge(dates, on="experiment_id", how="inner")
    cutoff = frame.end_date + pd.Timedelta(days=1)
    in_dates = frame.start_date.notna() & (frame.ts >= frame.start_date)
    in_dates &= frame.end_date.isna() | (frame.ts < cutoff)
    return frame[in_dates.astype(bool)][["experiment_id", "unit_id", "variant", "ts"]]


def usable_events(events: pd.DataFrame, registry: Registry, now: pd.Timestamp):
    frame = pd.DataFrame(
        {
            "unit_id": events["unit_id"].astype("string"),
            "event_name": events["event_name"].astype("string"),
            "ts": _timestamps(events["event_at"]),
            "value": pd.to_numeric(events["value"], errors="coerce").astype(float),
            "value_text": events["value"].astype("string"),
            "ts_text": events["event_at"].astype("string"),
        }
    )
    keep = ~(_blank(frame.unit_id) | _blank(frame.event_name))
    keep &= frame.ts.notna() & (frame.ts > EPOCH) & (frame.ts <= now + FUTURE_TOLERANCE)
    # A blank value is a missing one; any other value must be a finite number
    # no larger than 1e100 in size.
    has_value = ~_blank(frame.value_text)
    bad_value = has_value & ~(
        np.isfinite(frame.value.fillna(np.nan)) & (frame.value.abs() <= MAX_ABS_VALUE)
    )
    keep &= ~bad_value.fillna(False).astype(bool)
    summed = registry.metrics.loc[registry.metrics.aggregation == "sum", "event_name"]
    keep &= ~(frame.event_name.isin(set(summed)) & (frame.value < 0)).fillna(False)
    frame = frame[keep.fillna(False).astype(bool)]
    # Exact duplicates: the same unit, event, instant and value (as parsed).
    frame = frame.drop_duplicates(subset=["unit_id", "event_name", "ts", "value"])
    return frame[["unit_id", "event_name", "ts", "value"]]


def assignments(exposures: pd.DataFrame) -> pd.DataFrame:
    grouped = exposures.groupby(["experiment_id", "unit_id"], observed=True)
    result = grouped.agg(fe=("ts", "min"), n_variants=("variant", "nunique"))
    result["variant"] = grouped["variant"].first()
    return result.reset_index()


def _base_values(
    events: pd.DataFrame, units: pd.DataFrame, metric: pd.Series, experiment: pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """Post and pre values of a base metric for each unit of `units` (in order)."""
    window = pd.Timedelta(days=int(experiment.analysis_window_days))
    lookback = pd.Timedelta(days=int(experiment.cuped_lookback_days))
    chosen = events[events.event_name == metric.event_name]
    joined = chosen.merge(units[["unit_id", "fe"]], on="unit_id", how="inner")
    end = joined.fe + window
    if pd.notna(experiment.end_date):
        end = end.clip(upper=experiment.end_date + pd.Timedelta(days=1))
    post = joined[(joined.ts >= joined.fe) & (joined.ts < end)]
    pre = joined[(joined.ts >= joined.fe - lookback) & (joined.ts < joined.fe)]

    def per_unit(rows: pd.DataFrame) -> np.ndarray:
        if metric.aggregation == "binary":
            values = rows.groupby("unit_id").size().clip(upper=1).astype(float)
        elif metric.aggregation == "count":
            values = rows.groupby("unit_id").size().astype(float)
        else:
            values = rows.groupby("unit_id")["value"].sum(min_count=0).astype(float)
        aligned = units["unit_id"].map(values).fillna(0.0).to_numpy(dtype=float)
        if pd.notna(metric.cap_value):
            aligned = np.minimum(aligned, float(metric.cap_value))
        return aligned

    return per_unit(post), per_unit(pre)


def arm_metrics(
    raw: dict[str, pd.DataFrame],
    registry: Registry,
    now: pd.Timestamp,
    segment_column: str | None = None,
):
    """One row per experiment x variant x metric, as marts.arm_metrics defines it;
    with `segment_column`, per segment value too (marts.arm_metrics_by_segment)."""
    exposures = usable_exposures(raw["exposures"], registry, now)
    events = usable_events(raw["events"], registry, now)
    assigned = assignments(exposures)
    analysed = assigned[assigned.n_variants == 1]
    if segment_column is None:
        return _arm_rows(analysed, events, registry)
    units = raw["units"].drop_duplicates()
    units = units[~units.unit_id.duplicated(keep=False)]
    labels = units.set_index("unit_id")[segment_column].astype("string")
    value = analysed.unit_id.map(labels).fillna("(missing)")
    frames = []
    for (experiment_id, segment_value), _ in analysed.groupby(
        [analysed.experiment_id, value]
    ):
        in_segment = analysed[value == segment_value]
        rows = _arm_rows(in_segment, events, registry, only=experiment_id)
        rows["segment_dimension"] = segment_column
        rows["segment_value"] = segment_value
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def _arm_rows(
    analysed: pd.DataFrame,
    events: pd.DataFrame,
    registry: Registry,
    only: str | None = None,
) -> pd.DataFrame:
    metrics = registry.metrics.set_index("metric_id")
    rows = []
    for experiment in registry.experiments.itertuples(index=False):
        if only is not None and experiment.experiment_id != only:
            continue
        arms = registry.variants[
            registry.variants.experiment_id == experiment.experiment_id
        ]
        chosen = registry.experiment_metrics[
            registry.experiment_metrics.experiment_id == experiment.experiment_id
        ]
        for arm in arms.itertuples(index=False):
            units = analysed[
                (analysed.experiment_id == experiment.experiment_id)
                & (analysed.variant == arm.variant)
            ].reset_index(drop=True)
            for metric_id in chosen.metric_id:
                metric = metrics.loc[metric_id]
                row = {
                    "experiment_id": experiment.experiment_id,
                    "variant": arm.variant,
                    "metric_id": metric_id,
                    "n_units": len(units),
                }
                if metric.aggregation == "ratio":
                    m, x = _base_values(
                        events,
                        units,
                        metrics.loc[metric.numerator_metric_id],
                        experiment,
                    )
                    d, w = _base_values(
                        events,
                        units,
                        metrics.loc[metric.denominator_metric_id],
                        experiment,
                    )
                else:
                    m, x = _base_values(events, units, metric, experiment)
                    d = w = None
                row.update(_moments(m, x, d, w))
                rows.append(row)
    return pd.DataFrame(rows)


def _moments(m, x, d, w) -> dict[str, float | None]:
    n = len(m)
    out = {
        "metric_sum": m.sum(),
        "metric_sum_squares": (m * m).sum(),
        "covariate_sum": x.sum(),
        "covariate_sum_squares": (x * x).sum(),
        "metric_covariate_sum_product": (m * x).sum(),
    }
    if d is None:
        out["mean"] = m.mean() if n > 0 else None
        out["variance"] = np.var(m, ddof=1) if n > 1 else None
        return out
    out.update(
        {
            "denominator_sum": d.sum(),
            "denominator_sum_squares": (d * d).sum(),
            "metric_denominator_sum_product": (m * d).sum(),
            "covariate_denominator_sum": w.sum(),
            "covariate_denominator_sum_squares": (w * w).sum(),
            "covariate_covariate_denominator_sum_product": (x * w).sum(),
            "metric_covariate_denominator_sum_product": (m * w).sum(),
            "denominator_covariate_sum_product": (d * x).sum(),
            "denominator_covariate_denominator_sum_product": (d * w).sum(),
        }
    )
    ratio = m.sum() / d.sum() if d.sum() != 0 else None
    out["mean"] = ratio
    if n > 1 and ratio is not None:
        covariance = np.cov(np.vstack([m, d]), ddof=1)
        dbar = d.mean()
        out["variance"] = max(
            (
                covariance[0, 0]
                - 2 * ratio * covariance[0, 1]
                + ratio**2 * covariance[1, 1]
            )
            / dbar**2,
            0.0,
        )
    else:
        out["variance"] = None
    return out


def assignment_balance(raw: dict[str, pd.DataFrame], registry: Registry, now):
    """Per experiment x variant: units, shares and the chi-square SRM test."""
    exposures = usable_exposures(raw["exposures"], registry, now)
    assigned = assignments(exposures)
    analysed = assigned[assigned.n_variants == 1]
    counts = analysed.groupby(["experiment_id", "variant"]).size()
    rows = []
    for experiment_id, arms in registry.variants.groupby("experiment_id", sort=False):
        units = np.array(
            [counts.get((experiment_id, v), 0) for v in arms.variant], dtype=float
        )
        expected = arms.allocation_weight.to_numpy() / arms.allocation_weight.sum()
        total = units.sum()
        if total > 0 and len(units) > 1:
            chi2, p_value = stats.chisquare(units, f_exp=expected * total)
        else:
            chi2 = p_value = None
        for variant, n, share in zip(arms.variant, units, expected, strict=True):
            rows.append(
                {
                    "experiment_id": experiment_id,
                    "variant": variant,
                    "units": int(n),
                    "expected_share": share,
                    "observed_share": n / total if total > 0 else None,
                    "srm_chi2": chi2,
                    "srm_p_value": p_value,
                    "srm_flag": None if p_value is None else bool(p_value < 0.001),
                }
            )
    return pd.DataFrame(rows)


def unit_arrays(
    raw: dict[str, pd.DataFrame],
    registry: Registry,
    now: pd.Timestamp,
    segment: tuple[str, str] | None = None,
):
    """Unit-level values per (experiment_id, variant, metric_id): a dict with
    m and x (and d and w for ratio metrics), one entry per analysed unit; with
    `segment` = (column, value), only the units of raw.units with that value."""
    exposures = usable_exposures(raw["exposures"], registry, now)
    events = usable_events(raw["events"], registry, now)
    assigned = assignments(exposures)
    analysed = assigned[assigned.n_variants == 1]
    if segment is not None:
        column, value = segment
        labels = raw["units"].set_index("unit_id")[column].astype("string")
        analysed = analysed[analysed.unit_id.map(labels).fillna("(missing)") == value]
    metrics = registry.metrics.set_index("metric_id")
    arrays = {}
    for experiment in registry.experiments.itertuples(index=False):
        chosen = registry.experiment_metrics[
            registry.experiment_metrics.experiment_id == experiment.experiment_id
        ]
        arms = registry.variants[
            registry.variants.experiment_id == experiment.experiment_id
        ]
        for variant in arms.variant:
            units = analysed[
                (analysed.experiment_id == experiment.experiment_id)
                & (analysed.variant == variant)
            ].reset_index(drop=True)
            for metric_id in chosen.metric_id:
                metric = metrics.loc[metric_id]
                if metric.aggregation == "ratio":
                    numerator = metrics.loc[metric.numerator_metric_id]
                    denominator = metrics.loc[metric.denominator_metric_id]
                    m, x = _base_values(events, units, numerator, experiment)
                    d, w = _base_values(events, units, denominator, experiment)
                    values = {"m": m, "x": x, "d": d, "w": w}
                else:
                    m, x = _base_values(events, units, metric, experiment)
                    values = {"m": m, "x": x}
                arrays[(experiment.experiment_id, variant, metric_id)] = values
    return arrays
