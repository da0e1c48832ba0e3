"""marts.planned_assignments and marts.planned_assignment_balance on the demo
warehouse, against an independent Python implementation of the scheme
(docs/methodology.md, "Assignment of planned experiments"): hashlib's md5 for
the bucket, the registry CSVs for the arms' ranges, pandas for the eligible
units, scipy for the balance test. A second build on a copy of the warehouse
with half of raw.units removed (and one stratified by segment) shows that a
unit's arm does not depend on the other units present. These builds clear the
registered population rules (demo E003 is limited to its 30 recruiters,
tests/warehouse/test_population_rules.py) so that the scheme is checked on
every one of the 57,736 eligible units."""

from __future__ import annotations

import hashlib
import math
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest
from oracle import Registry
from scipy import stats
from warehouse import BIN, REPO, read_tables, run

pytestmark = pytest.mark.warehouse


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def arm_ranges(registry: Registry, experiment_id: str) -> list[tuple[str, int, int]]:
    """(variant, bucket_low, bucket_high): control first, then by name, each
    a share of [0, 10000) proportional to its weight."""
    arms = registry.variants[registry.variants.experiment_id == experiment_id].copy()
    arms["is_control"] = arms["is_control"].str.lower() == "true"
    arms = arms[arms.allocation_weight > 0]
    arms = arms.sort_values(["is_control", "variant"], ascending=[False, True])
    total = arms.allocation_weight.sum()
    cumulative = np.concatenate([[0.0], np.cumsum(arms.allocation_weight) / total])
    bounds = [round(10000 * c) for c in cumulative]
    return [
        (variant, bounds[i], bounds[i + 1]) for i, variant in enumerate(arms.variant)
    ]


def arm_of(bucket: int, ranges: list[tuple[str, int, int]]) -> str:
    (variant,) = [v for v, low, high in ranges if low <= bucket < high]
    return variant


def eligible_units(units: pd.DataFrame) -> pd.Series:
    """Usable raw.units rows (non-blank id, exact copies once, no conflicting
    versions) whose eligible flag is not false."""
    frame = units.copy()
    frame["unit_id"] = frame["unit_id"].astype("string")
    frame = frame[frame.unit_id.notna() & (frame.unit_id.str.strip() != "")]
    frame = frame.drop_duplicates()
    frame = frame[frame.unit_id.map(frame.unit_id.value_counts()) == 1]
    if "eligible" in frame.columns:
        frame = frame[frame.eligible.astype("boolean").fillna(True).astype(bool)]
    return frame.set_index("unit_id")


def expected_unstratified(units, registry, experiment_id, salt=""):
    ranges = arm_ranges(registry, experiment_id)
    rows = []
    for unit_id in units.index:
        bucket = int(md5_hex(f"{salt}{experiment_id}:{unit_id}")[:8], 16) % 10000
        rows.append((unit_id, bucket, arm_of(bucket, ranges)))
    return pd.DataFrame(rows, columns=["unit_id", "hash_bucket", "variant"])


def expected_stratified(units, registry, experiment_id, column):
    """Within each stratum, units ranked by md5 (then id) and dealt to the
    arms: rank r (0-based) of n gets bucket floor((r + 0.5) * 10000 / n)."""
    ranges = arm_ranges(registry, experiment_id)
    frame = pd.DataFrame(
        {
            "unit_id": units.index,
            "stratum": units[column].astype("string").fillna("(missing)").to_numpy(),
        }
    )
    frame["hash"] = [md5_hex(f"{experiment_id}:{u}") for u in frame.unit_id]
    rows = []
    for stratum, group in frame.groupby("stratum"):
        ordered = group.sort_values(["hash", "unit_id"])
        n = len(ordered)
        for r, unit_id in enumerate(ordered.unit_id):
            bucket = math.floor((r + 0.5) * 10000 / n)
            rows.append((unit_id, stratum, bucket, arm_of(bucket, ranges)))
    return pd.DataFrame(
        rows, columns=["unit_id", "stratum", "assignment_bucket", "variant"]
    )


@pytest.fixture(scope="module")
def planned(demo_warehouse, tmp_path_factory):
    """The demo's planned assignments rebuilt without population rules."""
    _, database = rebuild(
        demo_warehouse, tmp_path_factory.mktemp("planned_all_units"), None, None
    )
    tables = read_tables(
        database,
        "raw.units",
        "marts.planned_assignments",
        "marts.planned_assignment_balance",
    )
    registry = Registry.from_seeds(REPO / "seeds")
    return tables, registry


def rebuild(demo_warehouse, tmp_path, keep_sql: str | None, variables: str | None):
    """A copy of the demo warehouse, raw.units cut to `keep_sql` rows and the
    registry's population rules cleared, with the planned-assignment models
    rebuilt (optionally with --vars)."""
    database = tmp_path / "copy.duckdb"
    shutil.copy2(demo_warehouse["database"], database)
    with duckdb.connect(str(database)) as con:
        con.execute("update registry.experiments set population_rule = null")
        if keep_sql:
            con.execute(f"delete from raw.units where not ({keep_sql})")
    command = [
        str(BIN / "dbt"),
        "run",
        "--profiles-dir",
        ".",
        "--select",
        "stg_raw__units planned_assignments int_planned_arms_counted "
        "planned_assignment_balance",
    ]
    if variables:
        command += ["--vars", variables]
    run(command, REPO, database, tmp_path, {"XP_AS_OF": "2024-11-01 12:00:00"})
    return read_tables(database, "raw.units", "marts.planned_assignments"), database


