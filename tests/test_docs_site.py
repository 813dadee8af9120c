"""The docs site builds with MkDocs (Material) in strict mode: a broken link, a missing anchor or a
page that fails to render fails the build, and so this test. Every example script is run by a test."""

from __future__ import annotations

import py_compile
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, subprocess_env


def _build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(root / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=root, env=subprocess_env(NO_MKDOCS_2_WARNING="1"), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_docs_build_strict_with_no_warnings(tmp_path: Path) -> None:
    out = _build(REPO, tmp_path / "site")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "WARNING" not in out.stderr, out.stderr[-3000:]
    assert (tmp_path / "site" / "cli" / "index.html").exists()
    assert (tmp_path / "site" / "index.html").exists()
    page = (tmp_path / "site" / "receipts" / "index.html").read_text()
    assert "receipts report" in page
    assert (tmp_path / "site" / "assets" / "stylesheets").is_dir()  # the Material theme's own files


def test_a_broken_link_or_anchor_fails_the_build(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "docs", root / "docs")
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    page = root / "docs" / "index.md"
    page.write_text(page.read_text() + "\n[gone](no-such-page.md) [gone](cli.md#no-such-heading)\n")
    out = _build(root, tmp_path / "site")
    assert out.returncode != 0
    assert "no-such-page.md" in out.stderr and "no-such-heading" in out.stderr, out.stderr[-2000:]


def test_every_example_script_compiles_and_is_run_by_a_test() -> None:
    tests = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "tests").rglob("*.py"))
    scripts = sorted((REPO / "examples").glob("*.py"))
    assert scripts
    for script in scripts:
        py_compile.compile(str(script), doraise=True)
        assert f'"{script.name}"' in tests, f"no test runs examples/{script.name}"
