"""Per target, for each tricky schema: the lowered copy follows the target's rules, and argument
examples are accepted/rejected exactly as the master schema decides after the reverse mapping."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from anthropic.types import ToolParam
from google.genai import types as gtypes
from openai.types.chat import ChatCompletionFunctionToolParam
from pydantic import TypeAdapter

from tests.adapters.tricky import CASES, Case
from tollhouse.adapters.schema import GEMINI_NAME, STRICT_FORMATS, STRICT_UNSUPPORTED, TARGETS, lower

IDS = [c.name for c in CASES]


def nodes(schema: Any, path: str = "#"):
    """Every subschema with its path."""
    if isinstance(schema, dict):
        yield path, schema
        for key, value in schema.items():
            if key in ("properties", "$defs", "patternProperties") and isinstance(value, dict):
                for k, v in value.items():
                    yield from nodes(v, f"{path}/{key}/{k}")
            elif key in ("anyOf", "oneOf", "allOf", "prefixItems") and isinstance(value, list):
                for i, v in enumerate(value):
                    yield from nodes(v, f"{path}/{key}/{i}")
            elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
                yield from nodes(value, f"{path}/{key}")


def master_ok(case: Case, value: Any) -> bool:
    return jsonschema.Draft202012Validator(case.schema).is_valid(value)


def subset(small: Any, big: Any) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and subset(v, big[k]) for k, v in small.items())
    if isinstance(small, list):
        return isinstance(big, list) and len(small) == len(big) and all(map(subset, small, big))
    return small == big and type(small) is type(big)


def test_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20
    for case in CASES:  # the examples themselves must be right about the master
        jsonschema.Draft202012Validator.check_schema(case.schema)
        assert all(master_ok(case, v) for v in case.valid), case.name
        assert not any(master_ok(case, v) for v in case.invalid), case.name


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("target", TARGETS)
def test_examples_round_trip_like_master(case: Case, target: str) -> None:
    low = lower(case.schema, target)
    jsonschema.Draft202012Validator.check_schema(low.schema)
    lowered_validator = jsonschema.Draft202012Validator(low.schema)
    for value in case.valid:
        sent = low.lower_args(value)
        assert lowered_validator.is_valid(sent), (target, value, sent)  # the model can express it
        back = low.unlower(sent)
        assert master_ok(case, back), (target, value, sent, back)
        assert subset(value, back), (value, back)
    for value in case.invalid:
        back = low.unlower(low.lower_args(value))
        assert not master_ok(case, back), (target, value, back)
    for value in case.null_is_absent:
        assert not master_ok(case, value)
        back = low.unlower(low.lower_args(value))
        assert master_ok(case, back) is low.strict, (target, value, back)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_openai_strict_rules(case: Case) -> None:
    low = lower(case.schema, "openai-strict")
    assert low.strict is case.strict, low.notes
    tool = {"type": "function", "function": {"name": "t", "parameters": low.schema, "strict": low.strict}}
    TypeAdapter(ChatCompletionFunctionToolParam).validate_python(tool)
    root = low.schema
    assert root["type"] == "object" and "properties" in root and "anyOf" not in root
    if not case.strict:
        assert (low.notes and low.notes[0].startswith("not strict: cannot")) or "exceed" in low.notes[0]
        return
    for path, node in nodes(root):
        assert "oneOf" not in node and "allOf" not in node, path
        assert not set(STRICT_UNSUPPORTED) & set(node), path
        assert node.get("format", "date") in STRICT_FORMATS, path
        assert node.get("default") is None and "title" not in node and "$schema" not in node, path
        if "$ref" in node:
            assert set(node) == {"$ref"}, path
        if "properties" in node or node.get("type") == "object":
            assert node["additionalProperties"] is False, path
            assert node["required"] == list(node["properties"]), path
        if node.get("type") == "array" or node.get("type") == ["array", "null"]:
            assert isinstance(node.get("items"), dict), path
        firsts = [next(iter(b["properties"])) for b in node.get("anyOf", []) if b.get("properties")]
        assert len(firsts) == len(set(firsts)), (path, firsts)  # no two anyOf objects share a first key


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_anthropic_rules(case: Case) -> None:
    low = lower(case.schema, "anthropic")
    TypeAdapter(ToolParam).validate_python({"name": "t", "input_schema": low.schema})
    assert low.schema["type"] == "object"
    assert not {"anyOf", "oneOf", "allOf", "$ref"} & set(low.schema)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gemini_rules(case: Case) -> None:
    low = lower(case.schema, "gemini")
    decl = gtypes.FunctionDeclaration(
        name="t", description="d", parameters_json_schema=None if low.empty else low.schema
    )
    if case.name == "zero_args":
        assert low.empty and decl.parameters_json_schema is None
    for path, node in nodes(low.schema):
        assert "oneOf" not in node and "const" not in node and "$schema" not in node, path
        for name in node.get("properties", {}):
            assert GEMINI_NAME.match(name), (path, name)
        for name in node.get("required", []):
            assert name in node.get("properties", {}), (path, name)
    gtypes.Tool(function_declarations=[decl])  # the SDK builds the tool


def test_strict_fallback_says_why() -> None:
    case = next(c for c in CASES if c.name == "free_form_map")
    low = lower(case.schema, "openai-strict")
    assert low.strict is False and low.target == "openai"
    assert low.notes[0] == "not strict: cannot: free-form map (additionalProperties) at #/properties/counts"
    deep = next(c for c in CASES if c.name == "deep_nesting_12")
    assert lower(deep.schema, "openai-strict").notes == [
        "not strict: 12 levels of nesting exceed the limit of 10"
    ]


def test_anyof_first_keys_are_separated_or_strict_falls_back() -> None:
    union = next(c for c in CASES if c.name == "discriminated_union")
    low = lower(union.schema, "openai-strict")
    assert low.strict is True
    branches = low.schema["properties"]["payment"]["anyOf"]
    assert [list(b["properties"]) for b in branches] == [["number", "kind"], ["iban", "kind", "bic"]]
    assert [b["required"] for b in branches] == [["number", "kind"], ["iban", "kind", "bic"]]
    assert (
        "reordered properties at #/properties/payment/anyOf so no two branches share a first key" in low.notes
    )
    assert list(union.schema["$defs"]["Card"]["properties"]) == ["kind", "number"]  # master untouched
    same = next(c for c in CASES if c.name == "same_key_union")
    fallback = lower(same.schema, "openai-strict")
    assert fallback.strict is False and fallback.target == "openai"
    assert (
        fallback.notes[0]
        == "not strict: cannot: anyOf branches share the first key 'id' at #/properties/v/anyOf"
    )


def test_strict_nulls_become_absent_and_defaults_apply() -> None:
    case = next(c for c in CASES if c.name == "defaults")
    low = lower(case.schema, "openai-strict")
    assert low.schema["properties"]["count"] == {"type": ["integer", "null"], "description": "(default 10)"}
    assert low.unlower({"count": None, "names": None, "mode": None}) == {
        "count": 10,
        "names": ["a"],
        "mode": "fast",
    }
    # an explicit null for a required, non-nullable field is not "absent": the master still rejects it
    nested = next(c for c in CASES if c.name == "optional_scalar")
    nlow = lower(nested.schema, "openai-strict")
    assert nlow.unlower({"limit": None}) == {}
    anthropic = lower(nested.schema, "anthropic")
    assert anthropic.unlower({"limit": None}) == {"limit": None}  # only strict inserted nulls


def test_gemini_renames_are_reversible_and_collision_free() -> None:
    case = next(c for c in CASES if c.name == "gemini_rejected_names")
    low = lower(case.schema, "gemini")
    names = list(low.schema["properties"])
    assert len(set(names)) == len(names) == 6
    assert "user_id" in names and "config" in names and "_1st" in names and "_type" in names
    renamed_user = next(n for n in names if n.startswith("user_id_"))
    sent = {renamed_user: 5, "user_id": 6, "_type": "t"}
    assert low.unlower(sent) == {
        "user-id": 5,
        "user_id": 6,
        "@type": "t",
        "1st": 0,
        "naïve": None,
        "config": 0,
    }


def test_root_union_is_wrapped_and_unwrapped() -> None:
    case = next(c for c in CASES if c.name == "root_union")
    for target in TARGETS:
        low = lower(case.schema, target)
        assert low.wrapped and low.schema["required"] == ["arguments"]
        assert low.unlower({"arguments": {"delete": 3}}) == {"delete": 3}


def test_master_is_never_mutated() -> None:
    for case in CASES:
        before = json.dumps(case.schema, sort_keys=True)
        for target in TARGETS:
            low = lower(case.schema, target)
            for value in case.valid:
                low.unlower(low.lower_args(value))
        assert json.dumps(case.schema, sort_keys=True) == before
