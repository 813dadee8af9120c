"""Results as published over MCP: output schemas with ``T | None`` as a type list (meaning exactly the
same), and results kept within one HTTP event."""

from __future__ import annotations

import itertools
import types as pytypes

import mcp_types as types
import pytest
from jsonschema.validators import validator_for

from tollhouse.gate.catalogue import build_catalogue
from tollhouse.server.results import EVENT_MARGIN, fit_event, nullable_as_type_list, outcome_to_result
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


BUDGET = 1024 * 1024


def shell_like(stdout: str) -> types.CallToolResult:
    outcome = pytypes.SimpleNamespace(
        status="ok", receipts=[7, 8], result={"exit_code": 0, "stdout": stdout, "stderr": ""}
    )
    return outcome_to_result(outcome, has_output_schema=True)


def size(result: types.CallToolResult) -> int:
    return len(result.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8"))


def test_a_result_within_one_event_is_left_as_it_is() -> None:
    small = shell_like("hello\n" * 1000)
    assert fit_event(small, BUDGET) is small
    big = shell_like("1234567\n" * 60_000)  # 480 KB: over the budget once written twice
    assert fit_event(big, None) is big  # stdio: no limit


@pytest.mark.parametrize("line", ["1234567\n", 'é"\\\t€\n', "\ufffd" * 7 + "\n"])
def test_the_text_copy_is_cut_so_the_whole_result_fits(line: str) -> None:
    stdout = line * (520_000 // len(line.encode()))
    result = shell_like(stdout)
    assert size(result) > BUDGET
    fitted = fit_event(result, BUDGET)
    assert size(fitted) + EVENT_MARGIN <= BUDGET
    assert size(fitted) + EVENT_MARGIN > BUDGET - 64 * 1024  # cut to fit, not cut to nothing
    assert fitted.structured_content == result.structured_content and not fitted.is_error
    text = fitted.content[0].text
    assert text.endswith("structuredContent holds all of it ...]")
    assert result.content[0].text.startswith(text[: text.rindex("\n[... tollhouse")])
    assert fitted.meta == result.meta


def test_a_text_only_result_is_cut_and_says_so() -> None:
    result = types.CallToolResult(content=[types.TextContent(type="text", text="x" * 2_000_000)])
    fitted = fit_event(result, BUDGET)
    assert size(fitted) + EVENT_MARGIN <= BUDGET and not fitted.is_error
    assert fitted.content[0].text.endswith("cut to fit one HTTP event ...]")


def test_structured_content_too_big_for_one_event_is_an_error_that_says_the_call_ran() -> None:
    result = shell_like("1234567\n" * 140_000)  # 1.1 MB in structuredContent alone
    fitted = fit_event(result, BUDGET)
    assert fitted.is_error and fitted.structured_content is None and size(fitted) < 2048
    message = fitted.content[0].text
    assert "the call ran (receipts #7, #8)" in message and "max_event_bytes = 1048576" in message
