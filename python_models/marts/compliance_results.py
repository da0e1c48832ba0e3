"""Non-compliance results: ITT, complier effect (Wald / 2SLS), per-protocol and
as-treated side by side, first-stage F, and the inverse-probability-of-
eligibility weighted figures. Thin: reads arm_metrics_by_compliance and the
registry, calls xpkit.stats.iv."""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.compliance_results import compliance_results

    return compliance_results(
        dbt.ref("arm_metrics_by_compliance").to_arrow_table().to_pandas(),
        dbt.ref("stg_registry__experiments").to_arrow_table().to_pandas(),
        weak_f=float(dbt.config.get("weak_instrument_f_threshold")),
    )
