"""Pure math on per-arm sufficient statistics: no pandas, no I/O.

``statistics`` holds the statistics (frozen dataclasses that support ``+``, so
daily -> cumulative and segment -> rest are sums of statistics);
``frequentist``, ``bayesian``, ``sequential``, ``corrections``, ``srm``,
``power``, ``iv``, ``hte`` and ``regression`` the tests and estimators on them.
"""
