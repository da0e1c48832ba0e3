"""xpkit: the Python side of the warehouse-native experimentation project.

Pure statistics (no I/O) live in ``statistics``, ``frequentist``, ``corrections``
and ``srm``; ``load`` and ``demo`` move data into the warehouse's raw schema.
"""

__version__ = "0.1.0"
