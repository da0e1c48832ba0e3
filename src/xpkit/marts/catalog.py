"""Every Python mart's declaration, in dependency order (a mart comes after
the marts it reads), as the Spark path computes them."""

from __future__ import annotations

from xpkit.marts import (
    assignment_balance,
    bandit_allocations,
    build_manifest,
    compliance_results,
    daily_results,
    experiment_cate,
    experiment_decisions,
    experiment_meta_analysis,
    experiment_power,
    experiment_results,
    experiment_value,
    segment_results,
)
from xpkit.marts.declaration import MartDeclaration

__all__ = ["MARTS", "by_name"]

MARTS: tuple[MartDeclaration, ...] = (
    assignment_balance.DECLARATION,
    assignment_balance.PLANNED_DECLARATION,
    experiment_results.DECLARATION,
    segment_results.DECLARATION,
    daily_results.DECLARATION,
    bandit_allocations.DECLARATION,
    experiment_power.DECLARATION,
    compliance_results.DECLARATION,
    experiment_cate.DECLARATION,
    experiment_decisions.DECLARATION,
    experiment_meta_analysis.DECLARATION,
    experiment_value.DECLARATION,
    build_manifest.DECLARATION,
)


def by_name(name: str) -> MartDeclaration:
    """The declaration of the mart ``name``.

    Raises:
        KeyError: For a name that is not a Python mart.
    """
    for mart in MARTS:
        if mart.name == name:
            return mart
    raise KeyError(f"{name!r} is not a Python mart; known: {[m.name for m in MARTS]}")
