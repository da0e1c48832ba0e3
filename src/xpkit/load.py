"""Alias of :mod:`xpkit.io.load` (moved into the I/O room): ``import
xpkit.load`` and ``python -m xpkit.load`` keep working."""

import sys

from xpkit.io import load as _target

if __name__ == "__main__":
    sys.exit(_target.main())
sys.modules[__name__] = _target
