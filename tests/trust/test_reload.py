"""A running server keeps the policy it trusted, reports an untrusted change, and reloads a trusted
one (on `tollhouse policy trust` or SIGHUP) without a restart. Real `tollhouse serve` over stdio."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import subprocess_env, tollhouse_cmd, trust_config
from tests.server.conftest import INIT, make_workspace, outcomes
from tests.trust.conftest import sha, th

ALLOW_NOOP = 'tools = ["demo_wait", "demo_noop"]'
NO_NOOP = 'tools = ["demo_wait"]'
BAD_RULE = '\n[[rules]]\nid = "x"\ntools = ["demo_noop"]\neffect = "perhaps"\n'


class Server:
    """`tollhouse serve` on stdio, spoken to line by line; stderr collected as it arrives."""

    def __init__(self, root: Path, poll: str) -> None:
        self.proc = subprocess.Popen(
            tollhouse_cmd("--config", str(root / "tollhouse.toml"), "serve"),
            cwd=root, env=subprocess_env(TOLLHOUSE_POLICY_POLL_S=poll),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.log: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        self.next_id = 1
        self.request("initialize", INIT["params"])
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        want = self.next_id
        self.send({"jsonrpc": "2.0", "id": want, "method": method, "params": params})
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            assert line, "server closed stdout:\n" + "\n".join(self.log)
            msg = json.loads(line)
            if msg.get("id") == want:
                return msg

    def noop(self) -> bool:
        """True if demo_noop ran (allowed), False if refused."""
        result = self.request("tools/call", {"name": "demo_noop", "arguments": {}})["result"]
        return not result.get("isError")

    def wait_log(self, needle: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.log):
                if needle in line:
                    return line
            time.sleep(0.02)
        raise AssertionError(f"no log line with {needle!r}:\n" + "\n".join(self.log))

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def ws(workspace: Path) -> Path:
    return make_workspace(workspace)


def _doctor_servers(root: Path) -> dict[str, dict[str, Any]]:
    out = json.loads(th(root, "--config", str(root / "tollhouse.toml"), "doctor", "--json").stdout)
    return {c["name"]: c for c in out["checks"] if c["name"].startswith("server ")}


def test_an_untrusted_change_is_reported_and_ignored_a_trusted_one_is_picked_up(ws: Path) -> None:
    config = ws / "tollhouse.toml"
    old = sha(config)
    server = Server(ws, poll="0.1")
    try:
        assert server.noop()
        config.write_text(config.read_text().replace(ALLOW_NOOP, NO_NOOP))
        new = sha(config)
        line = server.wait_log("changed since you trusted it")
        assert f"still enforcing the trusted policy {old[:12]}" in line and "tollhouse policy trust" in line
        assert server.noop()  # the trusted policy holds
        assert server.log.count(line) == 1  # reported once, not once per poll
        [check] = _doctor_servers(ws).values()
        assert check["status"] == "FAIL" and f"enforces policy {old[:12]}" in check["detail"]

        assert th(ws, "--config", str(config), "policy", "trust").returncode == 0
        server.wait_log(f"policy reloaded: now enforcing the trusted policy {new[:12]} (was {old[:12]})")
        assert not server.noop()
        [check] = _doctor_servers(ws).values()
        assert check["status"] == "OK" and new[:12] in check["detail"]
    finally:
        server.close()
    hashes = [(r["outcome"], r["policy_hash"]) for r in outcomes(ws, "demo_noop")]
    assert hashes == [("ok", old), ("ok", old), ("denied", new)]
    assert _doctor_servers(ws) == {}  # its status file went with it


def test_sighup_reloads_a_trusted_change_at_once(ws: Path) -> None:
    config = ws / "tollhouse.toml"
    server = Server(ws, poll="0")  # no polling: only SIGHUP looks at the file
    try:
        assert server.noop()
        config.write_text(config.read_text().replace(ALLOW_NOOP, NO_NOOP))
        trust_config(config)
        time.sleep(0.3)
        assert server.noop()  # not looked at yet
        server.proc.send_signal(signal.SIGHUP)
        server.wait_log(f"policy reloaded: now enforcing the trusted policy {sha(config)[:12]}")
        assert not server.noop()
        assert server.proc.poll() is None  # SIGHUP no longer ends the server
    finally:
        server.close()


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda t: t.replace("max_argument_bytes = 4096", "max_argument_bytes = 8192"),
         "sections other than [[rules]] changed ([limits]); restart the server to apply them"),
        (lambda t: t.replace(ALLOW_NOOP, NO_NOOP) + BAD_RULE,
         "effect must be allow, ask or deny, not 'perhaps'"),
    ],
    ids=["other-section", "does-not-load"],
)  # fmt: skip
def test_a_trusted_change_that_cannot_be_applied_keeps_the_old_policy(
    ws: Path, change: Any, why: str
) -> None:
    config = ws / "tollhouse.toml"
    old = sha(config)
    server = Server(ws, poll="0")
    try:
        config.write_text(change(config.read_text()))
        trust_config(config)
        server.proc.send_signal(signal.SIGHUP)
        line = server.wait_log("not loaded")
        assert line.startswith(
            f"tollhouse: trusted policy {sha(config)[:12]} not loaded, still enforcing {old[:12]}: "
        )
        assert why in line
        assert server.noop()
    finally:
        server.close()
