"""Documentation kept true by the code: the CLI reference and the configuration keys."""

from __future__ import annotations

from pathlib import Path

from tollhouse.cli.reference import render
from tollhouse.config import _SECTION_KEYS, KNOWN_SECTIONS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_cli_reference_matches_the_parsers() -> None:
    assert (DOCS / "cli.md").read_text() == render(), (
        "docs/cli.md is stale: run `python -m tollhouse.cli.reference > docs/cli.md`"
    )


def test_every_config_section_and_key_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    for section in KNOWN_SECTIONS:
        assert f"[{section}]" in text or f"[[{section}]]" in text, section
    for section, keys in _SECTION_KEYS.items():
        for key in keys:
            assert f"| `{key}` |" in text, f"{section}.{key} is not in docs/configuration.md"


def test_readme_links_resolve() -> None:
    import re

    readme = (DOCS.parent / "README.md").read_text()
    for target in re.findall(r"\]\(((?:docs|benchmarks|examples)/[^)#]+)", readme):
        assert (DOCS.parent / target).exists(), target
