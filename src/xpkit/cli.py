"""Alias of :mod:`xpkit.io.cli` (moved into the I/O room): ``import
xpkit.cli`` and ``python -m xpkit.cli`` keep working."""

import sys

from xpkit.io import cli as _target

if __name__ == "__main__":
    sys.exit(_target.main())
sys.modules[__name__] = _target
