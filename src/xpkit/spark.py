"""Alias of :mod:`xpkit.io.spark` (moved into the I/O room): ``import
xpkit.spark`` and ``python -m xpkit.spark`` keep working."""

import sys

from xpkit.io import spark as _target

if __name__ == "__main__":
    sys.exit(_target.main())
sys.modules[__name__] = _target
