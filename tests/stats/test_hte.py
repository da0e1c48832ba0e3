"""xpkit.stats.hte on simulated experiments with a known heterogeneous effect, and its
uplift curve and cohort cells against hand calculations on tiny tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from xpkit.marts import experiment_cate as cate_mart
from xpkit.stats import hte

SEGMENTS = ("casual", "regular", "vip")


def simulate(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Units like the demo's E005 (segment, age, gamma activity score, signup
    month, a pre-period metric) with a randomised treatment whose true effect
    tau(x) = 0.5 + 2.0 [vip] + 0.5 (activity - 4) - 0.5 [regular] varies by
    unit; the outcome is noisy and driven mostly by the pre-period metric."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(SEGMENTS, n, p=[0.5, 0.4, 0.1])
    age = np.clip(np.round(rng.normal(35, 10, n)), 18, 75)
    activity = rng.gamma(2.0, 2.0, n)
    month = rng.integers(1, 7, n)
    pre = rng.gamma(2.0, 5.0, n) * np.where(segment == "vip", 2.0, 1.0)
    tau = (
        0.5
        + 2.0 * (segment == "vip")
        - 0.5 * (segment == "regular")
        + 0.5 * (activity - 4.0)
    )
    treated = rng.random(n) < 0.5
    outcome = 2.0 + 0.8 * pre + 0.05 * age + tau * treated + rng.normal(0.0, 3.0, n)
    frame = pd.DataFrame(
        {
            "experiment_id": "SIM",
            "unit_id": [f"u{i:06d}" for i in range(n)],
            "primary_metric_id": "minutes",
            "segment": segment,
            "age": age,
            "activity_score": activity,
            "signup_month": month,
            "pre_metric": pre,
            "treated": treated,
            "outcome": outcome,
        }
    )
    # The declared attributes' feature columns, as int_experiment_unit_features
    # names them (seeds/unit_attributes.csv: the demo's covariates, dimension).
    for name in ("age", "activity_score", "signup_month"):
        frame[f"feature_num__{name}"] = frame[name]
    frame["feature_cat__segment"] = frame["segment"]
    bins = np.digitize(activity, [2, 4, 6, 10])
    labels = np.array(["<2", "2-4", "4-6", "6-10", ">=10"])
    frame["activity_bin"] = labels[bins]
    frame["activity_bin_order"] = bins
    return frame, tau


@pytest.fixture(scope="module")
def fitted():
    frame, tau = simulate(12_000, seed=7)
    numeric, categorical = cate_mart.feature_columns(frame)
    assert numeric == [
        "feature_num__age",
        "feature_num__activity_score",
        "feature_num__signup_month",
        "pre_metric",
    ]
    assert categorical == ["feature_cat__segment"]
    features = hte.design_matrix(frame, numeric, categorical)
    estimates = hte.fit_meta_learners(
        features, frame.treated.to_numpy(), frame.outcome.to_numpy(), random_state=0
    )
    return frame, tau, features, estimates


@pytest.mark.parametrize(
    ("learner", "min_correlation", "max_rmse"),
    [("t_learner", 0.75, 1.2), ("s_learner", 0.85, 0.85), ("x_learner", 0.85, 0.8)],
)
def test_learners_recover_the_true_cate(fitted, learner, min_correlation, max_rmse):
    _, tau, _, estimates = fitted
    estimate = estimates[learner]
    assert np.isfinite(estimate).all()
    # tau has sd ~1.3 across units: a constant (the ATE) would have RMSE ~1.3
    # and no correlation.
    assert np.std(tau) > 1.2
    assert np.corrcoef(estimate, tau)[0, 1] > min_correlation
    assert np.sqrt(np.mean((estimate - tau) ** 2)) < max_rmse
    # The average effect is recovered too (true ATE ~ 2.0 here).
    assert abs(estimate.mean() - tau.mean()) < 0.25


def test_targeting_by_predicted_uplift_beats_random(fitted):
    frame, tau, _, estimates = fitted
    treated, outcome = frame.treated.to_numpy(), frame.outcome.to_numpy()
    for learner, estimate in estimates.items():
        curve = hte.uplift_curve(estimate, treated, outcome).set_index("budget_share")
        top = curve.loc[0.2]
        # The top 20% by estimate have a much larger true effect than average,
        # and the held-out difference in means sees it.
        chosen = np.argsort(-estimate, kind="stable")[: int(top.units)]
        assert tau[chosen].mean() > tau.mean() + 1.2, learner
        assert top.observed_uplift > tau.mean() + 0.8, learner
        assert top.incremental_outcome > 1.3 * top.random_outcome, learner
        everyone = curve.loc[1.0]
        assert everyone.incremental_outcome == pytest.approx(everyone.random_outcome)


def test_fits_are_deterministic_and_out_of_fold(fitted):
    frame, _, features, estimates = fitted
    again = hte.fit_meta_learners(
        features, frame.treated.to_numpy(), frame.outcome.to_numpy(), random_state=0
    )
    for learner in hte.LEARNERS:
        assert np.array_equal(estimates[learner], again[learner])
    # Out-of-fold: changing one unit's outcome leaves its own estimate alone
    # only through models fitted without it, so its fold's other estimates
    # are unchanged too; the other fold's models change.
    outcome = frame.outcome.to_numpy().copy()
    folds = hte._folds(len(outcome), 2, 0)
    outcome[0] += 1000.0
    moved = hte.fit_meta_learners(
        features, frame.treated.to_numpy(), outcome, learners=("t_learner",)
    )["t_learner"]
    same_fold = folds == folds[0]
    assert np.array_equal(moved[same_fold], estimates["t_learner"][same_fold])
    assert not np.array_equal(moved[~same_fold], estimates["t_learner"][~same_fold])


def test_uplift_curve_equals_hand_calculation():
    # 8 units, scores with a tie (0.5, 0.5: input order kept).
    score = np.array([0.9, 0.1, 0.5, 0.7, 0.5, 0.3, 0.8, 0.2])
    treated = np.array([1, 0, 1, 0, 0, 1, 1, 0], dtype=bool)
    outcome = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 2.0, 6.0, 0.0])
    curve = hte.uplift_curve(score, treated, outcome, shares=(0.25, 0.5, 0.6, 1.0))
    # Ranked: units 0 (T 5), 6 (T 6), 3 (C 2), 2 (T 4), 4 (C 3), 5 (T 2),
    # 7 (C 0), 1 (C 1).
    # 25% -> 2 units, both treated: no control, uplift undefined.
    first = curve.iloc[0]
    assert (first.units, first.treated_units, first.control_units) == (2, 2, 0)
    assert math.isnan(first.observed_uplift)
    assert first.mean_score == pytest.approx(0.85)
    # 50% -> 4 units: treated 5, 6, 4 (mean 5), control 2: uplift 3, gain 12.
    second = curve.iloc[1]
    assert (second.units, second.treated_units, second.control_units) == (4, 3, 1)
    assert second.observed_uplift == pytest.approx(3.0)
    assert second.incremental_outcome == pytest.approx(12.0)
    assert second.mean_score == pytest.approx((0.9 + 0.8 + 0.7 + 0.5) / 4)
    # 60% -> ceil(4.8) = 5 units: control 2, 3 (mean 2.5): uplift 2.5, gain 12.5.
    third = curve.iloc[2]
    assert third.units == 5
    assert third.observed_uplift == pytest.approx(2.5)
    assert third.incremental_outcome == pytest.approx(12.5)
    # 100%: treated 5, 4, 2, 6 (mean 4.25), control 1, 2, 3, 0 (mean 1.5):
    # ATE 2.75; random targeting of k units gains k x 2.75.
    last = curve.iloc[3]
    assert last.observed_uplift == pytest.approx(2.75)
    assert last.incremental_outcome == pytest.approx(22.0)
    assert list(curve.random_outcome) == pytest.approx([5.5, 11.0, 13.75, 22.0])


def test_uplift_curve_rejects_bad_input():
    with pytest.raises(ValueError, match="differ in length"):
        hte.uplift_curve(np.zeros(3), np.zeros(2, dtype=bool), np.zeros(3))
    with pytest.raises(ValueError, match="budget shares"):
        hte.uplift_curve(np.zeros(3), np.zeros(3, dtype=bool), np.zeros(3), (0.0,))


def test_cate_cells_equal_hand_calculation():
    frame = pd.DataFrame({"segment": ["a", "a", "a", "b", "b", None], "bin": ["x"] * 6})
    treated = np.array([1, 0, 1, 1, 0, 1], dtype=bool)
    outcome = np.array([3.0, 1.0, 5.0, 2.0, 2.0, 9.0])
    estimates = {"t_learner": np.array([1.0, 2.0, 3.0, 4.0, 6.0, 0.0])}
    cells = hte.cate_cells(frame, ["segment", "bin"], estimates, treated, outcome)
    cells = cells.set_index("segment")
    assert cells.loc["a"].units == 3
    assert cells.loc["a"].mean_cate == pytest.approx(2.0)
    assert cells.loc["a"].observed_uplift == pytest.approx(4.0 - 1.0)
    assert cells.loc["b"].mean_cate == pytest.approx(5.0)
    assert cells.loc["b"].observed_uplift == pytest.approx(0.0)
    # A cell without controls has no observed uplift.
    assert math.isnan(cells.loc["(missing)"].observed_uplift)
    # Suppression: with min_units=2 every cell lacks 2 units in some arm.
    suppressed = hte.cate_cells(
        frame, ["segment", "bin"], estimates, treated, outcome, min_units=2
    ).set_index("segment")
    assert suppressed.loc["a"].units == 3
    assert math.isnan(suppressed.loc["a"].mean_cate)


def test_design_matrix_one_hot_and_missing_columns():
    frame = pd.DataFrame(
        {
            "age": [20.0, None, 40.0],
            "empty": [None, None, None],
            "segment": ["b", "a", None],
        }
    )
    matrix = hte.design_matrix(frame, ["age", "empty", "absent"], ["segment"])
    # age, then indicators of (missing), a, b (sorted); empty/absent left out.
    assert matrix.shape == (3, 4)
    assert np.isnan(matrix[1, 0])
    assert matrix[:, 1:].tolist() == [[0, 0, 1], [0, 1, 0], [1, 0, 0]]


def test_experiment_cate_outputs_heatmap_and_roi_rows():
    frame, _ = simulate(6000, seed=3)
    out = cate_mart.experiment_cate(frame, min_units=10)
    assert out.error_message.isna().all()
    heat = out[out.output == "heatmap"]
    roi = out[out.output == "roi_curve"]
    assert set(heat.learner) == set(roi.learner) == set(hte.LEARNERS)
    assert len(roi) == 3 * len(hte.BUDGET_SHARES)
    # Cells partition the units; each learner's cells have the same counts.
    for _, cells in heat.groupby("learner"):
        assert cells.units.sum() == len(frame)
    # Heatmap: vip cells have a larger mean estimated CATE than casual ones of
    # the same activity bin (true difference 2.0; the trees shrink small cells).
    x = heat[heat.learner == "x_learner"].set_index(["segment", "activity_bin"])
    for bin_ in ("2-4", "4-6"):
        gap = x.loc[("vip", bin_)].mean_cate - x.loc[("casual", bin_)].mean_cate
        assert gap > 0.5
    assert set(heat.activity_bin_order.dropna()) <= {0, 1, 2, 3, 4}
    # Calibration: ten deciles per learner partition the units; the ROI rows
    # carry the gain over random and its verdict (0 and no better at 100%).
    calib = out[out.output == "calibration"]
    assert len(calib) == 3 * 10
    for _, deciles in calib.groupby("learner"):
        assert deciles.decile.tolist() == list(range(1, 11))
        assert deciles.units.sum() == len(frame)
    assert (calib.observed_uplift_low <= calib.observed_uplift_high).all()
    everyone = roi[roi.budget_share == 1.0]
    assert (everyone.gain_over_random == 0).all()
    assert set(roi.targeting_verdict.dropna()) <= set(hte.TARGETING_VERDICTS)
    assert roi.gain_over_random.notna().all()


def test_experiment_cate_explains_why_it_cannot_run():
    empty = cate_mart.experiment_cate(pd.DataFrame())
    assert len(empty) == 1
    assert "cate_experiment_id" in empty.error_message.iloc[0]
    frame, _ = simulate(200, seed=1)
    numeric, categorical = cate_mart.feature_columns(frame)
    bare = frame.drop(columns=numeric + categorical)
    out = cate_mart.experiment_cate(bare)
    assert "seeds/unit_attributes.csv" in out.error_message.iloc[0]


# Calibration and gain over random targeting (issue 18 item 3). The oracle is
# a separate numpy calculation: per unit weights of the linear combination of
# outcomes, and scipy's Welch t-test statistic for the standard error.


def _unit_data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    score = rng.normal(size=n)
    treated = rng.random(n) < 0.4
    outcome = rng.gamma(2.0, 3.0, n) + 0.7 * treated * (score > 0)
    return score, treated, outcome


def test_calibration_intervals_equal_welch_by_hand():
    from scipy import stats

    score, treated, outcome = _unit_data(1_003, seed=11)
    table = hte.calibration(score, treated, outcome)
    assert table.decile.tolist() == list(range(1, 11))
    # 1,003 units in 10 groups: the first three hold 101, the rest 100.
    assert table.units.tolist() == [101] * 3 + [100] * 7
    order = np.argsort(-score, kind="stable")
    start = 0
    z = stats.norm.ppf(0.975)
    previous_min = math.inf
    for row in table.itertuples():
        group = order[start : start + row.units]
        start += row.units
        y1, y0 = outcome[group][treated[group]], outcome[group][~treated[group]]
        diff = y1.mean() - y0.mean()
        welch = stats.ttest_ind(y1, y0, equal_var=False)
        se = diff / welch.statistic  # t = diff / se
        assert row.observed_uplift == pytest.approx(diff, rel=1e-9)
        assert row.observed_uplift_low == pytest.approx(diff - z * se, rel=1e-9)
        assert row.observed_uplift_high == pytest.approx(diff + z * se, rel=1e-9)
        assert row.mean_score == pytest.approx(score[group].mean(), rel=1e-9)
        # Decile 1 holds the highest predictions.
        assert score[group].max() <= previous_min
        previous_min = score[group].min()


def test_gain_over_random_equals_unit_weights_by_hand():
    score, treated, outcome = _unit_data(2_000, seed=5)
    table = hte.gain_over_random(score, treated, outcome, shares=(0.1, 0.35, 1.0))
    order = np.argsort(-score, kind="stable")
    n1, n0 = treated.sum(), (~treated).sum()
    z = 1.959963984540054  # the 97.5% normal quantile
    for row in table.itertuples():
        k = math.ceil(row.budget_share * len(score))
        top = np.zeros(len(score), dtype=bool)
        top[order[:k]] = True
        # gain / k = D_top - D_all = sum_i w_i y_i with per-unit weights:
        # treated top 1/n1t - 1/n1, treated rest -1/n1, control top
        # -(1/n0t - 1/n0), control rest +1/n0.
        n1t, n0t = (top & treated).sum(), (top & ~treated).sum()
        w = np.where(
            treated,
            np.where(top, 1 / n1t, 0.0) - 1 / n1,
            -(np.where(top, 1 / n0t, 0.0) - 1 / n0),
        )
        point = k * float(w @ outcome)
        direct = k * (
            (outcome[top & treated].mean() - outcome[top & ~treated].mean())
            - (outcome[treated].mean() - outcome[~treated].mean())
        )
        assert row.gain_over_random == pytest.approx(direct, rel=1e-9, abs=1e-9)
        assert point == pytest.approx(direct, rel=1e-9, abs=1e-9)
        # Var = sum over the four groups of s_g^2 * sum_{i in g} w_i^2.
        var = 0.0
        for group in (top & treated, ~top & treated, top & ~treated, ~top & ~treated):
            if group.sum() > 1:
                var += outcome[group].var(ddof=1) * float((w[group] ** 2).sum())
        se = k * math.sqrt(var)
        assert row.gain_over_random_low == pytest.approx(
            direct - z * se, rel=1e-9, abs=1e-9
        )
        assert row.gain_over_random_high == pytest.approx(
            direct + z * se, rel=1e-9, abs=1e-9
        )
    everyone = table.iloc[-1]
    assert (everyone.gain_over_random, everyone.targeting_verdict) == (
        0.0,
        "no better than random",
    )


def _planted(n: int, seed: int, heterogeneity: float):
    """Units with a true effect 1.0 + heterogeneity * x1 (x1 standard normal)
    and an outcome noise of sd 2."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    treated = rng.random(n) < 0.5
    tau = 1.0 + heterogeneity * x[:, 0]
    outcome = 3.0 + x[:, 1] + tau * treated + rng.normal(0, 2.0, n)
    return x, treated, outcome


