"""The shell tool's own PATH lookup finds what shutil.which finds, on the real PATH and on made-up ones."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tollhouse.tools.shell.parse import child_path
from tollhouse.tools.shell.tool import _which


@pytest.mark.parametrize("name", ["true", "sh", "env", "git", "python3", "no-such-program-here", "bin"])
def test_the_lookup_agrees_with_shutil_which_on_the_real_path(name: str) -> None:
    path = child_path()
    assert _which(name, path) == shutil.which(name, path=path)


def test_directories_unreadable_and_non_executable_files_are_passed_over(tmp_path: Path) -> None:
    first, second, third = (tmp_path / n for n in ("a", "b", "c"))
    for folder in (first, second, third):
        folder.mkdir()
    (first / "tool").mkdir()  # a folder by the program's name
    (second / "tool").write_text("#!/bin/sh\n")  # not executable
    (third / "tool").write_text("#!/bin/sh\n")
    (third / "tool").chmod(0o755)
    path = os.pathsep.join(map(str, (first, tmp_path / "missing", second, third)))
    assert _which("tool", path) == shutil.which("tool", path=path) == str(third / "tool")
    assert _which("tool", os.pathsep.join(map(str, (first, second)))) is None


def test_empty_and_relative_entries_never_look_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "planted").write_text("#!/bin/sh\n")
    (tmp_path / "planted").chmod(0o755)
    monkeypatch.chdir(tmp_path)
    for path in ("", ":", ".", "./", f"nowhere{os.pathsep}."):
        assert _which("planted", path) is None
