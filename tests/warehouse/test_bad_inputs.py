"""The bad-input catalogue (issue 5): each case loads bad raw data or a bad
registry and checks the outcome: no crash, exact reconciliation (raw rows =
staged + quarantined, per table and per case) and a clear flag or message.

dbt build costs seconds per warehouse, so most cases live side by side in ONE
shared warehouse, each in its own experiment id, unit-id namespace ("slug:n")
or event name; each section below registers its case's rows next to the test
that checks them. Only what cannot share a warehouse gets its own build: an
empty events table with no units file, a broken registry (the build must fail),
and the privacy builds (a salted build, and a bad salt that must stop dbt).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from scipy import stats
from warehouse import BIN, copy_project, read_tables, run

pytestmark = pytest.mark.warehouse

AS_OF = "2025-06-30 12:00:00"  # future = later than 2025-07-01 12:00:00
DBT_VARS = (
    f'{{as_of: "{AS_OF}", '
    """events_allowing_negative_values: [ev_refund, "ev_o'refund"]}"""
)
SALT = "catalogue-salt-5f0c9a2e7b1d"
EXPOSURE_REASONS = {
    "missing_unit_id",
    "missing_experiment_id",
    "missing_variant",
    "invalid_timestamp",
    "future_timestamp",
    "unknown_experiment",
    "planned_experiment",
    "unknown_variant",
    "before_experiment_start",
    "after_experiment_end",
    "duplicate_row",
    "outside_population",
}
EVENT_REASONS = {
    "missing_unit_id",
    "missing_event_name",
    "invalid_timestamp",
    "future_timestamp",
    "invalid_value",
    "negative_value",
    "duplicate_row",
}
UNIT_REASONS = {"missing_unit_id", "conflicting_unit_attributes", "duplicate_row"}
# A phrase of each code's human-readable reason (macros/quarantine_reason.sql).
REASON_PHRASES = {
    "missing_unit_id": "unit_id is null or empty",
    "missing_experiment_id": "experiment_id is null or empty",
    "missing_variant": "variant is null or empty",
    "missing_event_name": "event_name is null or empty",
    "invalid_timestamp": "not a valid timestamp, infinite, after the year 9999",
    "future_timestamp": "later than the build time",
    "invalid_value": "not a number",
    "negative_value": "events_allowing_negative_values",
    "unknown_experiment": "not registered in seeds/experiments.csv",
    "planned_experiment": "status is planned",
    "unknown_variant": "not registered for this experiment",
    "before_experiment_start": "before the experiment start_date",
    "after_experiment_end": "after the experiment end_date",
    "duplicate_row": "Exact duplicate",
    "outside_population": "outside the experiment's target population",
    "conflicting_unit_attributes": "different attributes",
}

EXPERIMENT_COLUMNS = [
    "experiment_id",
    "experiment_name",
    "domain",
    "owner",
    "hypothesis",
    "status",
    "start_date",
    "end_date",
    "control_variant",
    "alpha",
    "power",
    "mde_relative",
    "analysis_window_days",
    "cuped_lookback_days",
    "population_rule",
]
METRIC_COLUMNS = [
    "metric_id",
    "metric_name",
    "event_name",
    "aggregation",
    "numerator_metric_id",
    "denominator_metric_id",
    "desired_direction",
    "cap_value",
    "description",
]
EXPOSURE_COLUMNS = ["experiment_id", "unit_id", "variant", "exposed_at", "platform"]
EVENT_COLUMNS = ["unit_id", "event_name", "event_at", "value", "session_id", "note"]
UNIT_COLUMNS = ["unit_id", "segment", "country"]

Cell = str | float | int | None


def csv_cell(value: Cell) -> str:
    """None -> an unquoted empty field (NULL to the loader); text is always
    quoted, so '' stays an empty string; numbers are written as given."""
    if value is None:
        return ""
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    return repr(value)


def write_csv(path: Path, columns: list[str], rows: list[tuple[Cell, ...]]) -> None:
    lines = [",".join(columns)]
    lines += [",".join(csv_cell(cell) for cell in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class Dataset:
    """Registry seeds and raw rows, collected case by case."""

    def __init__(self) -> None:
        self.experiments: list[dict[str, Cell]] = []
        self.variants: list[tuple[Cell, ...]] = []
        self.metrics: list[dict[str, Cell]] = []
        self.experiment_metrics: list[tuple[Cell, ...]] = []
        self.exposures: list[tuple[Cell, ...]] = []
        self.events: list[tuple[Cell, ...]] = []
        self.units: list[tuple[Cell, ...]] = []

    def experiment(
        self,
        experiment_id: str,
        arms: tuple[tuple[str, float], ...] = (("c", 0.5), ("t", 0.5)),
        metrics: tuple[str, ...] = ("generic_rate",),
        *,
        status: str = "running",
        start: str = "2025-06-01",
        end: str = "",
        window: int = 7,
        population: str = "",
    ) -> None:
        """Register an experiment; the first arm is the control, the first
        metric the primary."""
        self.experiments.append(
            {
                "experiment_id": experiment_id,
                "experiment_name": f"Catalogue case {experiment_id}",
                "domain": "catalogue",
                "owner": "data_quality",
                "hypothesis": "bad input is handled",
                "status": status,
                "start_date": start,
                "end_date": end,
                "control_variant": arms[0][0],
                "alpha": 0.05,
                "power": 0.8,
                "mde_relative": 0.1,
                "analysis_window_days": window,
                "cuped_lookback_days": 0,
                "population_rule": population,
            }
        )
        for position, (variant, weight) in enumerate(arms):
            control = "true" if position == 0 else "false"
            self.variants.append((experiment_id, variant, control, weight))
        for position, metric_id in enumerate(metrics):
            role = "primary" if position == 0 else "secondary"
            self.experiment_metrics.append((experiment_id, metric_id, role, None))

    def metric(
        self,
        metric_id: str,
        event_name: str,
        aggregation: str,
        numerator: str = "",
        denominator: str = "",
    ) -> None:
        self.metrics.append(
            {
                "metric_id": metric_id,
                "metric_name": metric_id,
                "event_name": event_name,
                "aggregation": aggregation,
                "numerator_metric_id": numerator,
                "denominator_metric_id": denominator,
                "desired_direction": "increase",
                "cap_value": "",
                "description": f"Catalogue metric {metric_id}",
            }
        )

    def expose(self, experiment_id: Cell, unit_id: Cell, variant: Cell, at: Cell):
        self.exposures.append((experiment_id, unit_id, variant, at, "web"))

    def event(self, unit_id: Cell, event_name: Cell, at: Cell, value: Cell = None):
        n = len(self.events)
        note = 'free text, with "quotes"' if n % 3 == 0 else None
        self.events.append((unit_id, event_name, at, value, f"s-{n}", note))

    def write(self, registry: Path, data: Path, *, units: bool = True) -> None:
        registry.mkdir(parents=True)
        data.mkdir(parents=True)
        write_csv(
            registry / "experiments.csv",
            EXPERIMENT_COLUMNS,
            [tuple(row[c] for c in EXPERIMENT_COLUMNS) for row in self.experiments],
        )
        write_csv(
            registry / "experiment_variants.csv",
            ["experiment_id", "variant", "is_control", "allocation_weight"],
            self.variants,
        )
        write_csv(
            registry / "metrics.csv",
            METRIC_COLUMNS,
            [tuple(row[c] for c in METRIC_COLUMNS) for row in self.metrics],
        )
        write_csv(
            registry / "experiment_metrics.csv",
            ["experiment_id", "metric_id", "role", "guardrail_tolerance"],
            self.experiment_metrics,
        )
        write_csv(data / "exposures.csv", EXPOSURE_COLUMNS, self.exposures)
        write_csv(data / "events.csv", EVENT_COLUMNS, self.events)
        if units:
            write_csv(data / "units.csv", UNIT_COLUMNS, self.units)
            # The segment breakdowns read the declared dimension.
            write_csv(
                registry / "unit_attributes.csv",
                ["column_name", "role", "data_type", "bins", "description"],
                [("segment", "dimension", "string", None, "Segment")],
            )


SHARED = Dataset()
SHARED.metric("generic_rate", "ev_generic", "binary")
DAY = "2025-06-05 10:00:00"  # a plain exposure time inside every open experiment


# ------------------------------------------------------------------- builds

SHARED_TABLES = (
    "raw.exposures",
    "raw.events",
    "raw.units",
    "intermediate.int_exposures_classified",
    "intermediate.int_events_classified",
    "staging.stg_raw__units",
    "quarantine.quarantine_exposures",
    "quarantine.quarantine_events",
    "quarantine.quarantine_units",
    "intermediate.int_assignments_resolved",
    "marts.arm_metrics",
    "marts.assignment_balance",
    "marts.experiment_health",
)


def build(
    project: Path,
    data: Path,
    work: Path,
    monkeypatch: pytest.MonkeyPatch,
    salt: str | None = None,
) -> tuple[Path, str]:
    """Load `data` and `dbt build` it as of AS_OF, salted or not."""
    if salt is None:
        monkeypatch.delenv("XP_UNIT_ID_SALT", raising=False)
    else:
        monkeypatch.setenv("XP_UNIT_ID_SALT", salt)
    monkeypatch.delenv("XP_AS_OF", raising=False)
    database = work / "warehouse.duckdb"
    load = [str(BIN / "python"), "-m", "xpkit.io.load", str(data)]
    run([*load, "--database", str(database)], project, database, work)
    dbt = [str(BIN / "dbt"), "build", "--profiles-dir", ".", "--vars", DBT_VARS]
    return database, run(dbt, project, database, work)


@pytest.fixture(scope="session")
def shared_inputs(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("bad_inputs")
    SHARED.write(work / "registry", work / "data")
    return work


@pytest.fixture(scope="session")
def shared(shared_inputs, tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The shared warehouse, built once; every table the cases look at."""
    work = tmp_path_factory.mktemp("shared_warehouse")
    project = copy_project(work / "project", shared_inputs / "registry")
    with pytest.MonkeyPatch.context() as monkeypatch:
        database, log = build(project, shared_inputs / "data", work, monkeypatch)
    tables = read_tables(database, *SHARED_TABLES)
    return {"database": database, "log": log, **tables}


