{% macro build_id() -%}
    {#- The id of this build, as a SQL text literal: the environment variable
        XP_BUILD_ID (set by `make build` / python -m xpkit.io.publish, the same
        id it stamps into build_manifest), else the first 12 characters of
        dbt's invocation id (a plain `dbt build`). Letters, digits, '-' and '_'
        only: anything else is a compiler error, so no text reaches the SQL. -#}
    {%- set build_id = env_var('XP_BUILD_ID', '') | string | trim -%}
    {%- if build_id and not modules.re.fullmatch('[A-Za-z0-9_-]{1,64}', build_id) -%}
        {{ exceptions.raise_compiler_error(
            "XP_BUILD_ID = " ~ (build_id | tojson) ~ " is refused: it must be 1 to 64 "
            ~ "letters, digits, '-' or '_'. Unset it to use dbt's invocation id."
        ) }}
    {%- endif -%}
    '{{ build_id or invocation_id[:12] }}'
{%- endmacro %}

{% macro history_inputs_digest(digests_relation) -%}
    {#- One SHA-256 over the input digests of int_input_digests (every raw table
        and registry seed, name=digest, in name order) and the as-of time when
        one is set (var as_of or XP_AS_OF): two builds with the same value saw
        the same inputs. Without an as-of time the build's "now" is not part of
        it, so a rebuild of unchanged data adds no history rows. -#}
    {%- set as_of = (var('as_of', none) or env_var('XP_AS_OF', '')) | string | trim -%}
    select
        {{ experimentation.sha256_hex(
            "string_agg(item_type || ':' || item_name || '=' || digest, ';' order by item_type, item_name)"
            ~ (" || ';as_of=' || cast(" ~ experimentation.build_time() ~ " as varchar)" if as_of else "")
        ) }} as inputs_digest,
        string_agg(item_name || '=' || digest, '; ' order by item_type, item_name) as input_digests
    from {{ digests_relation }}
{%- endmacro %}

{% macro history_is_new(inputs_digest_column) -%}
    {#- The filter of an append-only history model: on an incremental run, keep
        the rows only when no earlier build with the same inputs digest wrote
        any (a rebuild on identical inputs adds nothing); always true when the
        table is (re)created. -#}
    {%- if is_incremental() -%}
        not exists (
            select 1 from {{ this }} as previous_builds
            where previous_builds.inputs_digest = {{ inputs_digest_column }}
        )
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}
