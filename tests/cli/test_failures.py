"""Expected failures end with a message and a documented exit code, never a traceback, and the
advice never costs the user their state: a closed pipe, a read-only or full disk, a missing workspace.

The read-only and full disks are real: a read-only bind mount and a 1 MiB tmpfs over .tollhouse/,
made in a private mount namespace (`unshare -m` as root, `unshare -rm` otherwise), so the commands
meet the kernel's own EROFS and ENOSPC through the real code paths."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import th
from tests.conftest import REPO, subprocess_env, tollhouse_cmd

NO_STATE_LOSS = ("move it aside", "--force", "rm ", "delete it", "start a new chain", "start anew")


def _closed_pipe_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run with stdout a real pipe whose reader has already gone (as after `| head` exits)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            tollhouse_cmd(*args), cwd=cwd, env=subprocess_env(), stdout=write_end,
            stderr=subprocess.PIPE, text=True, timeout=60,
        )  # fmt: skip
    finally:
        os.close(write_end)


CLOSED_PIPE_COMMANDS = [
    ("receipts", "tail", "--json"),
    ("receipts", "tail"),
    ("doctor", "--json"),
    ("tools",),
    ("call", "files_read", '{"path": "src/app.py"}'),
    ("policy", "check"),
]


def test_a_closed_pipe_ends_quietly_with_141(ws: Path) -> None:
    th(ws, "call", "files_list", "{}")
    for args in CLOSED_PIPE_COMMANDS:
        out = _closed_pipe_run(ws, *args)
        assert (args, out.returncode, out.stderr) == (args, 141, "")


def test_help_into_a_closed_pipe_is_quiet() -> None:
    # argparse itself drops a failed write of --help, so this one exits 0, as quietly.
    out = _closed_pipe_run(REPO, "receipts", "--help")
    assert (out.returncode, out.stderr) == (0, "")


def test_piping_into_head_prints_no_traceback(ws: Path) -> None:
    th(ws, "call", "files_list", "{}")
    cmd = " ".join(shlex.quote(c) for c in tollhouse_cmd("receipts", "tail", "-n", "100", "--json"))
    # Enough output to fill the pipe many times over after head has gone.
    big = " ".join(shlex.quote(c) for c in tollhouse_cmd("--help"))
    script = f"set -o pipefail; {cmd} | head -n 1; echo rc=$?; for i in 1 2 3; do {big}; done | head -c 10"
    out = subprocess.run(
        ["bash", "-c", script], cwd=ws, env=subprocess_env(), capture_output=True, text=True, timeout=60
    )
    assert "Traceback" not in out.stderr and "Exception ignored" not in out.stderr, out.stderr
    assert out.stdout.splitlines()[0] == "["


def _namespace(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a bash script in a private mount namespace (mounts vanish with it)."""
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    env = subprocess_env(TH=" ".join(shlex.quote(c) for c in tollhouse_cmd()))
    return subprocess.run(
        [*unshare, "bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


# Each command that writes state, with the exit code and words it must end with.
WRITERS = [
    "call files_list '{}'",
    "cases open 'a case'",
    "grant files_list",
    "receipts export --out .tollhouse/bundle.jsonl",
]


def _each(commands: list[str]) -> str:
    return "\n".join(f'echo "== {c}" >&2; $TH {c} >/dev/null; echo "rc=$?" >&2' for c in commands)


def _results(stderr: str) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    for block in stderr.split("== ")[1:]:
        head, _, rest = block.partition("\n")
        body, _, rc = rest.rpartition("rc=")
        found[head] = (int(rc.split()[0]), body)
    return found


def _assert_clean(results: dict[str, tuple[int, str]], words: str) -> None:
    for command, (code, message) in results.items():
        assert code == 7, (command, code, message)
        assert "Traceback" not in message, (command, message)
        assert words in message, (command, message)
        assert "Do not delete or move .tollhouse/ to fix this" in message, (command, message)
        for bad in NO_STATE_LOSS:
            assert bad not in message, (command, bad, message)


def test_a_read_only_state_folder_is_named_and_nothing_changes(ws: Path) -> None:
    th(ws, "call", "files_list", "{}")
    before = _fingerprint(ws)
    script = (
        "set -u; mount --bind .tollhouse .tollhouse && mount -o remount,bind,ro .tollhouse || exit 99\n"
        + _each(WRITERS)
        + '\necho "== doctor" >&2; $TH doctor --json; echo "rc=$?" >&2'
    )
    out = _namespace(script, ws)
    results = _results(out.stderr)
    doctor = results.pop("doctor")
    assert doctor[0] == 1
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert checks["state dir"]["status"] == "FAIL" and "read-only" in checks["state dir"]["detail"]
    assert set(results) == set(WRITERS), out.stderr
    _assert_clean(results, "read-only")
    assert _fingerprint(ws) == before


def test_a_full_disk_is_named_and_the_receipts_survive(ws: Path) -> None:
    th(ws, "call", "files_list", "{}")
    script = (
        "set -u; cp -a .tollhouse ../saved && mount -t tmpfs -o size=1m tmpfs .tollhouse || exit 99\n"
        "cp -a ../saved/. .tollhouse/ && dd if=/dev/zero of=.tollhouse/fill bs=4k 2>/dev/null\n"
        + _each(WRITERS)
        + '\necho "== doctor" >&2; $TH doctor --json; echo "rc=$?" >&2'
        + "\nrm .tollhouse/fill; $TH receipts verify --json > ../verify.json; echo $? > ../verify.rc"
        + "\n$TH call files_list '{}' > /dev/null; echo $? > ../after.rc"
    )
    out = _namespace(script, ws)
    results = _results(out.stderr)
    doctor = results.pop("doctor")
    assert doctor[0] == 1
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert checks["state dir"]["status"] == "FAIL" and "full" in checks["state dir"]["detail"]
    assert set(results) == set(WRITERS), out.stderr
    _assert_clean(results, "the disk is full")
    # Once space is freed, the chain written before the disk filled verifies and calls work again.
    assert (ws.parent / "verify.rc").read_text().strip() == "0"
    assert json.loads((ws.parent / "verify.json").read_text())["ok"] is True
    assert (ws.parent / "after.rc").read_text().strip() == "0"


def _fingerprint(ws: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((ws / ".tollhouse").iterdir()) if p.is_file()}


def test_no_workspace_says_how_to_make_one(tmp_path: Path) -> None:
    for args in (("call", "files_list", "{}"), ("receipts", "tail"), ("cases", "list"), ("grants",)):
        out = th(tmp_path, *args)
        assert out.returncode == 2, (args, out.stderr)
        assert "no tollhouse.toml found" in out.stderr and "tollhouse init" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr


def test_a_lost_state_folder_is_recreated_by_init_and_the_policy_kept(ws: Path) -> None:
    import shutil

    policy = (ws / "tollhouse.toml").read_bytes()
    shutil.rmtree(ws / ".tollhouse")
    doctor = th(ws, "doctor", "--json")
    failed = {c["name"]: c["fix"] for c in json.loads(doctor.stdout)["checks"] if c["status"] == "FAIL"}
    assert failed and all("tollhouse init" in fix for fix in failed.values()), failed
    assert failed["state dir"] == "run `tollhouse init` (it keeps tollhouse.toml)"
    out = th(ws, "init")
    assert out.returncode == 0, out.stderr
    assert "kept" in out.stdout and "created" in out.stdout
    assert (ws / "tollhouse.toml").read_bytes() == policy
    assert (ws / ".tollhouse" / "receipts.db").exists()
    assert th(ws, "call", "files_read", '{"path": "src/app.py"}').returncode == 0


def test_init_never_makes_a_new_key_for_a_signed_chain(ws: Path) -> None:
    from tests.conftest import key_dir

    th(ws, "call", "files_list", "{}")
    keys = key_dir(ws / ".tollhouse")
    shutil_keys = keys.parent / "keys-away"
    keys.rename(shutil_keys)
    before = _fingerprint(ws)
    out = th(ws, "init")
    assert out.returncode == 7, out.stderr
    assert "Restore the key file from a backup; nothing was changed" in out.stderr
    assert not keys.exists() and _fingerprint(ws) == before
    doctor = json.loads(th(ws, "doctor", "--json").stdout)
    key = next(c for c in doctor["checks"] if c["name"] == "signing key")
    assert key["status"] == "FAIL" and key["fix"].startswith("restore the key file from a backup")


def test_init_force_keeps_the_old_policy_beside_the_new(ws: Path) -> None:
    (ws / "tollhouse.toml").write_text((ws / "tollhouse.toml").read_text() + "\n# mine\n")
    old = (ws / "tollhouse.toml").read_bytes()
    out = th(ws, "init", "--force", "--profile", "readonly")
    assert out.returncode == 0, out.stderr
    assert (ws / "tollhouse.toml.bak").read_bytes() == old
    assert (ws / "tollhouse.toml").read_bytes() != old


def test_unexpected_errors_still_show_their_traceback() -> None:
    """Only expected failures are worded; a bug must stay visible."""
    code = "from tollhouse.cli.errors import guarded\nguarded(lambda: 1 / 0)\n"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=subprocess_env(), capture_output=True, text=True
    )
    assert out.returncode == 1 and "ZeroDivisionError" in out.stderr
