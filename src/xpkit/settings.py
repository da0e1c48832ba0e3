"""Defaults shared by more than one mart, set once."""

from __future__ import annotations

__all__ = ["DEFAULT_ALPHA"]

# The significance level of an experiment whose registry row leaves it empty.
DEFAULT_ALPHA = 0.05
