"""Every family gets its own valid skill folder: names that normalise to the same skill name, names
over 64 characters and names holding a reserved word neither overwrite each other nor abort the
export."""

from __future__ import annotations

from pathlib import Path

import pytest

from tollhouse.adapters import skills
from tollhouse.adapters.spec import Spec

SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


def spec(name: str, family: str) -> Spec:
    return Spec(name=name, title=f"{name} title", description=f"{name} does things.", input_schema=SCHEMA,
                family=family)  # fmt: skip


FAMILIES = {
    "a_b": "t_underscore",
    "a-b": "t_dash",
    "A.B": "t_dot",
    "claude": "t_claude",
    "anthropic_tools": "t_anthropic",
    "claclaudeude": "t_nested_reserved",
    "x" * 70 + "1": "t_long_1",
    "x" * 70 + "2": "t_long_2",
}


def test_every_family_keeps_its_own_valid_skill(tmp_path: Path) -> None:
    folders = skills.write_skills([spec(t, f) for f, t in FAMILIES.items()], tmp_path / "out")
    assert len(folders) == len(FAMILIES) == len({f.name for f in folders})
    seen: set[str] = set()
    for folder in folders:
        assert skills.validate_skill(folder) == [], folder.name
        assert not any(word in folder.name for word in skills.RESERVED)
        refs = [p.stem for p in (folder / "references").iterdir()]
        assert len(refs) == 1 and refs[0] in FAMILIES.values()
        seen.add(refs[0])
    assert seen == set(FAMILIES.values())  # no family lost
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f.name for f in folders)


def test_skill_names_are_stable_and_unchanged_when_unambiguous() -> None:
    names = skills.skill_names(list(FAMILIES))
    assert names == skills.skill_names(list(reversed(FAMILIES)))  # order of discovery does not matter
    assert skills.skill_names(["files", "shell"]) == {"files": "tollhouse-files", "shell": "tollhouse-shell"}
    assert names["claude"].startswith("tollhouse") and len(set(names.values())) == len(FAMILIES)


@pytest.mark.parametrize("family", ["claude", "my-anthropic", "CLAUDE_x"])
def test_reserved_word_alone_does_not_abort(tmp_path: Path, family: str) -> None:
    folders = skills.write_skills([spec("t_one", "files"), spec("t_two", family)], tmp_path)
    assert len(folders) == 2 and all(skills.validate_skill(f) == [] for f in folders)