TABLES = {
    "exposures": ("intermediate.int_exposures_classified", "quarantine_exposures"),
    "events": ("intermediate.int_events_classified", "quarantine_events"),
    "units": ("staging.stg_raw__units", "quarantine_units"),
}
Where = Callable[[pd.DataFrame], pd.Series]


def experiment_is(experiment_id: str) -> Where:
    return lambda frame: frame["experiment_id"] == experiment_id


def units_of(slug: str) -> Where:
    return lambda frame: frame["unit_id"].str.startswith(f"{slug}:", na=False)


def event_is(event_name: str) -> Where:
    return lambda frame: frame["event_name"] == event_name


def outcome(warehouse: dict, table: str, where: Where) -> Counter:
    """Reason code -> rows for the case's rows of raw `table` (None = staged),
    after checking raw = staged + quarantined for those rows and that each
    quarantined row carries the readable reason of its code."""
    classified_name, quarantine_name = TABLES[table]
    raw = warehouse[f"raw.{table}"]
    classified = warehouse[classified_name]
    quarantined = warehouse[f"quarantine.{quarantine_name}"]
    raw_rows = int(where(raw).fillna(False).sum())
    staged = classified[where(classified).fillna(False) & classified.reason_code.isna()]
    mine = quarantined[where(quarantined).fillna(False)]
    assert raw_rows == len(staged) + len(mine) > 0
    for code, reason in zip(mine.reason_code, mine.reason, strict=True):
        assert REASON_PHRASES[code] in reason
    counts = Counter(mine.reason_code)
    if len(staged):
        counts[None] = len(staged)
    return counts


def arm(warehouse: dict, experiment_id: str, variant: str, metric_id: str):
    rows = warehouse["marts.arm_metrics"]
    chosen = rows[
        (rows.experiment_id == experiment_id)
        & (rows.variant == variant)
        & (rows.metric_id == metric_id)
    ]
    assert len(chosen) == 1, (experiment_id, variant, metric_id)
    return chosen.iloc[0]


def balance(warehouse: dict, experiment_id: str) -> pd.DataFrame:
    rows = warehouse["marts.assignment_balance"]
    return rows[rows.experiment_id == experiment_id].set_index("variant")


def health(warehouse: dict, experiment_id: str):
    rows = warehouse["marts.experiment_health"]
    return rows.set_index("experiment_id").loc[experiment_id]


def assignment(warehouse: dict, experiment_id: str, unit_id: str):
    rows = warehouse["intermediate.int_assignments_resolved"]
    chosen = rows[(rows.experiment_id == experiment_id) & (rows.unit_id == unit_id)]
    assert len(chosen) == 1
    return chosen.iloc[0]


