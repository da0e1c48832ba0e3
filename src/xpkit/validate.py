"""Alias of :mod:`xpkit.io.validate` (moved into the I/O room): ``import
xpkit.validate`` and ``python -m xpkit.validate`` keep working."""

import sys

from xpkit.io import validate as _target

if __name__ == "__main__":
    sys.exit(_target.main())
sys.modules[__name__] = _target
