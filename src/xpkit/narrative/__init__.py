"""Every sentence and number format the marts and the report write.

Pure functions of figures: no pandas, no I/O, so that each phrase is tested on
its own (``tests/narrative/test_narrative.py``).

* ``numbers``: number formats of the mart sentences (decimals, p-values,
  percentages, counts).
* ``results``: the ``summary`` sentence of a result row.
* ``decisions``: the phrases of the decisions' rationales.
* ``report``: the report's number and text formats.
"""

from __future__ import annotations

from xpkit.narrative.numbers import decimals, format_p, pct

__all__ = ["decimals", "format_p", "pct"]
