"""What a build was made of: code version, package versions, input digests and
build time, one row per item. Thin: the digests come from SQL
(int_input_digests); xpkit.io.manifest collects the versions."""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.marts.build_manifest import DECLARATION

    # dbt reads the refs and config keys from literal calls: they are listed
    # here, and tests/marts/test_declarations.py holds them to DECLARATION.
    return DECLARATION.run(
        {
            "int_input_digests": dbt.ref("int_input_digests"),
        },
        {
            "as_of": dbt.config.get("as_of"),
        },
    )