def test_no_heterogeneity_gives_no_better_than_random():
    x, treated, outcome = _planted(6_000, seed=21, heterogeneity=0.0)
    estimates = hte.fit_meta_learners(x, treated, outcome, random_state=0)
    for learner, estimate in estimates.items():
        table = hte.gain_over_random(estimate, treated, outcome, shares=(0.2, 0.5))
        assert set(table.targeting_verdict) == {"no better than random"}, learner
        assert (table.gain_over_random_low < 0).all()
        assert (table.gain_over_random_high > 0).all()


def test_strong_heterogeneity_beats_random_and_is_calibrated():
    x, treated, outcome = _planted(6_000, seed=22, heterogeneity=2.0)
    estimates = hte.fit_meta_learners(x, treated, outcome, random_state=0)
    for learner, estimate in estimates.items():
        table = hte.gain_over_random(estimate, treated, outcome, shares=(0.2, 0.5))
        assert set(table.targeting_verdict) == {"beats random"}, learner
        deciles = hte.calibration(estimate, treated, outcome)
        # Observed uplift falls from the top decile to the bottom one.
        assert deciles.observed_uplift.iloc[0] > deciles.observed_uplift.iloc[-1] + 3
        assert deciles.observed_uplift_low.iloc[0] > 0


def test_targeting_verdict_by_sign_of_the_interval():
    assert hte.targeting_verdict(0.1, 2.0) == "beats random"
    assert hte.targeting_verdict(-0.1, 2.0) == "no better than random"
    assert hte.targeting_verdict(-3.0, -0.5) == "worse than random"
    assert hte.targeting_verdict(math.nan, 1.0) is None