# ------------------------------------------------- the whole shared warehouse


def test_shared_warehouse_reconciles_every_raw_table(shared):
    for table, (classified, quarantine) in TABLES.items():
        raw = len(shared[f"raw.{table}"])
        staged = int(shared[classified].reason_code.isna().sum())
        quarantined = len(shared[f"quarantine.{quarantine}"])
        assert raw == staged + quarantined > 0, table
    assert "row_counts_reconcile" in shared["log"]
    assert "ERROR=0" in shared["log"]


def test_shared_warehouse_uses_every_reason_code_with_its_text(shared):
    for table, expected in (
        ("exposures", EXPOSURE_REASONS),
        ("events", EVENT_REASONS),
        ("units", UNIT_REASONS),
    ):
        quarantined = shared[f"quarantine.quarantine_{table}"]
        assert set(quarantined.reason_code) == expected, table
        assert not quarantined.reason.str.contains("Unknown reason code").any()


# ------------------------------------------------- exposures: row-level codes

SHARED.experiment("cx-missing-unit")
for _unit in (None, "", "   "):
    SHARED.expose("cx-missing-unit", _unit, "c", DAY)
SHARED.expose("cx-missing-unit", "mu:ok", "c", DAY)


def test_exposure_without_unit_id_is_quarantined(shared):
    counts = outcome(shared, "exposures", experiment_is("cx-missing-unit"))
    assert counts == {"missing_unit_id": 3, None: 1}


for _experiment in (None, "", "  "):
    SHARED.expose(_experiment, f"mexp:{len(SHARED.exposures)}", "c", DAY)


def test_exposure_without_experiment_id_is_quarantined(shared):
    counts = outcome(shared, "exposures", units_of("mexp"))
    assert counts == {"missing_experiment_id": 3}


SHARED.experiment("cx-missing-variant")
SHARED.expose("cx-missing-variant", "mvar:1", None, DAY)
SHARED.expose("cx-missing-variant", "mvar:2", "", DAY)
SHARED.expose("cx-missing-variant", "mvar:3", "t", DAY)


def test_exposure_without_variant_is_quarantined(shared):
    counts = outcome(shared, "exposures", units_of("mvar"))
    assert counts == {"missing_variant": 2, None: 1}


SHARED.experiment("cx-bad-time")
for _n, _at in enumerate(
    [
        "not a time",
        "",
        None,
        "2025-13-45 10:00:00",
        "infinity",
        "-infinity",
        "1969-12-31 23:59:59",
        "1900-01-01",
        "1970-01-01 00:00:00",  # the Unix epoch: a placeholder for "unset"
        "epoch",
        "12000-01-01",
    ]
):
    SHARED.expose("cx-bad-time", f"btime:{_n}", "c", _at)
SHARED.expose("cx-bad-time", "btime:epoch", "c", "1970-01-01 00:00:01")
SHARED.expose("cx-bad-time", "btime:ok", "t", DAY)


def test_exposure_with_null_unparseable_or_absurd_time_is_invalid(shared):
    counts = outcome(shared, "exposures", units_of("btime"))
    # One second after the epoch is a valid time, but before the start date.
    assert counts == {"invalid_timestamp": 11, "before_experiment_start": 1, None: 1}
    raw_text = shared["quarantine.quarantine_exposures"].exposed_at_raw
    assert {"infinity", "-infinity", "not a time"} <= set(raw_text.dropna())


SHARED.experiment("cx-future")
SHARED.expose("cx-future", "future:1", "c", "2025-07-01 12:00:01")
SHARED.expose("cx-future", "future:2", "c", "2030-01-01 00:00:00")
SHARED.expose("cx-future", "future:3", "t", "2025-07-01 11:00:00")  # tolerated


def test_exposure_beyond_build_time_plus_tolerance_is_future(shared):
    counts = outcome(shared, "exposures", units_of("future"))
    assert counts == {"future_timestamp": 2, None: 1}
    assert health(shared, "cx-future").units_analysed == 1


# ----------------------------------------------- exposures: registry checks

SHARED.expose("cx-not-registered", "unexp:1", "c", DAY)
SHARED.expose("cx-not-registered", "unexp:2", "t", DAY)
SHARED.expose(" cx-future", "unexp:3", "c", DAY)  # ids are matched exactly


def test_exposure_of_unregistered_experiment_is_quarantined(shared):
    counts = outcome(shared, "exposures", units_of("unexp"))
    assert counts == {"unknown_experiment": 3}


SHARED.experiment("cx-unknown-variant")
SHARED.expose("cx-unknown-variant", "unvar:1", "treatment_b", DAY)
SHARED.expose("cx-unknown-variant", "unvar:2", "T", DAY)  # variants are exact
SHARED.expose("cx-unknown-variant", "unvar:3", "c", DAY)
SHARED.expose("cx-unknown-variant", "unvar:4", "t", DAY)


def test_variant_in_data_but_not_in_registry_is_quarantined(shared):
    counts = outcome(shared, "exposures", units_of("unvar"))
    assert counts == {"unknown_variant": 2, None: 2}
    arms = balance(shared, "cx-unknown-variant")
    assert sorted(arms.index) == ["c", "t"]
    assert arms.units.to_dict() == {"c": 1, "t": 1}


# A target population (issue 19 item 1): exposed units outside the rule, or
# with no raw.units row, are quarantined; the other experiments, which
# register no rule, keep units that raw.units lacks.
SHARED.experiment("cx-population", population="segment = 'inside'")
SHARED.units += [("pop:1", "inside", "FR"), ("pop:2", "outside", "FR")]
SHARED.units += [("pop:4", None, "FR")]
SHARED.expose("cx-population", "pop:1", "c", DAY)
SHARED.expose("cx-population", "pop:2", "t", DAY)
SHARED.expose("cx-population", "pop:3", "t", DAY)  # not in raw.units
SHARED.expose("cx-population", "pop:4", "c", DAY)  # null segment


def test_exposed_units_outside_the_population_are_quarantined(shared):
    counts = outcome(shared, "exposures", units_of("pop"))
    assert counts == {"outside_population": 3, None: 1}
    quarantined = shared["quarantine.quarantine_exposures"]
    outside = quarantined[quarantined.reason_code == "outside_population"]
    assert set(outside.unit_id) == {"pop:2", "pop:3", "pop:4"}
    units = balance(shared, "cx-population").units.to_dict()
    assert units.get("c") == 1 and units.get("t", 0) == 0
    # Experiments without a rule keep units that raw.units does not list.
    assert outcome(shared, "exposures", units_of("unvar"))[None] == 2


