{% test row_counts_reconcile(model, staged_model, quarantine_model, staged_condition='reason_code is null') %}
    {#- Nothing is lost: the rows of model (a raw table) equal the usable rows of
        staged_model plus the rows of quarantine_model. Returns one row when they
        differ, with the three counts. -#}
    with

    counts as (

        select
            (select count(*) from {{ model }}) as raw_rows,
            (select count(*) from {{ staged_model }} where {{ staged_condition }}) as staged_rows,
            (select count(*) from {{ quarantine_model }}) as quarantined_rows

    )

    select *
    from counts
    where raw_rows <> staged_rows + quarantined_rows
{% endtest %}
