{#- Order-independent sums. A parallel sum of floating-point numbers depends on
    the order in which threads add their parts, so two builds of the same input
    differ in the last bits. Integers add the same in any order: each value is
    scaled by a power of 2 chosen from the largest magnitude it is summed with,
    rounded to an integer, summed exactly (HUGEINT on DuckDB, DECIMAL(38, 0) on
    Spark) and turned back into a DOUBLE only where a mart publishes it.
    Precision kept (docs/methodology.md, "Exact sums"): a value is rounded to a
    multiple of 2^-k with max |value| * 2^k < 2^bits, so it keeps the digits
    of a number `bits` bits long measured against the largest magnitude of its
    set. -#}

{% macro exact_sum_bits() -%}
    {#- Bits of a unit-level value in a sum of products: the largest product
        of two values is below 2^94, so a sum of 2^32 units (4.3e9) stays
        below 2^126 (HUGEINT holds 2^127; DECIMAL(38, 0) about 2^126.2). -#}
    {{ return(47) }}
{%- endmacro %}

{% macro event_sum_bits() -%}
    {#- Bits of one event value in a unit's sum of values: a BIGINT each,
        summed in a HUGEINT (DuckDB) or DECIMAL(38, 0) (Spark). A value whose
        magnitude is within 2^8 of its event's largest keeps all 53 bits of
        its DOUBLE. -#}
    {{ return(61) }}
{%- endmacro %}

{% macro exact_scale(max_magnitude, bits) -%}
    {#- 2^k with max_magnitude * 2^k < 2^bits (k = bits - 1 - floor(log2 of
        the magnitude), clamped to [-1000, 1000] so 2^k stays a normal
        DOUBLE); 1 when the magnitude is 0 or null. A power of 2, so scaling
        and unscaling are exact. The logarithm may be off by one at an exact
        power of 2: then the integers are at most one bit longer (still
        within the bounds above), never a different number in another run. -#}
    cast(case
        when {{ max_magnitude }} > 0
            then power(2, least(1000, greatest(-1000,
                {{ bits }} - 1 - floor(ln({{ max_magnitude }}) / ln(2))
            )))
        else 1
    end as {{ experimentation.type_double() }})
{%- endmacro %}

{% macro scaled_integer(value, scale) -%}
    {#- value * scale rounded to the nearest integer (half away from zero), a
        BIGINT. -#}
    cast(round({{ value }} * {{ scale }}) as {{ dbt.type_bigint() }})
{%- endmacro %}

{% macro exact_sum(integer_expression) -%}
    {{ return(adapter.dispatch('exact_sum', 'experimentation')(integer_expression)) }}
{%- endmacro %}

{% macro default__exact_sum(integer_expression) -%}
    {#- DuckDB: a sum of BIGINT or HUGEINT is a HUGEINT (overflow is an
        error, never a wrong number). -#}
    sum(cast({{ integer_expression }} as hugeint))
{%- endmacro %}

{% macro spark__exact_sum(integer_expression) -%}
    {#- Spark has no 128-bit integer: DECIMAL(38, 0) holds 38 digits; an
        overflow gives null (ANSI mode off), which the tests would see. -#}
    sum(cast({{ integer_expression }} as decimal(38, 0)))
{%- endmacro %}

{% macro exact_product(left_integer, right_integer) -%}
    {{ return(adapter.dispatch('exact_product', 'experimentation')(left_integer, right_integer)) }}
{%- endmacro %}

{% macro default__exact_product(left_integer, right_integer) -%}
    (cast({{ left_integer }} as hugeint) * cast({{ right_integer }} as hugeint))
{%- endmacro %}

{% macro spark__exact_product(left_integer, right_integer) -%}
    (cast({{ left_integer }} as decimal(38, 0)) * cast({{ right_integer }} as decimal(38, 0)))
{%- endmacro %}

{% macro unscaled_double(exact_value, scales) -%}
    {#- An exact sum back to a DOUBLE: divided by each scale in turn (each a
        power of 2, so each division is exact unless the result leaves the
        DOUBLE range). -#}
    (cast({{ exact_value }} as {{ experimentation.type_double() }})
    {%- for scale in scales %} / {{ scale }}{% endfor %})
{%- endmacro %}
