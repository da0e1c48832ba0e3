"""Stand-in for dbt's adapter object, for sqlfluff's jinja templater only."""


def get_columns_in_relation(relation):
    return []


def quote(identifier):
    return f'"{identifier}"'


def dispatch(macro_name, macro_namespace=None):
    raise NotImplementedError("sqlfluff renders models, not dispatching macros")
