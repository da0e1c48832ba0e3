"""The ``experiment_cate`` mart: meta-learner CATE cells, uplift curves (with
the gain over random targeting and its verdict) and calibration deciles of
``xpkit.stats.hte`` from the unit rows of ``int_cate_units``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xpkit.marts.declaration import MartDeclaration
from xpkit.settings import default_float
from xpkit.stats.hte import (
    calibration,
    cate_cells,
    design_matrix,
    fit_meta_learners,
    gain_over_random,
    uplift_curve,
)

__all__ = ["DECLARATION", "CATE_COLUMNS", "experiment_cate", "feature_columns"]

NUMERIC_PREFIX = "feature_num__"
CATEGORICAL_PREFIX = "feature_cat__"
# Besides the declared attributes: the primary metric's pre-period value.
EXTRA_NUMERIC_FEATURES = ("pre_metric",)
CATE_COLUMNS = {
    "experiment_id": "string",
    "metric_id": "string",
    "learner": "string",
    "output": "string",
    "segment": "string",
    "activity_bin": "string",
    "activity_bin_order": "Int64",
    "budget_share": "Float64",
    "units": "Int64",
    "treated_units": "Int64",
    "control_units": "Int64",
    "mean_cate": "Float64",
    "observed_uplift": "Float64",
    "incremental_outcome": "Float64",
    "random_outcome": "Float64",
    "error_message": "string",
    "decile": "Int64",
    "observed_uplift_low": "Float64",
    "observed_uplift_high": "Float64",
    "gain_over_random": "Float64",
    "gain_over_random_low": "Float64",
    "gain_over_random_high": "Float64",
    "targeting_verdict": "string",
}


def feature_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The learners' numeric and categorical feature columns of ``frame``: the
    declared unit attributes (seeds/unit_attributes.csv), which
    ``int_experiment_unit_features`` names ``feature_num__<column>`` (the
    covariates and predictions) and ``feature_cat__<column>`` (the
    dimensions), in their order, then ``EXTRA_NUMERIC_FEATURES``."""
    numeric = [c for c in frame.columns if str(c).startswith(NUMERIC_PREFIX)]
    numeric += [c for c in EXTRA_NUMERIC_FEATURES if c in frame.columns]
    categorical = [c for c in frame.columns if str(c).startswith(CATEGORICAL_PREFIX)]
    return numeric, categorical


def _typed(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(CATE_COLUMNS))
    for name, dtype in CATE_COLUMNS.items():
        if dtype == "Float64":
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        frame[name] = frame[name].astype(dtype)
    return frame