SHARED.experiment("cx-variant-elsewhere")
SHARED.expose("cx-variant-elsewhere", "velse:1", "a", DAY)  # an arm of cx-weights
SHARED.expose("cx-variant-elsewhere", "velse:2", "c", DAY)


def test_variant_of_another_experiment_is_unknown_here(shared):
    counts = outcome(shared, "exposures", units_of("velse"))
    assert counts == {"unknown_variant": 1, None: 1}


SHARED.experiment("cx-planned", status="planned", start="")
SHARED.expose("cx-planned", "plan:1", "c", DAY)
SHARED.expose("cx-planned", "plan:2", "t", DAY)
SHARED.experiment("cx-planned-dated", status="planned", start="2025-06-01")
SHARED.expose("cx-planned-dated", "plan:3", "c", DAY)


def test_exposure_of_planned_experiment_is_quarantined_even_within_dates(shared):
    counts = outcome(shared, "exposures", units_of("plan"))
    assert counts == {"planned_experiment": 3}
    for experiment_id in ("cx-planned", "cx-planned-dated"):
        row = health(shared, experiment_id)
        assert row.units_exposed == 0
        assert row.exposure_rows_quarantined == row.exposure_rows > 0
        assert arm(shared, experiment_id, "c", "generic_rate").n_units == 0


SHARED.experiment("cx-dates", status="completed", start="2025-06-10", end="2025-06-15")
SHARED.expose("cx-dates", "dates:1", "c", "2025-06-09 23:59:59")
SHARED.expose("cx-dates", "dates:2", "c", "2025-06-10 00:00:00")
SHARED.expose("cx-dates", "dates:3", "t", "2025-06-15 23:59:59")
SHARED.expose("cx-dates", "dates:4", "t", "2025-06-16 00:00:00")


def test_exposure_before_start_date_is_quarantined(shared):
    counts = outcome(shared, "exposures", units_of("dates"))
    assert counts["before_experiment_start"] == 1
    assert assignment(shared, "cx-dates", "dates:2").variant == "c"


def test_exposure_after_end_date_is_quarantined_end_date_inclusive(shared):
    counts = outcome(shared, "exposures", units_of("dates"))
    assert counts == {"before_experiment_start": 1, "after_experiment_end": 1, None: 2}
    assert assignment(shared, "cx-dates", "dates:3").variant == "t"


# ------------------------------------------------------------- duplicates

SHARED.metric("dup_count", "ev_dup", "count")
SHARED.metric("dup_sum", "ev_dup", "sum")
SHARED.experiment("cx-dup", metrics=("dup_count", "dup_sum"))
for _ in range(3):
    SHARED.expose("cx-dup", "dup:1", "c", DAY)
    SHARED.event("dup:1", "ev_dup", "2025-06-06 10:00:00", 1)
SHARED.expose("cx-dup", "dup:2", "t", DAY)
SHARED.expose("cx-dup", "dup:2", "t", "2025-06-05 11:00:00")
SHARED.event("dup:1", "ev_dup", "2025-06-07 10:00:00", 1)
SHARED.event("dup:1", "ev_dup", "2025-06-07 10:00:00", 2)  # differs: kept


def test_exact_duplicate_exposures_keep_one_copy(shared):
    counts = outcome(shared, "exposures", units_of("dup"))
    assert counts == {"duplicate_row": 2, None: 3}
    assert assignment(shared, "cx-dup", "dup:1").exposure_count == 1
    assert assignment(shared, "cx-dup", "dup:2").exposure_count == 2


def test_exact_duplicate_events_count_once(shared):
    counts = outcome(shared, "events", event_is("ev_dup"))
    assert counts == {"duplicate_row": 2, None: 3}
    assert arm(shared, "cx-dup", "c", "dup_count").metric_sum == 3
    assert arm(shared, "cx-dup", "c", "dup_sum").metric_sum == 4


# ------------------------------------------------------ events: row-level

for _unit in (None, "", "  "):
    SHARED.event(_unit, "ev_missing_unit", DAY)
SHARED.event("emu:ok", "ev_missing_unit", DAY)


def test_event_without_unit_id_is_quarantined(shared):
    counts = outcome(shared, "events", event_is("ev_missing_unit"))
    assert counts == {"missing_unit_id": 3, None: 1}


for _name in (None, "", "  "):
    SHARED.event(f"noname:{len(SHARED.events)}", _name, DAY)


def test_event_without_event_name_is_quarantined(shared):
    counts = outcome(shared, "events", units_of("noname"))
    assert counts == {"missing_event_name": 3}


for _at in (
    "yesterday",
    None,
    "infinity",
    "-infinity",
    "1969-07-20 20:17:00",
    "0001-01-01 00:00:00",
    "1970-01-01 00:00:00",
):
    SHARED.event(f"etime:{len(SHARED.events)}", "ev_bad_time", _at)
SHARED.event("etime:ok", "ev_bad_time", "1970-01-01 00:00:01")


def test_event_with_null_unparseable_or_absurd_time_is_invalid(shared):
    counts = outcome(shared, "events", event_is("ev_bad_time"))
    assert counts == {"invalid_timestamp": 7, None: 1}


SHARED.event("efuture:1", "ev_future", "2025-07-02 00:00:00")
SHARED.event("efuture:2", "ev_future", "2025-07-01 11:59:59")


def test_event_beyond_build_time_plus_tolerance_is_future(shared):
    counts = outcome(shared, "events", event_is("ev_future"))
    assert counts == {"future_timestamp": 1, None: 1}


for _value in ("abc", "NaN", "inf", "-Infinity", "1,5", "1e200"):
    SHARED.event(f"evalue:{len(SHARED.events)}", "ev_bad_value", DAY, _value)
for _value in ("", "   ", None, "1e100", "-0.5"):
    SHARED.event(f"evalue:{len(SHARED.events)}", "ev_bad_value", DAY, _value)


def test_event_value_not_a_finite_number_is_invalid(shared):
    counts = outcome(shared, "events", event_is("ev_bad_value"))
    assert counts == {"invalid_value": 6, None: 5}


