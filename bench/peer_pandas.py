"""The peer: a typical analyst's pandas + scipy script for the same analysis.

Reads the Parquet files and the registry CSVs, takes each unit's first exposure,
drops multi-variant units, keeps events in [fe - lookback, fe) and
[fe, fe + window) cut at end_date + 1 day, computes unit-level metric values
(zero-filled), per-arm sufficient statistics and Welch t-tests against control.

    python bench/peer_pandas.py DATA_DIR SEEDS_DIR OUT.parquet
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats


def analyse(data: Path, seeds: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    experiments = pd.read_csv(seeds / "experiments.csv")
    metrics = pd.read_csv(seeds / "metrics.csv")
    registered = pd.read_csv(seeds / "experiment_metrics.csv")

    exposures = pd.read_parquet(data / "exposures.parquet")
    assignments = (
        exposures.groupby(["experiment_id", "unit_id"])
        .agg(
            first_exposed_at=("exposed_at", "min"),
            n_variants=("variant", "nunique"),
            variant=("variant", "first"),
        )
        .reset_index()
    )
    assignments = assignments[assignments["n_variants"] == 1].drop(columns="n_variants")
    experiments["cutoff_at"] = pd.to_datetime(experiments["end_date"]) + pd.Timedelta(
        days=1
    )
    assignments = assignments.merge(
        experiments[
            [
                "experiment_id",
                "analysis_window_days",
                "cuped_lookback_days",
                "cutoff_at",
            ]
        ],
        on="experiment_id",
    )

    base = metrics[metrics["aggregation"] != "ratio"].set_index("metric_id")
    event_names = base["event_name"].unique().tolist()
    events = pd.read_parquet(
        data / "events.parquet", filters=[("event_name", "in", event_names)]
    )
    joined = events.merge(assignments, on="unit_id")
    start = joined["first_exposed_at"] - pd.to_timedelta(
        joined["cuped_lookback_days"], unit="D"
    )
    end = joined["first_exposed_at"] + pd.to_timedelta(
        joined["analysis_window_days"], unit="D"
    )
    end = end.where(joined["cutoff_at"].isna() | (joined["cutoff_at"] > end))
    end = end.fillna(joined["cutoff_at"])
    joined = joined[(joined["event_at"] >= start) & (joined["event_at"] < end)]
    joined = joined.assign(
        is_post=joined["event_at"] >= joined["first_exposed_at"],
        value=joined["value"].fillna(0.0),
    )
    per_unit = (
        joined.groupby(["experiment_id", "unit_id", "event_name", "is_post"])
        .agg(n=("value", "size"), total=("value", "sum"))
        .unstack("is_post", fill_value=0)
    )
    per_unit.columns = [f"{a}_{'post' if b else 'pre'}" for a, b in per_unit.columns]
    per_unit = per_unit.reset_index()

    def base_values(metric_id: str) -> pd.DataFrame:
        row = base.loc[metric_id]
        rows = per_unit[per_unit["event_name"] == row["event_name"]]
        if row["aggregation"] == "binary":
            m, x = rows["n_post"] > 0, rows["n_pre"] > 0
        elif row["aggregation"] == "count":
            m, x = rows["n_post"], rows["n_pre"]
        else:
            m, x = rows["total_post"], rows["total_pre"]
        m, x = m.astype(float), x.astype(float)
        if not np.isnan(row["cap_value"]):
            m, x = m.clip(upper=row["cap_value"]), x.clip(upper=row["cap_value"])
        return pd.DataFrame(
            {"experiment_id": rows["experiment_id"], "unit_id": rows["unit_id"]}
            | {"m": m, "x": x}
        )

    arm_rows = []
    test_rows = []
    for _, reg in registered.iterrows():
        metric = metrics.set_index("metric_id").loc[reg["metric_id"]]
        units = assignments.loc[
            assignments["experiment_id"] == reg["experiment_id"],
            ["experiment_id", "unit_id", "variant"],
        ]
        is_ratio = metric["aggregation"] == "ratio"
        parts = (
            [metric["numerator_metric_id"], metric["denominator_metric_id"]]
            if is_ratio
            else [reg["metric_id"]]
        )
        frame = units
        for part, (mc, xc) in zip(parts, [("m", "x"), ("d", "w")], strict=False):
            values = base_values(part).rename(columns={"m": mc, "x": xc})
            frame = frame.merge(values, on=["experiment_id", "unit_id"], how="left")
        frame = frame.fillna({c: 0.0 for c in "mxdw" if c in frame})
        for variant, arm in frame.groupby("variant"):
            m, x = arm["m"].to_numpy(), arm["x"].to_numpy()
            row = {
                "experiment_id": reg["experiment_id"],
                "variant": variant,
                "metric_id": reg["metric_id"],
                "n_units": len(arm),
                "metric_sum": m.sum(),
                "metric_sum_squares": (m * m).sum(),
                "covariate_sum": x.sum(),
                "covariate_sum_squares": (x * x).sum(),
                "metric_covariate_sum_product": (m * x).sum(),
            }
            if is_ratio:
                d, w = arm["d"].to_numpy(), arm["w"].to_numpy()
                row |= {
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
            arm_rows.append(row)
        control = frame[frame["variant"] == "control"]
        for variant, arm in frame.groupby("variant"):
            if variant == "control":
                continue
            if is_ratio:
                # Delta method: per-unit linearised ratio, then Welch.
                def linear(part: pd.DataFrame) -> np.ndarray:
                    r = part["m"].sum() / part["d"].sum()
                    return (part["m"] - r * part["d"]) / part["d"].mean() + r

                a, b = linear(arm), linear(control)
            else:
                a, b = arm["m"], control["m"]
            result = stats.ttest_ind(a, b, equal_var=False)
            test_rows.append(
                {
                    "experiment_id": reg["experiment_id"],
                    "metric_id": reg["metric_id"],
                    "variant": variant,
                    "difference": float(np.mean(a) - np.mean(b)),
                    "p_value": float(result.pvalue),
                }
            )
    return pd.DataFrame(arm_rows), pd.DataFrame(test_rows)


def main(argv: list[str]) -> int:
    data, seeds, out = Path(argv[0]), Path(argv[1]), Path(argv[2])
    arms, tests = analyse(data, seeds)
    arms.to_parquet(out)
    print(tests.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
