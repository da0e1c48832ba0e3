"""Every default of the package, set once.

``VARS`` holds every dbt var of ``dbt_project.yml`` with its type and default;
``dbt_project.yml``'s ``vars:``, the YAML ``config:`` blocks of
``python_models/``, the mart declarations (``xpkit.marts.catalog``), the Spark
path and the README's settings table all follow it, and
``tests/test_settings.py`` fails when one of them differs. The other
constants are defaults that no dbt var sets.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_POWER",
    "DEFAULT_TUNING_UNITS",
    "FRESHNESS_HOURS",
    "MAX_QUARANTINE_SHARE",
    "MULTI_VARIANT_SHARE_RULE",
    "SRM_THRESHOLD",
    "VARS",
    "WEAK_INSTRUMENT_F",
    "Var",
    "default_float",
    "default_str",
]


@dataclass(frozen=True, slots=True)
class Var:
    """A dbt var that a Python mart reads.

    Attributes:
        name: The var's name (also its key in the model's ``config:`` block).
        kind: How a value is read: ``str``, ``int``, ``float``, ``list`` (ids,
            a list or a comma-separated string), ``number_or_empty`` (empty
            means none), ``yaml`` (read by SQL only, passed as given).
        default: The value when the var is not set.
        doc: What it does, for the README's settings table.
    """

    name: str
    kind: str
    default: object
    doc: str


# The significance level of an experiment whose registry row leaves it empty.
DEFAULT_ALPHA = 0.05
# The power of an experiment whose registry row leaves it empty.
DEFAULT_POWER = 0.8
# ``srm_flag`` is ``srm_p_value < SRM_THRESHOLD`` (marts, decisions, report;
# the gate's min_srm_p_value in expectations/config.json is the same number).
SRM_THRESHOLD = 0.001
# Total units (both arms) at which the confidence sequence is narrowest.
DEFAULT_TUNING_UNITS = 10_000.0
# A robust first-stage F below this flags a weak instrument (Staiger-Stock).
WEAK_INSTRUMENT_F = 10.0
# The multi-variant rule: an experiment passes when
# multi_variant_share <= max_multi_variant_share (a share equal to the limit
# is tolerated: the var is the largest tolerated share).
MULTI_VARIANT_SHARE_RULE = "<="
# Gate thresholds (expectations/config.json holds the values the gates read;
# tests/test_settings.py holds them to these).
FRESHNESS_HOURS = 24
MAX_QUARANTINE_SHARE = 0.05

_VARS = (
    Var("raw_schema", "str", "raw", "Schema of the raw tables."),
    Var("raw_exposures_table", "str", "exposures", "The raw exposures table."),
    Var("raw_events_table", "str", "events", "The raw events table."),
    Var("raw_units_table", "str", "units", "The raw units table (optional)."),
    Var(
        "registry_relations",
        "yaml",
        {},
        "As a dbt package: the consumer's seed or model for each registry table.",
    ),
    Var(
        "registry_seeds_enabled",
        "yaml",
        True,
        "Build the project's own registry seeds (false in a consumer project).",
    ),
    Var(
        "multiple_testing_correction",
        "str",
        "holm",
        "Correction within an experiment: holm, bh or none.",
    ),
    Var(
        "correction_families",
        "str",
        "by_role",
        "Families it is applied in: by_role or combined.",
    ),
    Var(
        "min_segment_units",
        "int",
        10,
        "Segment and CATE cells with fewer units in an arm show no figures.",
    ),
    Var(
        "max_days_to_target",
        "float",
        90,
        "A planned experiment needing more days than this is do_not_start.",
    ),
    Var(
        "max_multi_variant_share",
        "float",
        0.01,
        "Largest tolerated share of exposed units that saw several variants "
        "(share <= limit passes); above it the decision is stop.",
    ),
    Var(
        "inconclusive_decision",
        "str",
        "iterate",
        "Decision at the planned sample without a significant primary effect: "
        "iterate or stop.",
    ),
    Var(
        "sequential_experiments",
        "list",
        [],
        "Experiments decided on the always-valid p-value of daily_results.",
    ),
    Var(
        "sequential_tuning_units",
        "float",
        10000,
        "Total units at which the confidence sequence is narrowest.",
    ),
    Var(
        "bayesian_prior_mean",
        "number_or_empty",
        0,
        "Mean of the normal prior on the relative lift.",
    ),
    Var(
        "bayesian_prior_sd",
        "number_or_empty",
        "",
        "Its standard deviation (empty: flat prior).",
    ),
    Var(
        "weak_instrument_f_threshold",
        "float",
        10,
        "A first-stage F below this flags a weak instrument.",
    ),
    Var(
        "eligibility_strata",
        "yaml",
        [],
        "Overrides the declared strata ({column, bins}: quantile groups) "
        "within which P(eligible) is estimated (empty: role stratum of "
        "seeds/unit_attributes.csv).",
    ),
    Var(
        "segment_columns",
        "yaml",
        [],
        "Overrides the columns results are broken down by (empty: role "
        "dimension of seeds/unit_attributes.csv).",
    ),
    Var(
        "events_allowing_negative_values",
        "yaml",
        [],
        "Events whose negative values are legitimate (refunds).",
    ),
    Var(
        "future_tolerance_hours",
        "int",
        24,
        "Timestamps later than the build time plus this are quarantined.",
    ),
    Var(
        "source_freshness_warn_after_hours",
        "int",
        24,
        "dbt source freshness warns when the newest raw row is older than this.",
    ),
    Var(
        "source_freshness_error_after_hours",
        "int",
        72,
        "dbt source freshness fails when the newest raw row is older than this.",
    ),
    Var(
        "incremental_refresh",
        "yaml",
        False,
        "Recompute only recent units (make refresh sets it).",
    ),
    Var(
        "incremental_lookback_hours",
        "int",
        72,
        "How far before the previous watermark a refresh recomputes.",
    ),
    Var(
        "check_duplicates",
        "yaml",
        True,
        "Quarantine exact duplicate raw rows.",
    ),
    Var(
        "as_of",
        "str",
        "",
        "The build's notion of now (UTC; empty: XP_AS_OF, else when dbt started).",
    ),
    Var("assignment_salt", "str", "", "Salt of the planned experiments' hash."),
    Var(
        "assignment_eligibility_column",
        "str",
        "",
        "Column whose false units are not assigned (empty: the declared "
        "eligibility column).",
    ),
    Var(
        "assignment_strata_column",
        "str",
        "",
        "Declared column to stratify the assignment by (empty: none).",
    ),
    Var(
        "activity_bin_edges",
        "yaml",
        [],
        "Overrides the cohort bin edges (empty: the bins of the first "
        "declared covariate with bins).",
    ),
    Var(
        "cate_experiment_id",
        "str",
        "",
        "The experiment whose CATE is estimated (empty: the largest).",
    ),
    Var(
        "cate_min_units",
        "int",
        1000,
        "Fewest analysed units for an experiment to be picked for CATE.",
    ),
    Var(
        "cate_max_units",
        "int",
        200000,
        "Larger experiments are subsampled to this many units for CATE.",
    ),
)

VARS: dict[str, Var] = {var.name: var for var in _VARS}


def default_float(name: str) -> float:
    """The default of the numeric var ``name``."""
    value = VARS[name].default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"var {name} has no numeric default: {value!r}")
    return float(value)


def default_str(name: str) -> str:
    """The default of the text var ``name``."""
    return str(VARS[name].default)


README_START = "<!-- settings table: generated by `make settings-table` -->"
README_END = "<!-- end of settings table -->"


def readme_table() -> str:
    """The README's settings table: every dbt var, its default and its use."""
    import json

    lines = ["| var | default | what it sets |", "|---|---|---|"]
    for var in VARS.values():
        default = json.dumps(var.default) if var.default != "" else '""'
        lines.append(f"| `{var.name}` | `{default}` | {var.doc} |")
    return "\n".join(lines)


def write_readme_table(readme: str) -> str:
    """``readme`` with the text between the table's markers replaced by
    ``readme_table()``.

    Raises:
        ValueError: When the markers are missing.
    """
    if README_START not in readme or README_END not in readme:
        raise ValueError(
            f"README.md lacks the markers {README_START!r} and {README_END!r}; "
            "add them around the settings table"
        )
    head, rest = readme.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_START}\n{readme_table()}\n{README_END}{tail}"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(write_readme_table(path.read_text(encoding="utf-8")), "utf-8")
    print(f"wrote the settings table of {path}")
