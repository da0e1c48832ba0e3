"""Non-compliance results: ITT, complier effect (Wald / 2SLS), per-protocol and
as-treated side by side, first-stage F, and the inverse-probability-of-
eligibility weighted figures. Thin: reads arm_metrics_by_compliance and the
registry, calls xpkit.stats.iv."""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.compliance_results import DECLARATION

    # dbt reads the refs and config keys from literal calls: they are listed
    # here, and tests/marts/test_declarations.py holds them to DECLARATION.
    return DECLARATION.run(
        {
            "arm_metrics_by_compliance": dbt.ref("arm_metrics_by_compliance"),
            "stg_registry__experiments": dbt.ref("stg_registry__experiments"),
        },
        {
            "weak_instrument_f_threshold": dbt.config.get(
                "weak_instrument_f_threshold"
            ),
        },
    )
