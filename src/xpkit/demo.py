"""Alias of :mod:`xpkit.io.demo` (moved into the I/O room): ``import
xpkit.demo`` and ``python -m xpkit.demo`` keep working."""

import sys

from xpkit.io import demo as _target

if __name__ == "__main__":
    sys.exit(_target.main())
sys.modules[__name__] = _target
