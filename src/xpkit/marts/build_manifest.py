"""The build_manifest mart's declaration; the builder is ``xpkit.io.manifest``."""

from __future__ import annotations

from xpkit.io.manifest import COLUMNS, build_manifest
from xpkit.marts.declaration import MartDeclaration

__all__ = ["DECLARATION"]

DECLARATION = MartDeclaration(
    name="build_manifest",
    inputs=("intermediate.int_input_digests",),
    settings=("as_of",),
    columns=COLUMNS,
    build=lambda inputs, settings: build_manifest(
        inputs["int_input_digests"], as_of=settings["as_of"]
    ),
)
