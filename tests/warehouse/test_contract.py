"""The public output contract: mart names and columns that SQL users, BI tools
and other checks rely on (fixed by the issues; add columns, never rename)."""

from __future__ import annotations

import duckdb
import pytest

pytestmark = pytest.mark.warehouse

CONTRACT = {
    "marts.arm_metrics": "experiment_id variant metric_id n_units mean variance "
    "metric_sum metric_sum_squares covariate_sum covariate_sum_squares "
    "metric_covariate_sum_product denominator_sum denominator_sum_squares "
    "metric_denominator_sum_product",
    "marts.assignment_balance": "experiment_id variant units expected_share "
    "observed_share srm_chi2 srm_p_value srm_flag",
    "marts.experiment_health": "experiment_id multi_variant_units",
    "marts.experiment_results": "experiment_id metric_id variant control_variant "
    "n_control n_treatment mean_control mean_treatment abs_lift abs_ci_low "
    "abs_ci_high rel_lift rel_ci_low rel_ci_high p_value method cuped_abs_lift "
    "cuped_ci_low cuped_ci_high cuped_p_value variance_reduction p_value_adjusted "
    "is_significant direction error_message summary",
    "marts.segment_results": "experiment_id metric_id variant p_value "
    "segment_dimension segment_value segment_srm_p_value",
    "marts.daily_results": "experiment_id metric_id variant exposure_date "
    "abs_ci_low abs_ci_high p_value always_valid_ci_low always_valid_ci_high "
    "always_valid_p_value is_sequential",
    "marts.experiment_power": "experiment_id metric_id required_units_per_arm "
    "current_units share_of_target daily_units projected_days_to_target",
    "marts.experiment_decisions": "experiment_id decision rationale "
    "recommended_action decided_at",
    "marts.experiment_portfolio": "experiment_id experiment_name domain owner status "
    "start_date end_date days_running units srm_flag primary_metric_id "
    "primary_rel_lift primary_p_value decision analysis_summary",
    "marts.build_manifest": "item_type item_name value row_count",
    "marts.compliance_results": "experiment_id metric_id variant control_variant "
    "n_treatment n_control itt itt_ci_low itt_ci_high first_stage first_stage_f "
    "is_weak_instrument cace cace_se cace_ci_low cace_ci_high per_protocol "
    "as_treated ipw_itt ipw_cace warning_message error_message",
    "marts.planned_assignments": "experiment_id unit_id variant hash_bucket",
    "marts.planned_assignment_balance": "experiment_id variant units "
    "expected_share observed_share srm_chi2 srm_p_value srm_flag",
    "marts.experiment_cohorts": "experiment_id segment activity_bin signup_month "
    "units treatment_rate received_treatment_rate mean_pre_metric mean_outcome",
    "marts.experiment_cate": "experiment_id learner output segment activity_bin "
    "budget_share units mean_cate observed_uplift incremental_outcome "
    "random_outcome",
    "quarantine.quarantine_exposures": "reason_code reason",
    "quarantine.quarantine_events": "reason_code reason",
    "quarantine.quarantine_units": "reason_code reason",
}


def test_demo_warehouse_meets_the_output_contract(demo_warehouse):
    with duckdb.connect(str(demo_warehouse["database"]), read_only=True) as con:
        found = {}
        for schema, table, column in con.execute(
            "select table_schema, table_name, column_name "
            "from information_schema.columns"
        ).fetchall():
            found.setdefault(f"{schema}.{table}", set()).add(column)
        problems = []
        for table, columns in CONTRACT.items():
            missing = set(columns.split()) - found.get(table, set())
            if table not in found or missing:
                problems.append((table, sorted(missing)))
                continue
            rows = con.execute(f"select count(*) from {table}").fetchone()[0]
            if rows == 0 and not table.startswith("quarantine.quarantine_units"):
                problems.append((table, "empty"))
    assert not problems, problems