def test_blank_event_value_is_missing_not_invalid(shared):
    events = shared["intermediate.int_events_classified"]
    staged = events[(events.event_name == "ev_bad_value") & events.reason_code.isna()]
    blank = staged[staged.value.isna()]
    assert sorted(blank.value_raw.fillna("<null>")) == ["", "   ", "<null>"]


SHARED.metric("neg_spend", "ev_spend", "sum")
SHARED.metric("neg_refunds", "ev_refund", "sum")
SHARED.metric("neg_count", "ev_count_only", "count")
SHARED.metric("neg_quoted", "ev_o'refund", "sum")
SHARED.experiment(
    "cx-negative", metrics=("neg_spend", "neg_refunds", "neg_count", "neg_quoted")
)
SHARED.expose("cx-negative", "neg:1", "c", DAY)
SHARED.expose("cx-negative", "neg:2", "t", DAY)
SHARED.event("neg:1", "ev_spend", "2025-06-06 10:00:00", 10)
SHARED.event("neg:1", "ev_spend", "2025-06-06 11:00:00", -5)  # forbidden
SHARED.event("neg:1", "ev_refund", "2025-06-06 12:00:00", -5)  # allowed by var
SHARED.event("neg:1", "ev_o'refund", "2025-06-06 12:00:00", -2)  # allowed by var
SHARED.event("neg:1", "ev_count_only", "2025-06-06 13:00:00", -5)  # value unused
SHARED.event("neg:2", "ev_unused", "2025-06-06 10:00:00", -3)  # no metric
SHARED.event("neg:2", "ev_spend", "2025-06-06 10:00:00", 0)


def test_negative_value_is_quarantined_only_where_a_sum_metric_forbids_it(shared):
    counts = outcome(shared, "events", units_of("neg"))
    assert counts == {"negative_value": 1, None: 6}
    assert arm(shared, "cx-negative", "c", "neg_spend").metric_sum == 10
    assert arm(shared, "cx-negative", "c", "neg_refunds").metric_sum == -5
    assert arm(shared, "cx-negative", "c", "neg_quoted").metric_sum == -2
    assert arm(shared, "cx-negative", "c", "neg_count").metric_sum == 1
    assert arm(shared, "cx-negative", "t", "neg_spend").metric_sum == 0


# ------------------------------------------------------------------ units

SHARED.units += [
    ("unit:1", "a", "FR"),
    ("unit:1", "a", "FR"),  # exact repeat
    ("unit:2", "a", "FR"),
    ("unit:2", "b", "FR"),  # conflicting versions
    ("unit:3", "c", None),
    (None, "a", "DE"),
    ("", "a", "DE"),
    ("unit:ü ✓", "b", "JP"),
]


def test_unit_rows_missing_conflicting_or_repeated_are_quarantined(shared):
    counts = outcome(shared, "units", units_of("unit"))
    assert counts == {"conflicting_unit_attributes": 2, "duplicate_row": 1, None: 3}
    quarantined = shared["quarantine.quarantine_units"]
    assert quarantined.unit_id.isna().sum() + (quarantined.unit_id == "").sum() == 2
    assert set(quarantined[quarantined.unit_id.isna()].reason_code) == {
        "missing_unit_id"
    }
    assert {"segment", "country"} <= set(quarantined.columns)


# ----------------------------------------------------------- awkward ids

IDS_EXPERIMENT = 'it\'s "quoted" — ü 実験'
IDS_CONTROL, IDS_TREATMENT = 'contrôle "A"', "variant, B ✓"
SHARED.metric("ünï_rate", 'clicked "it" ✓', "binary")
SHARED.experiment(
    IDS_EXPERIMENT, ((IDS_CONTROL, 1), (IDS_TREATMENT, 1)), metrics=("ünï_rate",)
)
for _unit, _variant, _clicked in (
    ('ids:O\'Brien "Bob"', IDS_CONTROL, True),
    ("ids: padded ", IDS_CONTROL, False),
    ("ids:padded", IDS_TREATMENT, True),  # not the same unit as ' padded '
    ("ids:日本-ユーザー", IDS_TREATMENT, True),
    ("ids:emoji 🎉\ttab", IDS_TREATMENT, False),
):
    SHARED.expose(IDS_EXPERIMENT, _unit, _variant, DAY)
    if _clicked:
        SHARED.event(_unit, 'clicked "it" ✓', "2025-06-06 10:00:00")


def test_ids_with_quotes_spaces_and_unicode_are_kept_exactly(shared):
    counts = outcome(shared, "exposures", units_of("ids"))
    assert counts == {None: 5}
    control = arm(shared, IDS_EXPERIMENT, IDS_CONTROL, "ünï_rate")
    treatment = arm(shared, IDS_EXPERIMENT, IDS_TREATMENT, "ünï_rate")
    assert (control.n_units, control.metric_sum) == (2, 1)
    assert (treatment.n_units, treatment.metric_sum) == (3, 2)
    units = set(shared["intermediate.int_assignments_resolved"].unit_id)
    assert {"ids: padded ", "ids:padded", "ids:emoji 🎉\ttab"} <= units


# ------------------------------------------------- experiments without data

SHARED.metric("ne_rate", "ev_ne", "binary")
SHARED.experiment("cx-no-exposures", metrics=("ne_rate",))
SHARED.event("never:1", "ev_ne", "2025-06-06 10:00:00")
SHARED.event("never:2", "ev_ne", "2025-06-06 10:00:00")


def test_experiment_with_no_exposures_has_zero_units_and_null_figures(shared):
    for variant in ("c", "t"):
        row = arm(shared, "cx-no-exposures", variant, "ne_rate")
        assert (row.n_units, row.metric_sum) == (0, 0)
        assert pd.isna(row["mean"]) and pd.isna(row.variance)
    arms = balance(shared, "cx-no-exposures")
    assert arms.units.tolist() == [0, 0]
    assert arms.srm_p_value.isna().all() and arms.srm_error_message.notna().all()
    assert health(shared, "cx-no-exposures").units_exposed == 0


def test_events_of_units_never_exposed_are_usable_but_unused(shared):
    assert outcome(shared, "events", units_of("never")) == {None: 2}


SHARED.metric("ro_rate", "ev_ro_never", "binary")
SHARED.metric("ro_sum", "ev_ro_never", "sum")
SHARED.experiment(
    "cx-registry-only",
    (("a", 1), ("b", 1), ("c", 1)),
    metrics=("ro_rate", "ro_sum"),
    status="completed",
    start="2025-05-01",
    end="2025-05-10",
)


