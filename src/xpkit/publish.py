"""Alias of :mod:`xpkit.io.publish` (moved into the I/O room): ``import
xpkit.publish`` and ``python -m xpkit.publish`` keep working."""

import sys

from xpkit.io import publish as _target

if __name__ == "__main__":
    sys.exit(_target.main())
sys.modules[__name__] = _target
