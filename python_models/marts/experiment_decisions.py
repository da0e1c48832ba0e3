"""One decision per registered experiment (scale, iterate, stop, do_not_start,
keep_running) from pre-registered rules with thresholds from dbt vars. Thin:
reads the result marts, calls xpkit.marts.experiment_decisions."""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.experiment_decisions import DECLARATION

    # dbt reads the refs and config keys from literal calls: they are listed
    # here, and tests/marts/test_declarations.py holds them to DECLARATION.
    return DECLARATION.run(
        {
            "stg_registry__experiments": dbt.ref("stg_registry__experiments"),
            "stg_registry__experiment_metrics": dbt.ref(
                "stg_registry__experiment_metrics"
            ),
            "experiment_results": dbt.ref("experiment_results"),
            "segment_results": dbt.ref("segment_results"),
            "assignment_balance": dbt.ref("assignment_balance"),
            "experiment_health": dbt.ref("experiment_health"),
            "experiment_power": dbt.ref("experiment_power"),
            "daily_results": dbt.ref("daily_results"),
        },
        {
            "max_days_to_target": dbt.config.get("max_days_to_target"),
            "max_multi_variant_share": dbt.config.get("max_multi_variant_share"),
            "inconclusive_decision": dbt.config.get("inconclusive_decision"),
            "sequential_experiments": dbt.config.get("sequential_experiments"),
            "as_of": dbt.config.get("as_of"),
        },
    )