def test_registered_experiment_without_any_data_gets_empty_rows(shared):
    rows = shared["marts.arm_metrics"]
    rows = rows[rows.experiment_id == "cx-registry-only"]
    assert len(rows) == 6
    assert (rows.n_units == 0).all() and (rows.metric_sum == 0).all()
    assert rows["mean"].isna().all()
    arms = balance(shared, "cx-registry-only")
    assert arms.units.tolist() == [0, 0, 0]
    assert arms.srm_error_message.notna().all()
    row = health(shared, "cx-registry-only")
    assert (row.units_exposed, row.exposure_rows) == (0, 0)


SHARED.metric("sa_count", "ev_sa", "count")
SHARED.experiment("cx-single-arm", (("only", 1),), metrics=("sa_count",))
for _n in range(3):
    SHARED.expose("cx-single-arm", f"single:{_n}", "only", DAY)
SHARED.event("single:0", "ev_sa", "2025-06-06 10:00:00")
SHARED.event("single:0", "ev_sa", "2025-06-06 11:00:00")


def test_single_arm_experiment_has_one_arm_and_no_srm_test(shared):
    assert outcome(shared, "exposures", units_of("single")) == {None: 3}
    row = arm(shared, "cx-single-arm", "only", "sa_count")
    assert (row.n_units, row.metric_sum) == (3, 2)
    arms = balance(shared, "cx-single-arm")
    assert len(arms) == 1
    only = arms.loc["only"]
    assert (only.expected_share, only.observed_share) == (1.0, 1.0)
    assert pd.isna(only.srm_p_value)
    assert "arm" in only.srm_error_message


# ------------------------------------------------------------- odd metrics

SHARED.metric("nev_rate", "ev_nothing", "binary")
SHARED.metric("nev_sum", "ev_nothing", "sum")
SHARED.experiment("cx-no-events", metrics=("nev_rate", "nev_sum"))
for _n, _variant in enumerate("cctt"):
    SHARED.expose("cx-no-events", f"noev:{_n}", _variant, DAY)


def test_metric_without_events_is_zero_for_every_unit(shared):
    for variant in ("c", "t"):
        for metric_id in ("nev_rate", "nev_sum"):
            row = arm(shared, "cx-no-events", variant, metric_id)
            assert (row.n_units, row.metric_sum, row["mean"]) == (2, 0, 0)
            assert row.variance == 0


SHARED.metric("zero_sum", "ev_zero", "sum")
SHARED.metric("zero_count", "ev_zero", "count")
SHARED.experiment("cx-all-zero", metrics=("zero_sum", "zero_count"))
for _n, _variant in enumerate("cctt"):
    SHARED.expose("cx-all-zero", f"zero:{_n}", _variant, DAY)
    SHARED.event(f"zero:{_n}", "ev_zero", "2025-06-06 10:00:00", 0)


def test_all_zero_metric_has_zero_mean_and_variance(shared):
    assert outcome(shared, "events", event_is("ev_zero")) == {None: 4}
    for variant in ("c", "t"):
        total = arm(shared, "cx-all-zero", variant, "zero_sum")
        assert (total.n_units, total.metric_sum, total["mean"]) == (2, 0, 0)
        assert total.variance == 0
        count = arm(shared, "cx-all-zero", variant, "zero_count")
        assert (count["mean"], count.variance) == (1, 0)


SHARED.metric("rz_num", "ev_rz_num", "sum")
SHARED.metric("rz_den", "ev_rz_den", "count")
SHARED.metric("rz_ratio", "", "ratio", numerator="rz_num", denominator="rz_den")
SHARED.experiment("cx-ratio-zero", metrics=("rz_ratio", "rz_num"))
for _n, _variant in enumerate("cct"):
    SHARED.expose("cx-ratio-zero", f"ratio:{_n}", _variant, DAY)
SHARED.event("ratio:0", "ev_rz_num", "2025-06-06 10:00:00", 5)


def test_ratio_with_zero_denominator_and_one_unit_arm_give_null_figures(shared):
    for variant in ("c", "t"):
        row = arm(shared, "cx-ratio-zero", variant, "rz_ratio")
        assert row.denominator_sum == 0
        assert pd.isna(row["mean"]) and pd.isna(row.variance)
    control = arm(shared, "cx-ratio-zero", "c", "rz_num")
    assert (control["mean"], control.variance) == (2.5, 12.5)
    single = arm(shared, "cx-ratio-zero", "t", "rz_num")
    assert single.n_units == 1 and single["mean"] == 0
    assert pd.isna(single.variance)


HUGE_VALUES = {  # unit -> (variant, its event values)
    "huge:c1": ("c", [1e15]),
    "huge:c2": ("c", [2.5e15]),
    "huge:c3": ("c", [4e15, 5e14]),
    "huge:t1": ("t", [1e15 + 1]),
    "huge:t2": ("t", [9e15]),
    "huge:t3": ("t", []),
}
SHARED.metric("huge_sum", "ev_huge", "sum")
SHARED.experiment("cx-huge", metrics=("huge_sum",))
for _unit, (_variant, _values) in HUGE_VALUES.items():
    SHARED.expose("cx-huge", _unit, _variant, DAY)
    for _hour, _value in enumerate(_values):
        SHARED.event(_unit, "ev_huge", f"2025-06-06 1{_hour}:00:00", _value)


def test_huge_values_sum_without_overflow_or_precision_loss(shared):
    assert outcome(shared, "events", event_is("ev_huge")) == {None: 6}
    for variant in ("c", "t"):
        values = [
            sum(Fraction(v) for v in vals)
            for chosen, vals in HUGE_VALUES.values()
            if chosen == variant
        ]
        n = len(values)
        mean = sum(values) / n
        expected = {
            "metric_sum": sum(values),
            "metric_sum_squares": sum(v * v for v in values),
            "mean": mean,
            "variance": sum((v - mean) ** 2 for v in values) / (n - 1),
        }
        row = arm(shared, "cx-huge", variant, "huge_sum")
        for column, want in expected.items():
            assert math.isfinite(row[column])
            assert row[column] == pytest.approx(float(want), rel=1e-9), column


# --------------------------------------------------------- registry shapes

SHARED.experiment("cx-weights", (("a", 2), ("b", 1), ("c", 1)))
for _variant, _units in (("a", 10), ("b", 3), ("c", 5)):
    for _n in range(_units):
        SHARED.expose("cx-weights", f"weights:{_variant}{_n}", _variant, DAY)


