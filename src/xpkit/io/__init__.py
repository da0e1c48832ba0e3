"""The I/O room: everything that reads or writes outside the statistics.

- ``load``: raw files into the build file's ``raw`` schema, with the checks that
  refuse damaged or hostile input;
- ``demo``: the deterministic demo data, one module per story;
- ``validate``: the gates (Great Expectations on the check models dbt built);
- ``manifest``: what ``marts.build_manifest`` records about a build;
- ``publish``: build, check, then publish; the writer lock; the BI file;
- ``spark``: the same marts on Apache Spark;
- ``cli``: ``summary`` and ``query``.

The old module paths (``python -m xpkit.load``, ``import xpkit.validate``, ...)
keep working: each is a two-line alias of its module here.
"""
