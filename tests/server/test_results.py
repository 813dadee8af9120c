"""Output schemas as published over MCP: ``T | None`` as a type list, meaning exactly the same."""

from __future__ import annotations

import itertools

import pytest
from jsonschema.validators import validator_for

from tollhouse.gate.catalogue import build_catalogue
from tollhouse.server.results import nullable_as_type_list
from tollhouse.tools import FAMILIES, build_registry

SPECS = [s for s in build_catalogue(build_registry(list(FAMILIES))) if s.output_schema]
SAMPLES = [None, "text", 0, 7, 1.5, True, [], ["a"], {}, {"k": "v"}]


def test_an_optional_field_becomes_a_type_list() -> None:
    schema = {"properties": {"n": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}}}
    assert nullable_as_type_list(schema) == {
        "properties": {"n": {"type": ["integer", "null"], "default": None}}
    }


def test_branches_with_more_than_a_type_are_left_alone() -> None:
    schema = {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}]}
    assert nullable_as_type_list(schema) == schema
    ref = {"anyOf": [{"$ref": "#/$defs/X"}, {"type": "null"}]}
    assert nullable_as_type_list(ref) == ref


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_tool_output_schema_accepts_and_refuses_the_same_values(spec) -> None:
    before = spec.output_schema
    after = nullable_as_type_list(before)
    validator_for(after).check_schema(after)
    old, new = validator_for(before)(before), validator_for(after)(after)
    props = list(before.get("properties", {}))
    assert props, spec.name
    checked = 0
    # Each property in turn takes every sample value, the others none: the verdicts must agree.
    for name, value in itertools.product(props, SAMPLES):
        instance = {p: "x" for p in before.get("required", [])} | {name: value}
        assert old.is_valid(instance) == new.is_valid(instance), (spec.name, name, value)
        checked += 1
    assert checked == len(props) * len(SAMPLES)
