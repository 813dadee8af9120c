"""The install a new user does: build the wheel (`python -m build`), install it into a fresh virtual
environment (dependencies resolved by pip, nothing from this checkout on the path), run `tollhouse
demo`. The one expensive test of this slice (most of it is pip installing the dependencies)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_the_wheel_installs_into_a_fresh_venv_and_runs_the_demo(tmp_path: Path) -> None:
    # Build from a copy of what the wheel is made of: the build leaves build/ and *.egg-info behind.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "tollhouse", src / "tollhouse", ignore=shutil.ignore_patterns("__pycache__"))
    build = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("tollhouse-*.whl")
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta = zf.read(f"tollhouse-{version}.dist-info/METADATA").decode()
    assert f"tollhouse-{version}.dist-info/licenses/LICENSE" in names
    assert "License-Expression: Apache-2.0" in meta or "License: Apache-2.0" in meta
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/"))]

    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-compile",
         "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]

    # Nothing from this checkout: no PYTHONPATH, run from an empty folder, the venv's own script.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["TOLLHOUSE_HOME"] = str(tmp_path / "home")
    where = tmp_path / "empty"
    where.mkdir()
    tollhouse = str(venv / "bin" / "tollhouse")
    located = subprocess.run(
        [str(python), "-c", "import tollhouse; print(tollhouse.__file__)"],
        cwd=where, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert located.stdout.startswith(str(venv)), located.stdout + located.stderr
    assert subprocess.run([tollhouse, "--version"], env=env, capture_output=True, text=True,
                          timeout=60).stdout.strip() == f"tollhouse {version}"  # fmt: skip
    demo = subprocess.run(
        [tollhouse, "demo"], cwd=where, env=env, capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "every step behaved as designed" in demo.stdout
