"""How the gate reads a call's arguments: strictly, as the master JSON Schema says, and how it writes
them back: under the schema's public names.

A tool's input model is validated from the call's JSON text in pydantic's strict mode, so ``"7"`` is
not an integer, ``"yes"`` / ``1`` are not booleans, ``5`` is not a string and ``[1, "2"]`` is not a
pair of integers: what the published schema rejects, the gate rejects, whichever face the call came
through. JSON's own equivalences hold (``7.0`` is the integer 7, an integer is a number, a string
names an enum member), because the text is parsed as JSON, not as Python objects.

Every replay or check that re-reads recorded arguments uses these same two functions, so a recorded
call is judged exactly as the gate judged it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tollhouse.gate.digest import canonical_json


def validate_arguments(model: type[BaseModel], raw: Any, encoded: str | None = None) -> BaseModel:
    """``model`` from ``raw`` (a JSON object) with no coercion; raises ``pydantic.ValidationError``.

    ``encoded`` is ``canonical_json(raw)`` when the caller has it already (the gate does)."""
    if encoded is None:
        try:
            encoded = canonical_json(raw)
        except (TypeError, ValueError):  # not JSON data at all (a TOML date in a rule example)
            return model.model_validate(raw, strict=True)
    return model.model_validate_json(encoded, strict=True)


def public_json(value: BaseModel) -> Any:
    """JSON data of a validated model under the names its schema publishes (aliases, not the Python
    field names), which is what receipts, approvals and grants show."""
    return value.model_dump(mode="json", by_alias=True)