def test_allocation_weights_not_summing_to_one_are_normalised(shared):
    arms = balance(shared, "cx-weights").loc[["a", "b", "c"]]
    assert arms.expected_share.tolist() == pytest.approx([0.5, 0.25, 0.25])
    assert arms.units.tolist() == [10, 3, 5]
    chi2, p_value = stats.chisquare([10, 3, 5], f_exp=[9, 4.5, 4.5])
    assert arms.srm_chi2.tolist() == pytest.approx([chi2] * 3, rel=1e-9)
    assert arms.srm_p_value.tolist() == pytest.approx([p_value] * 3, rel=1e-9)
    assert arms.srm_error_message.isna().all()


SHARED.experiment("cx-crossover")
SHARED.expose("cx-crossover", "cross:1", "c", DAY)
SHARED.expose("cx-crossover", "cross:1", "t", "2025-06-06 10:00:00")
SHARED.expose("cx-crossover", "cross:2", "c", DAY)
SHARED.expose("cx-crossover", "cross:3", "t", DAY)


def test_unit_seen_in_two_variants_is_excluded_and_counted(shared):
    assert outcome(shared, "exposures", units_of("cross")) == {None: 4}
    row = health(shared, "cx-crossover")
    assert (row.units_exposed, row.units_analysed, row.multi_variant_units) == (
        3,
        2,
        1,
    )
    assert assignment(shared, "cx-crossover", "cross:1").is_multi_variant
    assert balance(shared, "cx-crossover").units.to_dict() == {"c": 1, "t": 1}


# --------------------------------------------------------- raw table shapes

SHARED.metric("tz_rate", "ev_tz", "binary")
SHARED.experiment(
    "cx-tz",
    metrics=("tz_rate",),
    status="completed",
    start="2025-06-10",
    end="2025-06-12",
    window=1,
)
SHARED.expose("cx-tz", "tz:1", "c", "2025-06-10T01:00:00+03:00")  # 06-09 22:00 UTC
SHARED.expose("cx-tz", "tz:2", "c", "2025-06-09T22:00:00-03:00")  # 06-10 01:00 UTC
SHARED.expose("cx-tz", "tz:3", "t", "2025-06-12T23:30:00-01:00")  # 06-13 00:30 UTC
SHARED.expose("cx-tz", "tz:4", "t", "2025-06-13T00:30:00+01:00")  # 06-12 23:30 UTC
SHARED.expose("cx-tz", "tz:5", "t", "2025-06-11T05:00:00Z")
SHARED.event("tz:2", "ev_tz", "2025-06-11T03:59:00+03:00")  # 06-11 00:59: in window
SHARED.event("tz:4", "ev_tz", "2025-06-13T01:45:00+02:00")  # 06-12 23:45: in window
SHARED.event("tz:5", "ev_tz", "2025-06-11T10:00:00+10:00")  # 06-11 00:00: before fe


def test_timestamps_with_time_zones_are_compared_in_utc(shared):
    counts = outcome(shared, "exposures", units_of("tz"))
    assert counts == {"before_experiment_start": 1, "after_experiment_end": 1, None: 3}
    first = assignment(shared, "cx-tz", "tz:2").first_exposed_at
    assert first == pd.Timestamp("2025-06-10 01:00:00")
    control, treatment = (arm(shared, "cx-tz", v, "tz_rate") for v in ("c", "t"))
    assert (control.n_units, control.metric_sum) == (1, 1)
    assert (treatment.n_units, treatment.metric_sum) == (2, 1)


def test_extra_raw_columns_are_kept_in_raw_and_ignored(shared):
    assert {"session_id", "note"} <= set(shared["raw.events"].columns)
    assert "platform" in shared["raw.exposures"].columns
    assert "note" not in shared["intermediate.int_events_classified"].columns
    assert "platform" not in shared["quarantine.quarantine_exposures"].columns


# --------------------------------------------- empty events, no units file

EMPTY = Dataset()
EMPTY.metric("ee_count", "ev_x", "count")
EMPTY.metric("ee_sum", "ev_x", "sum")
EMPTY.metric("ee_ratio", "", "ratio", numerator="ee_sum", denominator="ee_count")
EMPTY.experiment("cx-empty-events", metrics=("ee_count", "ee_sum", "ee_ratio"))
for _n, _variant in enumerate("ctt"):
    EMPTY.expose("cx-empty-events", f"empty:{_n}", _variant, DAY)
# Every value parses, so raw.exposures.exposed_at is a TIMESTAMP column here.
EMPTY.expose("cx-empty-events", "empty:inf", "c", "infinity")
EMPTY.expose("cx-empty-events", "empty:old", "c", "1900-01-01 00:00:00")


@pytest.fixture(scope="session")
def empty_events(tmp_path_factory):
    """Exposures, a header-only events file and no units file."""
    work = tmp_path_factory.mktemp("empty_events")
    EMPTY.write(work / "registry", work / "data", units=False)
    project = copy_project(work / "project", work / "registry")
    with pytest.MonkeyPatch.context() as monkeypatch:
        database, log = build(project, work / "data", work, monkeypatch)
    return {"log": log, **read_tables(database, *SHARED_TABLES)}


def test_empty_events_table_gives_zero_metrics(empty_events):
    assert len(empty_events["raw.events"]) == 0
    assert len(empty_events["quarantine.quarantine_events"]) == 0
    assert len(empty_events["intermediate.int_events_classified"]) == 0
    for variant, n_units in (("c", 1), ("t", 2)):
        count = arm(empty_events, "cx-empty-events", variant, "ee_count")
        assert (count.n_units, count.metric_sum, count["mean"]) == (n_units, 0, 0)
        ratio = arm(empty_events, "cx-empty-events", variant, "ee_ratio")
        assert ratio.denominator_sum == 0 and pd.isna(ratio["mean"])
    assert "ERROR=0" in empty_events["log"]


def test_absent_units_file_gives_empty_units_tables(empty_events):
    assert list(empty_events["raw.units"].columns) == ["unit_id"]
    assert len(empty_events["raw.units"]) == 0
    assert len(empty_events["staging.stg_raw__units"]) == 0
    assert len(empty_events["quarantine.quarantine_units"]) == 0
    counts = outcome(empty_events, "exposures", units_of("empty"))
    assert counts == {"invalid_timestamp": 2, None: 3}


