"""One entry point for every target: ``export(target, source)`` -> JSON-able definitions.

``source`` is a Gate, a ``Catalogue`` (policy-filtered view without opening receipts), or a list of
specs/Tools. The CLI's ``tollhouse export`` prints exactly this.
"""

from __future__ import annotations

from typing import Any

from tollhouse.adapters import anthropic, gemini, mcp, openai

TARGETS = ("openai", "openai-responses", "anthropic", "gemini", "mcp")


class Catalogue:
    """The gate's catalogue and ``could_allow`` from config alone (no receipt store is opened)."""

    def __init__(self, config: Any) -> None:
        from tollhouse.gate.catalogue import build_catalogue
        from tollhouse.gate.policy import Policy
        from tollhouse.tools import registry_for

        self.registry = registry_for(config)
        self.policy = Policy.load(config, self.registry)
        self._specs = build_catalogue(self.registry)

    def catalogue(self) -> list[Any]:
        return list(self._specs)

    def could_allow(self, name: str) -> bool:
        tool = self.registry.get(name)
        return tool is not None and bool(self.policy.could_allow(tool))


def export(target: str, source: Any, *, strict: bool = True) -> Any:
    """Provider-native tool definitions as plain JSON data."""
    if target == "openai":
        return openai.chat_tools(source, strict=strict)
    if target == "openai-responses":
        return openai.responses_tools(source, strict=strict)
    if target == "anthropic":
        return anthropic.tools(source)
    if target == "gemini":
        return gemini.tool(source).model_dump(mode="json", by_alias=True, exclude_none=True)
    if target == "mcp":
        return mcp.tools_list_json(source)
    raise ValueError(f"unknown export target {target!r}; choose one of {', '.join(TARGETS)} or skills")


def strict_notes(source: Any) -> list[str]:
    """Why each tool that could not be strict for OpenAI was emitted non-strict."""
    return [
        f"{spec.name}: {'; '.join(low.notes)}" for spec, low in openai.lowered(source, True) if not low.strict
    ]
