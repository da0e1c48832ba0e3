"""The declared unit attributes (seeds/unit_attributes.csv, issue 17 item 1):
a dataset whose units table has its own column names builds with the
breakdowns, cohorts and CATE features its registry declares and no others,
and a declared column the units table lacks, a var naming an undeclared column
and an unknown role each stop the build with one message naming the file, the
row and the fix."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd
import pytest
from custom_dataset import CUSTOM_SEEDS, write_custom_dataset
from warehouse import copy_project, load_and_build

pytestmark = pytest.mark.warehouse

HEADER = "column_name,role,data_type,bins,description\n"
DECLARED = (
    HEADER
    + "plan,dimension,string,,Price plan\n"
    + "tenure_days,covariate,double,30|90,Days since signup\n"
    + "cohort_month,covariate,bigint,,Signup month index\n"
    + "churn_score,prediction,double,,A model's churn prediction\n"
)


def _units(data) -> pd.DataFrame:
    """Units of the custom dataset (its 400 ids) with their own attribute
    names; `ignored` is in the file but not declared."""
    rng = np.random.default_rng(3)
    ids = [f'ü-"{i}" x' for i in range(400)]
    units = pd.DataFrame(
        {
            "unit_id": ids,
            "plan": rng.choice(np.array(["free", "pro"]), len(ids)),
            "tenure_days": rng.integers(0, 200, len(ids)).astype(float),
            "cohort_month": rng.integers(1, 13, len(ids)),
            "churn_score": rng.random(len(ids)),
            "ignored": rng.choice(np.array(["a", "b", "c"]), len(ids)),
        }
    )
    units.to_csv(data / "units.csv", index=False)
    return units


def _project(tmp_path, attributes: str, segment_columns: str = "[]"):
    seeds = tmp_path / "registry"
    seeds.mkdir()
    for name, text in CUSTOM_SEEDS.items():
        (seeds / name).write_text(text)
    (seeds / "unit_attributes.csv").write_text(attributes)
    write_custom_dataset(tmp_path / "data")
    units = _units(tmp_path / "data")
    project = copy_project(tmp_path / "project", seeds)
    config = (project / "dbt_project.yml").read_text()
    assert "  segment_columns: []\n" in config
    override = f"  segment_columns: {segment_columns}\n"
    (project / "dbt_project.yml").write_text(
        config.replace("  segment_columns: []\n", override)
    )
    return project, units


def test_declared_attributes_drive_breakdowns_cohorts_and_features(tmp_path):
    project, units = _project(tmp_path, DECLARED)
    database = tmp_path / "own.duckdb"
    log = load_and_build(project, tmp_path / "data", database, tmp_path)
    assert "Warning" not in log
    with duckdb.connect(str(database), read_only=True) as con:
        problems = con.sql("select * from intermediate.int_registry_problems").df()
        segments = con.sql("select * from marts.arm_metrics_by_segment").df()
        cohorts = con.sql("select * from marts.experiment_cohorts").df()
        features = con.sql(
            "select * from intermediate.int_experiment_unit_features"
        ).df()
    assert problems.empty
    # Breakdowns: the one declared dimension, with the file's values.
    assert set(segments.segment_dimension) == {"plan"}
    assert set(segments.segment_value) == {"free", "pro"}
    # Cohorts: segment = plan, activity_bin = tenure_days at 30|90, signup_month
    # = cohort_month; each cohort's size counts the units by hand.
    assert set(cohorts.activity_bin) <= {"<30", "30-90", ">=90"}
    by_unit = units.set_index("unit_id")
    one = features[features.experiment_id == "checkout-2025"].copy()
    tenure = by_unit.loc[one.unit_id, "tenure_days"].to_numpy()
    expected_bin = np.where(tenure < 30, "<30", np.where(tenure < 90, "30-90", ">=90"))
    assert (one.activity_bin.to_numpy() == expected_bin).all()
    declared = by_unit.loc[one.unit_id]
    assert (one.segment.to_numpy() == declared.plan.to_numpy()).all()
    assert (one.signup_month.to_numpy() == declared.cohort_month.to_numpy()).all()
    expected_sizes = (
        one.groupby(["segment", "activity_bin", "signup_month"]).size().sort_index()
    )
    mart = cohorts[cohorts.experiment_id == "checkout-2025"].set_index(
        ["segment", "activity_bin", "signup_month"]
    )["units"]
    assert mart.sort_index().astype(int).tolist() == expected_sizes.tolist()
    # CATE features: one column per declared covariate / prediction / dimension,
    # in file order; the undeclared column is not read.
    feature_columns = [c for c in features.columns if c.startswith("feature_")]
    assert feature_columns == [
        "feature_num__tenure_days",
        "feature_num__cohort_month",
        "feature_num__churn_score",
        "feature_cat__plan",
    ]
    assert np.allclose(
        one.feature_num__churn_score.to_numpy(),
        by_unit.loc[one.unit_id, "churn_score"].to_numpy(),
        rtol=0,
        atol=0,
    )
    assert not any("ignored" in c for c in features.columns)


BROKEN = (
    HEADER
    + "plan,dimenson,string,,A typo in the role\n"
    + "region,dimension,string,,Not in the units file\n"
    + "tenure_days,covariate,double,,Fine\n"
)
MESSAGES = [
    "seeds/unit_attributes.csv | column_name = plan, role = dimenson | unknown role "
    "'dimenson' | Use one of dimension, covariate, stratum, eligibility, prediction.",
    "seeds/unit_attributes.csv | column_name = region, role = dimension | column "
    "'region' is not a column of raw.units",
    "dbt_project.yml | var segment_columns | column 'channel' is not declared in "
    "seeds/unit_attributes.csv | Add a row for 'channel' to seeds/unit_attributes.csv",
]


def test_registry_problems_are_each_reported_once(tmp_path):
    project, _ = _project(tmp_path, BROKEN, segment_columns="[channel]")
    with pytest.raises(AssertionError) as failure:
        load_and_build(project, tmp_path / "data", tmp_path / "bad.duckdb", tmp_path)
    output = str(failure.value)
    for message in MESSAGES:
        # dbt prints the failing test's rows once in the test's line and once
        # in the summary; no model adds a warning of its own.
        assert message in output, output[-3000:]
    lines = [line for line in output.splitlines() if "region" in line]
    assert len({re.sub(r"^.*?seeds/", "seeds/", line) for line in lines}) == 1, lines
    assert "Warning" not in output
    assert "SKIP relation marts.arm_metrics" in output
    assert "SKIP relation intermediate.int_experiment_unit_features" in output