def test_absurd_times_in_a_typed_timestamp_column_are_invalid(empty_events):
    assert str(empty_events["raw.exposures"].exposed_at.dtype).startswith("datetime")
    quarantined = empty_events["quarantine.quarantine_exposures"]
    assert sorted(quarantined.exposed_at_raw) == ["1900-01-01 00:00:00", "infinity"]


# --------------------------------------------------------- a broken registry

BROKEN = Dataset()
BROKEN.metric("rx_rate", "ev_rx", "binary")
BROKEN.metric("rx_rate", "ev_rx", "binary")  # duplicate metric row
BROKEN.experiment("rx", metrics=("rx_rate", "rx_rate"))  # duplicate pair
BROKEN.experiments.append(dict(BROKEN.experiments[0]))  # duplicate experiment
BROKEN.variants.append(("rx", "t", "false", 0.5))  # duplicate variant pair
BROKEN.experiment("ry", (("c", 1), ("t", 0)), metrics=("rx_rate",))
BROKEN.expose("rx", "broken:1", "c", DAY)
BROKEN.event("broken:1", "ev_rx", DAY)


@pytest.fixture(scope="session")
def broken_registry(tmp_path_factory) -> str:
    """The build log of a warehouse whose registry has duplicate rows."""
    work = tmp_path_factory.mktemp("broken_registry")
    BROKEN.write(work / "registry", work / "data", units=False)
    project = copy_project(work / "project", work / "registry")
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        pytest.raises(AssertionError) as failure,
    ):
        build(project, work / "data", work, monkeypatch)
    return str(failure.value)


@pytest.mark.parametrize(
    "message",
    [
        "seeds/experiments.csv | experiment_id = rx | experiment_id appears on 2 rows",
        "seeds/experiment_variants.csv | experiment_id = rx, variant = t | "
        "the pair appears on 2 rows",
        "seeds/metrics.csv | metric_id = rx_rate | metric_id appears on 2 rows",
        "seeds/experiment_metrics.csv | experiment_id = rx, metric_id = rx_rate | "
        "the pair appears on 2 rows",
    ],
)
def test_duplicate_registry_rows_fail_the_build_naming_the_row(
    broken_registry, message
):
    assert message in broken_registry
    assert "SKIP relation marts.arm_metrics" in broken_registry


def test_zero_allocation_weight_fails_the_build_naming_the_row(broken_registry):
    assert (
        "seeds/experiment_variants.csv | experiment_id = ry, variant = t | "
        "variant is empty or allocation_weight is not positive"
    ) in broken_registry


# ------------------------------------------------------------------ privacy


@pytest.fixture(scope="session")
def salted(shared_inputs, tmp_path_factory):
    """The shared inputs built again with XP_UNIT_ID_SALT set."""
    work = tmp_path_factory.mktemp("salted_warehouse")
    project = copy_project(work / "project", shared_inputs / "registry")
    with pytest.MonkeyPatch.context() as monkeypatch:
        database, log = build(
            project, shared_inputs / "data", work, monkeypatch, salt=SALT
        )
    return {"database": database, "log": log, **read_tables(database, *SHARED_TABLES)}


def test_salted_build_gives_identical_marts(shared, salted):
    keys = {
        "marts.arm_metrics": ["experiment_id", "variant", "metric_id"],
        "marts.assignment_balance": ["experiment_id", "variant"],
        "marts.experiment_health": ["experiment_id"],
        "marts.experiment_results": ["experiment_id", "metric_id", "variant"],
    }
    for name, key in keys.items():
        plain = read_tables(shared["database"], name)[name]
        hashed = read_tables(salted["database"], name)[name]
        assert len(plain) > 20, name
        plain = plain.sort_values(key).reset_index(drop=True)
        hashed = hashed.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(plain, hashed, check_exact=False, rtol=1e-12)


def test_salted_build_hashes_unit_ids_consistently_and_keeps_blank_ones(salted):
    raw_ids = set(salted["raw.exposures"].unit_id.dropna())
    hashed = {
        raw: hashlib.sha256((SALT + raw).encode()).hexdigest()
        for raw in raw_ids
        if raw.strip()
    }
    assignments = salted["intermediate.int_assignments_resolved"]
    assert set(assignments.unit_id) <= set(hashed.values())
    assert hashed["ids:日本-ユーザー"] in set(assignments.unit_id)
    counts = salted["quarantine.quarantine_exposures"].reason_code.value_counts()
    assert counts["missing_unit_id"] == 3
    units = salted["staging.stg_raw__units"]
    assert hashlib.sha256(f"{SALT}unit:3".encode()).hexdigest() in set(units.unit_id)


def test_salted_build_exposes_no_raw_unit_id_anywhere(salted):
    raw_ids = set()
    for table in ("raw.exposures", "raw.events", "raw.units"):
        raw_ids |= {i for i in salted[table].unit_id.dropna() if i.strip()}
    assert len(raw_ids) > 50
    leaks = []
    with duckdb.connect(str(salted["database"]), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name from "
            "information_schema.columns where table_schema in "
            "('staging', 'intermediate', 'quarantine', 'marts') "
            "and data_type = 'VARCHAR'"
        ).fetchall()
        assert len({(schema, table) for schema, table, _ in columns}) > 15
        for schema, table, column in columns:
            values = con.execute(
                f'select distinct "{column}" from "{schema}"."{table}"'
            ).fetchall()
            found = {value for (value,) in values} & raw_ids
            leaks += [(schema, table, column, value) for value in found]
    assert not leaks


def test_salt_is_not_stored_in_the_warehouse_nor_printed(salted):
    with duckdb.connect(str(salted["database"]), read_only=True) as con:
        views = con.execute(
            "select schema_name, view_name, sql from duckdb_views() where not internal"
        ).fetchall()
    assert not [view for view in views if SALT in view[2]]
    assert "stg_raw__exposures" not in {view[1] for view in views}  # a table now
    assert SALT.encode() not in Path(salted["database"]).read_bytes()
    assert SALT not in salted["log"]


def test_unsafe_salt_stops_dbt_without_showing_it(shared_inputs, tmp_path):
    project = copy_project(tmp_path / "project", shared_inputs / "registry")
    bad_salt = "it's short"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("XP_UNIT_ID_SALT", bad_salt)
        with pytest.raises(AssertionError) as failure:
            run(
                [str(BIN / "dbt"), "parse", "--profiles-dir", "."],
                project,
                tmp_path / "unused.duckdb",
                tmp_path,
            )
    output = str(failure.value)
    assert "XP_UNIT_ID_SALT must be at least 16 characters" in output
    assert bad_salt not in output
