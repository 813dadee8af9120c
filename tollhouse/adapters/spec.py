"""What the adapters need to know about a tool: the gate catalogue's ``ToolSpec`` shape.

Emitters take either a list of specs or a Gate (whose ``catalogue()`` returns them, filtered by
``could_allow`` so a tool every rule denies is never advertised).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tollhouse.gate.catalogue import ToolSpec
from tollhouse.tools.base import Tool

SpecLike = ToolSpec
Spec = ToolSpec
"""A stand-alone spec, for emitting without a gate (tests, docs, third-party tool lists)."""


def specs_of(source: Any) -> list[SpecLike]:
    """Specs from a Gate (only tools policy could allow) or from an iterable of specs/Tools."""
    if hasattr(source, "catalogue") and callable(source.catalogue):
        could_allow = getattr(source, "could_allow", None)
        specs = list(source.catalogue())
        return [s for s in specs if could_allow is None or could_allow(s.name)]
    out: list[SpecLike] = []
    for item in source if isinstance(source, Iterable) else ():
        out.append(ToolSpec.of(item) if isinstance(item, Tool) else item)
    return sorted(out, key=lambda s: s.name)
