"""End-to-end: build real warehouses with dbt and prove every figure of
marts.arm_metrics and marts.assignment_balance against the independent pandas
and scipy oracle in oracle.py, computed from the raw tables."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from custom_dataset import CUSTOM_SEEDS, write_custom_dataset
from oracle import Registry, arm_metrics, assignment_balance
from warehouse import BIN, REPO, copy_project, load_and_build, read_tables, run

pytestmark = pytest.mark.warehouse

ARM_KEYS = ["experiment_id", "variant", "metric_id"]
ARM_FLOATS = [
    "mean",
    "variance",
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
]
BALANCE_KEYS = ["experiment_id", "variant"]
BALANCE_FLOATS = ["expected_share", "observed_share", "srm_chi2", "srm_p_value"]
# The feature models name one column per declared unit attribute.
FEATURE_PREFIXES = ("feature_num__", "feature_cat__")


def assert_frames_match(actual, expected, keys, floats, exact, rtol=1e-9):
    """Same key set; exact equality on `exact`; floats within rtol (nulls equal)."""
    merged = expected.merge(
        actual, on=keys, how="outer", suffixes=("_expected", "_actual"), indicator=True
    )
    unmatched = merged[merged["_merge"] != "both"]
    assert unmatched.empty, f"rows on one side only:\n{unmatched[keys + ['_merge']]}"
    problems = []
    for column in exact:
        want, got = merged[f"{column}_expected"], merged[f"{column}_actual"]
        for i in np.flatnonzero(~(want.isna() & got.isna()) & (want != got)):
            problems.append((column, merged.loc[i, keys].tolist(), want[i], got[i]))
    for column in floats:
        if f"{column}_expected" not in merged:
            continue
        want = pd.to_numeric(merged[f"{column}_expected"]).astype(float).to_numpy()
        got = pd.to_numeric(merged[f"{column}_actual"]).astype(float).to_numpy()
        same_null = np.isnan(want) == np.isnan(got)
        close = np.isclose(got, want, rtol=rtol, atol=1e-12) | (
            np.isnan(want) & np.isnan(got)
        )
        for i in np.flatnonzero(~(same_null & close)):
            problems.append((column, merged.loc[i, keys].tolist(), want[i], got[i]))
    assert not problems, "mismatches (column, key, expected, actual):\n" + "\n".join(
        map(str, problems[:40])
    )


def test_demo_arm_metrics_equal_oracle(demo_warehouse):
    raw = read_tables(demo_warehouse["database"], "raw.exposures", "raw.events")
    raw = {"exposures": raw["raw.exposures"], "events": raw["raw.events"]}
    registry = Registry.from_seeds(REPO / "seeds")
    expected = arm_metrics(raw, registry, demo_warehouse["now"])
    actual = read_tables(demo_warehouse["database"], "marts.arm_metrics")[
        "marts.arm_metrics"
    ]
    assert len(actual) == len(expected) > 20
    assert_frames_match(actual, expected, ARM_KEYS, ARM_FLOATS, exact=["n_units"])


def test_demo_arm_metrics_by_segment_equal_oracle(demo_warehouse):
    tables = read_tables(
        demo_warehouse["database"],
        "raw.exposures",
        "raw.events",
        "raw.units",
        "marts.arm_metrics_by_segment",
    )
    raw = {name: tables[f"raw.{name}"] for name in ("exposures", "events", "units")}
    registry = Registry.from_seeds(REPO / "seeds")
    expected = arm_metrics(raw, registry, demo_warehouse["now"], "segment")
    actual = tables["marts.arm_metrics_by_segment"]
    assert set(actual.segment_dimension) == {"segment"}
    assert {"High-Value Recent", "technical", "vip"} <= set(actual.segment_value)
    assert len(actual) == len(expected) > 50
    assert_frames_match(
        actual,
        expected,
        [*ARM_KEYS, "segment_dimension", "segment_value"],
        ARM_FLOATS,
        exact=["n_units"],
    )


def test_demo_assignment_balance_equals_scipy(demo_warehouse):
    raw = read_tables(demo_warehouse["database"], "raw.exposures")
    registry = Registry.from_seeds(REPO / "seeds")
    expected = assignment_balance(
        {"exposures": raw["raw.exposures"]}, registry, demo_warehouse["now"]
    )
    actual = read_tables(demo_warehouse["database"], "marts.assignment_balance")[
        "marts.assignment_balance"
    ]
    assert_frames_match(
        actual, expected, BALANCE_KEYS, BALANCE_FLOATS, exact=["units", "srm_flag"]
    )


# How the generator names each kind of mess it injects -> the pipeline's reason code.
PLANTED_REASONS = {
    "exposures": {
        "duplicate": "duplicate_row",
        "unknown_variant": "unknown_variant",
        "unknown_experiment": "unknown_experiment",
        "null_timestamp": "invalid_timestamp",
        "out_of_range": ("before_experiment_start", "after_experiment_end"),
    },
    "events": {
        "duplicate": "duplicate_row",
        "null_unit_id": "missing_unit_id",
        "empty_unit_id": "missing_unit_id",
        "null_timestamp": "invalid_timestamp",
        "future_timestamp": "future_timestamp",
        "negative_value": "negative_value",
    },
}


def test_demo_rows_reconcile_and_injected_mess_is_quarantined(demo_warehouse):
    tables = read_tables(
        demo_warehouse["database"],
        "raw.exposures",
        "raw.events",
        "quarantine.quarantine_exposures",
        "quarantine.quarantine_events",
        "intermediate.int_exposures_classified",
        "intermediate.int_events_classified",
    )
    for name, mapping in PLANTED_REASONS.items():
        classified = tables[f"intermediate.int_{name}_classified"]
        quarantined = tables[f"quarantine.quarantine_{name}"]
        staged = classified[classified.reason_code.isna()]
        assert len(tables[f"raw.{name}"]) == len(staged) + len(quarantined)
        assert quarantined.reason.notna().all()
        expected: dict[str, int] = {}
        for kind, count in demo_warehouse["truth"]["bad_rows"][name].items():
            codes = mapping[kind]
            key = codes if isinstance(codes, str) else "|".join(codes)
            expected[key] = expected.get(key, 0) + count
        observed = quarantined.reason_code.value_counts().to_dict()
        merged = {
            key: sum(observed.get(code, 0) for code in key.split("|"))
            for key in expected
        }
        assert merged == expected
        assert sum(observed.values()) == sum(expected.values()), observed


def test_demo_units_per_arm_match_planted_truth(demo_warehouse):
    balance = read_tables(demo_warehouse["database"], "marts.assignment_balance")[
        "marts.assignment_balance"
    ].set_index(["experiment_id", "variant"])
    health = read_tables(demo_warehouse["database"], "marts.experiment_health")[
        "marts.experiment_health"
    ].set_index("experiment_id")
    for experiment_id, planted in demo_warehouse["truth"]["experiments"].items():
        for variant, units in planted["analysable_units_per_variant"].items():
            assert balance.loc[(experiment_id, variant), "units"] == units
        row = health.loc[experiment_id]
        assert row.multi_variant_units == planted["n_multi_variant_units"]
        assert row.units_analysed + row.multi_variant_units == row.units_exposed


def test_demo_dbt_docs_describe_every_model_and_column(demo_warehouse):
    work = demo_warehouse["work"]
    run(
        [
            str(BIN / "dbt"),
            "docs",
            "generate",
            "--profiles-dir",
            ".",
        ],
        REPO,
        demo_warehouse["database"],
        work,
    )
    manifest = json.loads((work / "target" / "manifest.json").read_text())
    catalog = json.loads((work / "target" / "catalog.json").read_text())
    # Unit attribute columns are the user's own (any columns of raw.units); the
    # models that carry them through say so in their description.
    unit_attributes = {
        name.lower()
        for name in catalog["sources"]["source.experimentation.raw.units"]["columns"]
    } - {"unit_id"}
    passthrough = {
        "model.experimentation.stg_raw__units",
        "model.experimentation.quarantine_units",
    }
    feature_models = {
        "model.experimentation.int_experiment_unit_features",
        "model.experimentation.int_cate_units",
    }
    missing = []
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] not in ("model", "seed") or node["package_name"] != (
            "experimentation"
        ):
            continue
        if not node["description"].strip():
            missing.append(unique_id)
        built = catalog["nodes"].get(unique_id, {}).get("columns", {})
        documented = {
            name.lower()
            for name, column in node["columns"].items()
            if column["description"].strip()
        }
        exempt = unit_attributes if unique_id in passthrough else set()
        if unique_id in feature_models:
            # One feature column per declared attribute (feature_num__age, ...):
            # named by seeds/unit_attributes.csv, described by the model.
            texts = [node["description"]]
            texts += [column["description"] for column in node["columns"].values()]
            assert any("feature_num__" in text for text in texts), unique_id
            exempt = {c.lower() for c in built if c.startswith(FEATURE_PREFIXES)}
        missing += [
            f"{unique_id}.{c}" for c in built if c.lower() not in documented | exempt
        ]
    assert not missing, f"undocumented models or columns: {missing}"


@pytest.fixture(scope="session")
def custom_dataset(tmp_path_factory):
    work = tmp_path_factory.mktemp("custom")
    seeds = work / "registry"
    seeds.mkdir()
    for name, text in CUSTOM_SEEDS.items():
        (seeds / name).write_text(text)
    write_custom_dataset(work / "data")
    return work


def test_own_data_and_registry_build_and_equal_oracle(custom_dataset, tmp_path):
    project = copy_project(tmp_path / "project", custom_dataset / "registry")
    database = tmp_path / "own.duckdb"
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    load_and_build(project, custom_dataset / "data", database, tmp_path)
    tables = read_tables(
        database,
        "raw.exposures",
        "raw.events",
        "marts.arm_metrics",
        "marts.assignment_balance",
    )
    raw = {"exposures": tables["raw.exposures"], "events": tables["raw.events"]}
    registry = Registry.from_seeds(custom_dataset / "registry")
    expected = arm_metrics(raw, registry, now)
    assert set(expected.experiment_id) == {"checkout-2025", "pricing ab"}
    assert (expected.n_units > 50).all()
    assert_frames_match(
        tables["marts.arm_metrics"], expected, ARM_KEYS, ARM_FLOATS, exact=["n_units"]
    )
    assert_frames_match(
        tables["marts.assignment_balance"],
        assignment_balance(raw, registry, now),
        BALANCE_KEYS,
        BALANCE_FLOATS,
        exact=["units", "srm_flag"],
    )


@pytest.mark.parametrize(
    ("seed_file", "old", "new", "message"),
    [
        (
            "experiments.csv",
            "completed,2025-03-01,2025-03-08,old",
            "completed,2025-03-01,2025-03-08,legacy",
            "seeds/experiments.csv | experiment_id = checkout-2025 | control_variant 'legacy'",
        ),
        (
            "metrics.csv",
            "aov,Average order value,,ratio,revenue,orders",
            "aov,Average order value,,ratio,,orders",
            "seeds/metrics.csv | metric_id = aov | a ratio metric needs a numerator_metric_id",
        ),
        (
            "metrics.csv",
            "page_views,Page views,view,count",
            "page_views,Page views,view,distinct",
            "seeds/metrics.csv | metric_id = page_views | unknown aggregation 'distinct'",
        ),
        (
            "experiment_variants.csv",
            "pricing ab,p2,false,1",
            "pricing ab,p2,false,1\npricing ab,p2,false,1",
            "seeds/experiment_variants.csv | experiment_id = pricing ab, variant = p2 | "
            "the pair appears on 2 rows",
        ),
    ],
)
def test_invalid_registry_fails_build_naming_the_row(
    custom_dataset, tmp_path, seed_file, old, new, message
):
    seeds = tmp_path / "registry"
    shutil.copytree(custom_dataset / "registry", seeds)
    text = (seeds / seed_file).read_text()
    assert old in text
    (seeds / seed_file).write_text(text.replace(old, new))
    project = copy_project(tmp_path / "project", seeds)
    with pytest.raises(AssertionError) as failure:
        load_and_build(
            project, custom_dataset / "data", tmp_path / "bad.duckdb", tmp_path
        )
    output = str(failure.value)
    assert message in output
    assert "SKIP relation marts.arm_metrics" in output
