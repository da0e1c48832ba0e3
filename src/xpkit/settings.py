"""Every default of the package, set once.

``VARS`` holds the dbt vars the Python marts read, with their type and default;
``dbt_project.yml``'s ``vars:``, the YAML ``config:`` blocks of
``python_models/``, the mart declarations (``xpkit.marts.catalog``), the Spark
path and the README's settings table all follow it, and
``tests/python/test_declarations.py`` fails when one of them differs. The other
constants are defaults that no dbt var sets.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_POWER",
    "DEFAULT_TUNING_UNITS",
    "SRM_THRESHOLD",
    "VARS",
    "WEAK_INSTRUMENT_F",
    "Var",
]


@dataclass(frozen=True, slots=True)
class Var:
    """A dbt var that a Python mart reads.

    Attributes:
        name: The var's name (also its key in the model's ``config:`` block).
        kind: How a value is read: ``str``, ``int``, ``float``, ``list`` (ids,
            a list or a comma-separated string), ``number_or_empty`` (empty
            means none).
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
# ``srm_flag`` is ``srm_p_value < SRM_THRESHOLD``.
SRM_THRESHOLD = 0.001
# Total units (both arms) at which the confidence sequence is narrowest.
DEFAULT_TUNING_UNITS = 10_000.0
# A robust first-stage F below this flags a weak instrument (Staiger-Stock).
WEAK_INSTRUMENT_F = 10.0

_VARS = (
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
        "min_segment_units",
        "int",
        10,
        "Segment cells with fewer units in an arm show no figures.",
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
        "Largest share of exposed units that saw several variants; above it "
        "(share > limit) the decision is stop.",
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
        "weak_instrument_f_threshold",
        "float",
        10,
        "A first-stage F below this flags a weak instrument.",
    ),
    Var(
        "as_of",
        "str",
        "",
        "The build's notion of now (UTC; empty: XP_AS_OF, else when dbt started).",
    ),
)

VARS: dict[str, Var] = {var.name: var for var in _VARS}
