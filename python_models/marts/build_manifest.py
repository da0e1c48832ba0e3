"""What a build was made of: code version, package versions, input digests and
build time, one row per item. Thin: the digests come from SQL
(int_input_digests); xpkit.manifest collects the versions."""


def model(dbt, session):
    dbt.config(materialized="table")
    from xpkit.manifest import build_manifest

    digests = dbt.ref("int_input_digests").to_arrow_table().to_pandas()
    return build_manifest(digests, as_of=dbt.config.get("as_of"))