def experiment_cate(
    units: pd.DataFrame,
    min_units: int = int(default_float("min_segment_units")),
    n_folds: int = 2,
    random_state: int = 0,
) -> pd.DataFrame:
    """Heatmap cells and uplift curves of one experiment's meta-learners.

    Args:
        units: One row per analysed unit of ONE experiment with
            ``experiment_id``, ``unit_id``, ``treated``, ``outcome``,
            ``primary_metric_id``, ``segment``, ``activity_bin``,
            ``activity_bin_order`` and the features of ``feature_columns``
            (all-null features are left out).
        min_units: Cells with fewer units in an arm show no figures.
        n_folds: Cross-fitting folds.
        random_state: Seed of the folds and the learners.

    Returns:
        Rows with ``output`` = 'heatmap' (one per learner x segment x activity
        bin: mean out-of-fold CATE and the cell's observed uplift) and
        'roi_curve' (one per learner x budget share: ``uplift_curve`` and
        ``gain_over_random``) and 'calibration' (one per learner x decile of
        predicted uplift: ``calibration``), in the
        columns of ``CATE_COLUMNS``; a single row with ``error_message`` when
        the experiment cannot be analysed.
    """
    if units.empty:
        return _typed(
            [
                {
                    "error_message": "no experiment to analyse: set var "
                    "cate_experiment_id to a running or completed experiment "
                    "with analysed units in its control and treatment arms"
                }
            ]
        )
    frame = units.sort_values("unit_id", kind="stable").reset_index(drop=True)
    experiment_id = str(frame["experiment_id"].iloc[0])
    metric_id = frame["primary_metric_id"].iloc[0]
    base = {
        "experiment_id": experiment_id,
        "metric_id": None if pd.isna(metric_id) else str(metric_id),
    }
    treated = frame["treated"].astype(bool).to_numpy()
    # Sums computed in parallel differ in their last bits between builds and
    # engines; the trees would turn that into different splits. Rounding the
    # outcome and the features to 9 decimals makes the fits reproducible.
    outcome = np.round(pd.to_numeric(frame["outcome"]).to_numpy(dtype=float), 9)
    numeric, categorical = feature_columns(frame)
    features = np.round(design_matrix(frame, numeric, categorical), 9)
    if features.shape[1] == 0:
        return _typed(
            [
                {
                    **base,
                    "error_message": "the units have no feature: declare "
                    "covariates or dimensions in seeds/unit_attributes.csv "
                    "(or register a pre-period for the primary metric); no CATE",
                }
            ]
        )
    smallest = min(int(treated.sum()), int((~treated).sum()))
    if smallest < 2 * n_folds:
        return _typed(
            [
                {
                    **base,
                    "error_message": "too few treated or control units for "
                    "cross-fitted learners",
                }
            ]
        )
    estimates = fit_meta_learners(
        features, treated, outcome, n_folds=n_folds, random_state=random_state
    )
    rows: list[dict] = []
    cells = cate_cells(
        frame,
        ["segment", "activity_bin"],
        estimates,
        treated,
        outcome,
        min_units=min_units,
    )
    order = (
        frame.assign(
            segment=frame["segment"].astype("string").fillna("(missing)"),
            activity_bin=frame["activity_bin"].astype("string").fillna("(missing)"),
        )
        .groupby("activity_bin")["activity_bin_order"]
        .min()
    )
    for cell in cells.to_dict("records"):
        rows.append(
            {
                **base,
                **cell,
                "output": "heatmap",
                "activity_bin_order": order.get(cell["activity_bin"]),
            }
        )
    for learner, values in estimates.items():
        curve = uplift_curve(values, treated, outcome)
        gains = gain_over_random(values, treated, outcome)
        for point, gain in zip(
            curve.to_dict("records"), gains.to_dict("records"), strict=True
        ):
            rows.append(
                {
                    **base,
                    "learner": learner,
                    "output": "roi_curve",
                    "budget_share": point["budget_share"],
                    "units": point["units"],
                    "treated_units": point["treated_units"],
                    "control_units": point["control_units"],
                    "mean_cate": point["mean_score"],
                    "observed_uplift": point["observed_uplift"],
                    "incremental_outcome": point["incremental_outcome"],
                    "random_outcome": point["random_outcome"],
                    "gain_over_random": gain["gain_over_random"],
                    "gain_over_random_low": gain["gain_over_random_low"],
                    "gain_over_random_high": gain["gain_over_random_high"],
                    "targeting_verdict": gain["targeting_verdict"],
                }
            )
        for group in calibration(values, treated, outcome).to_dict("records"):
            rows.append(
                {
                    **base,
                    "learner": learner,
                    "output": "calibration",
                    "decile": group["decile"],
                    "units": group["units"],
                    "treated_units": group["treated_units"],
                    "control_units": group["control_units"],
                    "mean_cate": group["mean_score"],
                    "observed_uplift": group["observed_uplift"],
                    "observed_uplift_low": group["observed_uplift_low"],
                    "observed_uplift_high": group["observed_uplift_high"],
                }
            )
    return _typed(rows)


DECLARATION = MartDeclaration(
    name="experiment_cate",
    inputs=("intermediate.int_cate_units",),
    settings=("min_segment_units",),
    columns=CATE_COLUMNS,
    build=lambda inputs, settings: experiment_cate(
        inputs["int_cate_units"], min_units=settings["min_segment_units"]
    ),
)
