"""Stand-ins for dbt's cross-database macros, so sqlfluff's jinja templater can
render the models without compiling them with dbt. They only need to produce
SQL of the right shape; dbt itself renders the real thing."""


def concat(fields):
    return "concat(" + ", ".join(fields) + ")"


def dateadd(datepart, interval, from_date_or_timestamp):
    start = from_date_or_timestamp
    return f"({start} + cast({interval} as bigint) * interval 1 {datepart})"


def type_string():
    return "varchar"


def type_bigint():
    return "bigint"


def type_boolean():
    return "boolean"


def type_int():
    return "integer"


def type_timestamp():
    return "timestamp"


def datediff(first_date, second_date, datepart):
    return f"date_diff('{datepart}', {first_date}, {second_date})"


def hash(field):  # noqa: A001 - dbt's macro name
    return f"md5(cast({field} as varchar))"


def listagg(measure, delimiter_text="','", order_by_clause=None, limit_num=None):
    return f"string_agg({measure}, {delimiter_text} {order_by_clause or ''})"
