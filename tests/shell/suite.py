"""Building the adversarial suite's world: workspace traps, an outside folder, the marker file."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.shell.cases import Case, fill

EVIL = "#!/bin/sh\ntouch '{marker}'\n"


@dataclass
class World:
    ws: Path
    out: Path
    marker: Path

    def args(self, case: Case) -> dict[str, Any]:
        return fill(case.args, {"M": str(self.marker), "WS": str(self.ws), "OUT": str(self.out)})


def build_world(tmp: Path, ws: Path) -> World:
    out = tmp / "outside"
    out.mkdir()
    marker = out / "MARKER"
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(ws),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ],
        check=True,
    )
    evil = EVIL.format(marker=marker)
    for place in (ws / "git", ws / "bin" / "git", ws / "bin" / "pytest", out / "git", ws / "evil.sh"):
        place.parent.mkdir(exist_ok=True)
        place.write_text(evil)
        place.chmod(0o755)
    (ws / "rc").write_text(evil.split("\n", 1)[1])
    (ws / "x.awk").write_text(f'BEGIN {{ system("touch {marker}") }}\n')
    os.symlink(shutil.which("sh") or "/bin/sh", ws / "pytest")
    os.symlink(out, ws / "outlink")
    return World(ws, out, marker)
