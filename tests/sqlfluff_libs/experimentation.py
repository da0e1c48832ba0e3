"""Stand-ins for this project's macros, for sqlfluff's jinja templater only."""


def type_double():
    return "double"


def try_cast(expression, data_type):
    return f"try_cast({expression} as {data_type})"


def parse_timestamp_utc(expression):
    return f"try_cast({expression} as timestamp)"


def is_blank(expression):
    return f"(nullif(trim({expression}), '') is null)"


def build_time():
    return "cast('2024-01-01 00:00:00' as timestamp)"


def base_metric_value(aggregation, event_count, value_sum):
    return f"case {aggregation} when 'count' then {event_count} else {value_sum} end"


def quarantine_reason(reason_code):
    return f"case {reason_code} when 'x' then 'y' end"


def registry_problems():
    return "select 1 as seed_file"


def sufficient_statistic_sums():
    return "sum(m) as metric_sum"


def filled_sufficient_statistics(
    sums_relation, aggregation_column, shifts_relation=None, n_units=None
):
    return f"{sums_relation}.metric_sum as metric_sum"


def shift_columns():
    return {
        "m": "metric_shift",
        "x": "covariate_shift",
        "d": "denominator_shift",
        "w": "covariate_denominator_shift",
    }


def value_shift(mean, sd, minimum, n_values):
    return f"coalesce({mean}, {sd}, {minimum}, {n_values})"


def arm_mean():
    return "metric_sum / n_units"


def arm_variance(suffix=""):
    return "metric_sum_squares / n_units"


def ratio_statistic_columns():
    return ["denominator_sum"]


def segment_dimensions():
    return ["segment"]


def table_digest(relation_alias):
    return f"cast(count({relation_alias}) as varchar)"


def arm_statistic_columns(with_moments=True):
    return "n_units, metric_sum"


def pseudonymised_unit_id(expression):
    return f"cast({expression} as varchar)"


def column_data_type(relation, column_name):
    return ""


def has_column(relation, column_name):
    return False


def timestamp_utc_column(relation, column_name):
    return f"try_cast({column_name} as timestamp)"


def double_column(relation, column_name):
    return f"try_cast({column_name} as double)"


def null_safe_equal(left, right):
    return f"({left} is not distinct from {right})"


def has_eligibility():
    return True


def eligibility_strata():
    return [{"column": "segment"}, {"column": "activity_score", "bins": 5}]


def hash_bucket(expression, buckets=10000):
    return f"(hash({expression}) % {buckets})"


def hex_to_bigint(expression):
    return f"cast({expression} as bigint)"


def unit_attribute_columns():
    return ["segment", "age", "activity_score", "signup_month", "eligible"]


def assignment_strata_column():
    return "segment"


def incremental_refresh_enabled():
    return False


def only_units_to_refresh(unit_id_column):
    return f"{unit_id_column} is not null"


def delete_units_to_refresh():
    return ""


def row_hash(columns):
    return "hash(" + ", ".join(columns) + ")"


def unit_refresh_active():
    return False


def duplicate_keys(rows_cte, key_columns):
    keys = ", ".join(key_columns)
    return (
        f"duplicated as (select {keys}, count(*) as row_count from {rows_cte}"
        f" group by {keys} having count(*) > 1)"
    )


def exact_sum_bits():
    return 47


def event_sum_bits():
    return 61


def exact_scale(max_magnitude, bits):
    return f"power(2, {bits} - floor(ln({max_magnitude})))"


def scaled_integer(value, scale):
    return f"cast(round({value} * {scale}) as bigint)"


def exact_sum(integer_expression):
    return f"sum(cast({integer_expression} as hugeint))"


def exact_product(left_integer, right_integer):
    return f"({left_integer} * {right_integer})"


def unscaled_double(exact_value, scales):
    return f"(cast({exact_value} as double)" + "".join(f" / {s}" for s in scales) + ")"


def statistic_variable_prefixes():
    return {
        "m": "metric",
        "x": "covariate",
        "d": "denominator",
        "w": "covariate_denominator",
    }
