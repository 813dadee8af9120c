"""A skill's `tollhouse call` example must satisfy the master schema: no case is skipped; where a valid
example cannot be built, exactly what is generated and the warning the skill carries are asserted."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest

from tests.adapters.tricky import CASES
from tollhouse.adapters import skills
from tollhouse.adapters.examples import example_args, example_problem
from tollhouse.adapters.spec import Spec
from tollhouse.tools import build_registry

CHECK = jsonschema.Draft202012Validator


def valid(schema: dict[str, Any], value: Any) -> bool:
    return CHECK(schema, format_checker=CHECK.FORMAT_CHECKER).is_valid(value)


def obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props)}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_tricky_case_gets_a_valid_example(case) -> None:
    example = example_args(case.schema)
    assert valid(case.schema, example), (case.name, example)
    assert example_problem(case.schema) is None


def test_every_built_in_tool_gets_a_valid_example() -> None:
    tools = list(build_registry())
    assert len(tools) >= 30
    for tool in tools:
        schema = tool.input_schema()
        assert valid(schema, example_args(schema)), (tool.name, example_args(schema))


HARD = {
    "exclusive_bounds_and_step": (
        obj(r={"type": "number", "exclusiveMinimum": 0.25, "exclusiveMaximum": 0.5, "multipleOf": 0.1}),
        {"r": 0.4},
    ),
    "negative_integer_range": (obj(n={"type": "integer", "minimum": -20, "maximum": -10}), {"n": -20}),
    "integer_exclusive_max": (obj(n={"type": "integer", "exclusiveMaximum": 0}), {"n": -1}),
    "multiple_of_7_from_100": (obj(n={"type": "integer", "minimum": 100, "multipleOf": 7}), {"n": 105}),
    "pattern_with_lengths": (
        obj(s={"type": "string", "pattern": "^[a-f0-9]{2,}$", "minLength": 6, "maxLength": 8}),
        {"s": "abcdef"},
    ),
    "pattern_alternation_and_escapes": (
        obj(s={"type": "string", "pattern": r"^(?:v\d+\.\d+|latest)(-[A-Z]{2})?$"}),
        {"s": "v0.0"},
    ),
    "pattern_negated_class_unanchored": (obj(s={"type": "string", "pattern": "[^a-z]{3}"}), {"s": "XYZ"}),
    "pattern_named_group": (
        obj(s={"type": "string", "pattern": r"^(?P<y>\d{4})-(?P<m>\d{2})$"}),
        {"s": "0123-01"},
    ),
    "max_length_below_default_guess": (obj(s={"type": "string", "maxLength": 0}), {"s": ""}),
    "formats": (
        obj(
            e={"type": "string", "format": "email"},
            d={"type": "string", "format": "date"},
            u={"type": "string", "format": "uuid"},
            ip={"type": "string", "format": "ipv4"},
        ),
        {
            "e": "user@example.com",
            "d": "2024-01-01",
            "u": "00000000-0000-4000-8000-000000000000",
            "ip": "192.0.2.1",
        },
    ),
    "unique_items_three_of_pattern": (
        obj(
            t={
                "type": "array",
                "items": {"type": "string", "pattern": "^[A-Z][0-9]$"},
                "minItems": 3,
                "uniqueItems": True,
            }
        ),
        {"t": ["A0", "B1", "C2"]},
    ),
    "unique_integer_items": (
        obj(
            t={
                "type": "array",
                "items": {"type": "integer", "minimum": 5},
                "minItems": 2,
                "uniqueItems": True,
            }
        ),
        {"t": [5, 6]},
    ),
    "one_of_overlapping_first_branch": (
        obj(v={"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 2}]}),
        {"v": 1},
    ),
    "min_properties_needs_optional": (
        {"type": "object", "properties": {"a": {"type": "integer"}}, "minProperties": 1},
        {"a": 1},
    ),
}


@pytest.mark.parametrize("name", list(HARD))
def test_hard_constraints_get_exact_valid_examples(name: str) -> None:
    schema, expected = HARD[name]
    assert example_args(schema) == expected
    assert valid(schema, expected) and example_problem(schema) is None


def test_what_is_not_generated_is_said_exactly(tmp_path) -> None:
    # lookaheads are outside the simple-pattern subset, and these bounds contradict each other
    lookahead = obj(pw={"type": "string", "pattern": "^(?=.*[0-9])[a-z0-9]{8}$"})
    assert example_args(lookahead) == {"pw": "x"}
    assert example_problem(lookahead) == "pw: 'x' does not match '^(?=.*[0-9])[a-z0-9]{8}$'"
    impossible = obj(n={"type": "integer", "minimum": 5, "maximum": 1})
    assert example_args(impossible) == {"n": 5}
    assert example_problem(impossible) == "n: 5 is greater than the maximum of 1"
    spec = Spec(name="t_pw", title="pw", description="Password.", input_schema=lookahead, family="pw")
    folder = skills.write_skills([spec], tmp_path)[0]
    note = "The example above is incomplete (pw: 'x' does not match '^(?=.*[0-9])[a-z0-9]{8}$'); edit it"
    assert note in (folder / "SKILL.md").read_text()
    assert note in (folder / "references" / "t_pw.md").read_text()
    ok = Spec(name="t_ok", title="ok", description="Ok.", input_schema=HARD["formats"][0], family="ok")
    assert "incomplete" not in (skills.write_skills([ok], tmp_path)[0] / "SKILL.md").read_text()


def test_skill_call_lines_show_the_valid_example(tmp_path) -> None:
    specs = [Spec(name=f"t_{c.name}", title=c.name, description="d.", input_schema=c.schema, family="tricky")
             for c in CASES]  # fmt: skip
    body = (skills.write_skills(specs, tmp_path)[0] / "SKILL.md").read_text()
    assert "incomplete" not in body
    line = re.search(r"^tollhouse call t_patterns_and_formats '(.+)'$", body, re.M)
    assert line is not None and line.group(1) == '{"code": "ABC", "email": "user@example.com"}'
