"""Alias of :mod:`xpkit.io.manifest` (moved into the I/O room): ``import
xpkit.manifest`` keeps working."""

import sys

from xpkit.io import manifest as _target

sys.modules[__name__] = _target