def test_planned_assignments_equal_python_md5_buckets(planned):
    tables, registry = planned
    assigned = tables["marts.planned_assignments"]
    planned_ids = registry.experiments.loc[
        registry.experiments.status == "planned", "experiment_id"
    ]
    assert set(assigned.experiment_id) == set(planned_ids) == {"E003"}
    units = eligible_units(tables["raw.units"])
    # The demo's non-eligible users exist and are left out.
    assert (tables["raw.units"].eligible == False).sum() > 1000  # noqa: E712
    for experiment_id in planned_ids:
        expected = expected_unstratified(units, registry, experiment_id)
        got = assigned[assigned.experiment_id == experiment_id]
        merged = expected.merge(
            got, on="unit_id", how="outer", suffixes=("_py", "_sql"), indicator=True
        )
        assert (merged["_merge"] == "both").all(), "different units assigned"
        assert len(merged) == len(units) > 50_000
        assert (merged.hash_bucket_py == merged.hash_bucket_sql).all()
        assert (merged.hash_bucket_sql == merged.assignment_bucket).all()
        assert (merged.variant_py == merged.variant_sql).all()
        assert (got.assignment_method == "hash_bucket").all()
        assert got.stratum.isna().all()


def test_planned_assignment_shares_and_balance(planned):
    tables, registry = planned
    assigned = tables["marts.planned_assignments"]
    balance = tables["marts.planned_assignment_balance"].set_index(
        ["experiment_id", "variant"]
    )
    for experiment_id, group in assigned.groupby("experiment_id"):
        arms = registry.variants[registry.variants.experiment_id == experiment_id]
        weights = arms.set_index("variant").allocation_weight
        shares = weights / weights.sum()
        counts = group.variant.value_counts().reindex(weights.index, fill_value=0)
        n = len(group)
        for variant, share in shares.items():
            # Within 4 binomial standard errors of the registered share.
            tolerance = 4 * math.sqrt(share * (1 - share) / n)
            assert abs(counts[variant] / n - share) < tolerance
            row = balance.loc[(experiment_id, variant)]
            assert row.units == counts[variant]
            assert row.expected_share == pytest.approx(share, rel=1e-12)
        chi2, p_value = stats.chisquare(counts.to_numpy(), shares.to_numpy() * n)
        rows = balance.loc[experiment_id]
        assert np.allclose(rows.srm_chi2, chi2, rtol=1e-9)
        assert np.allclose(rows.srm_p_value, p_value, rtol=1e-9)
        assert not rows.srm_flag.any()


def test_planned_assignments_do_not_depend_on_other_units(
    planned, demo_warehouse, tmp_path
):
    tables, _ = planned
    full = tables["marts.planned_assignments"]
    # A second build with only the units whose id ends in an even digit.
    cut, _ = rebuild(
        demo_warehouse,
        tmp_path,
        "regexp_matches(cast(unit_id as varchar), '[02468]$')",
        None,
    )
    part = cut["marts.planned_assignments"]
    assert 10_000 < len(part) < len(full) * 0.7
    merged = part.merge(full, on=["experiment_id", "unit_id"], suffixes=("", "_full"))
    assert len(merged) == len(part)
    assert (merged.variant == merged.variant_full).all()
    assert (merged.hash_bucket == merged.hash_bucket_full).all()


def test_stratified_planned_assignments_are_dealt_within_strata(
    planned, demo_warehouse, tmp_path
):
    _, registry = planned
    built, _ = rebuild(
        demo_warehouse, tmp_path, None, "{assignment_strata_column: segment}"
    )
    got = built["marts.planned_assignments"]
    units = eligible_units(built["raw.units"])
    assert (got.assignment_method == "stratified_deal").all()
    assert (got.strata_column == "segment").all()
    for experiment_id, group in got.groupby("experiment_id"):
        expected = expected_stratified(units, registry, experiment_id, "segment")
        merged = expected.merge(group, on="unit_id", suffixes=("_py", "_sql"))
        assert len(merged) == len(expected) == len(group)
        assert (merged.stratum_py == merged.stratum_sql).all()
        assert (merged.assignment_bucket_py == merged.assignment_bucket_sql).all()
        assert (merged.variant_py == merged.variant_sql).all()
        # The property: in every stratum each arm is within one unit of
        # stratum size x share.
        arms = registry.variants[registry.variants.experiment_id == experiment_id]
        shares = arms.set_index("variant").allocation_weight
        shares = shares / shares.sum()
        strata = group.groupby("stratum")
        assert strata.ngroups >= 5
        for _, stratum in strata:
            counts = stratum.variant.value_counts().reindex(shares.index, fill_value=0)
            assert (np.abs(counts - len(stratum) * shares) <= 1).all()
