"""One decision per registered experiment (scale, iterate, stop, do_not_start,
keep_running) from pre-registered rules with thresholds from dbt vars. Thin:
reads the result marts, calls xpkit.marts.experiment_decisions."""


def model(dbt, session):
    dbt.config(materialized="table")
    from datetime import UTC, datetime

    from xpkit.marts.daily_results import experiment_list
    from xpkit.marts.experiment_decisions import DecisionConfig, experiment_decisions

    config = DecisionConfig(
        max_days_to_target=float(dbt.config.get("max_days_to_target")),
        max_multi_variant_share=float(dbt.config.get("max_multi_variant_share")),
        inconclusive_decision=str(dbt.config.get("inconclusive_decision")).strip(),
        sequential_experiments=frozenset(
            experiment_list(dbt.config.get("sequential_experiments"))
        ),
    )
    # The build's as-of time: the var as_of (env XP_AS_OF) when set, else now.
    # (YAML cannot carry run_started_at: partial parsing would keep the value
    # of the run that parsed it; and dbt passes config.get values only from
    # plain statements, hence the variable.)
    as_of = dbt.config.get("as_of")
    return experiment_decisions(
        dbt.ref("stg_registry__experiments").to_arrow_table().to_pandas(),
        dbt.ref("stg_registry__experiment_metrics").to_arrow_table().to_pandas(),
        dbt.ref("experiment_results").to_arrow_table().to_pandas(),
        dbt.ref("segment_results").to_arrow_table().to_pandas(),
        dbt.ref("assignment_balance").to_arrow_table().to_pandas(),
        dbt.ref("experiment_health").to_arrow_table().to_pandas(),
        dbt.ref("experiment_power").to_arrow_table().to_pandas(),
        config=config,
        decided_at=as_of or datetime.now(UTC),
        daily_results=dbt.ref("daily_results").to_arrow_table().to_pandas(),
    )
