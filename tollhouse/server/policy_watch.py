"""A running server keeps the policy a person trusted, and picks up a newly trusted one.

Once a second (in a thread of its own: the call path never waits on it, and re-parsing a policy
never blocks the event loop) the watcher stats the config file and its trust record; SIGHUP makes it
look at once. A changed file that is not trusted is
reported in the server log, once per version, and the trusted policy stays in force. A file whose new
hash is trusted (``tollhouse policy trust``, or ``$TOLLHOUSE_TRUST_POLICY``) is re-parsed and its
rules rebuilt into a new Policy, swapped in whole; a reload that fails keeps the old policy and says
why. Only ``[[rules]]`` reload live: a change to any other section (roots, tools, limits, ...) needs a
restart, and the server says so instead of applying half of it.

Each server also leaves a small status file in the operator's folder for the workspace
(``servers/<pid>.json``: the policy hash it enforces), so ``tollhouse doctor`` can say whether the
servers running now enforce the file as it is.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tollhouse.config import ConfigError, parse_config, read_config_text
from tollhouse.opdirs import ensure_private_dir, secrets_dir
from tollhouse.trust import UntrustedPolicy, record_file, record_stamp, refusal, trust_state

POLL_S = 1.0
ENV_POLL = "TOLLHOUSE_POLICY_POLL_S"


def poll_interval() -> float | None:
    """Seconds between looks at the file (``$TOLLHOUSE_POLICY_POLL_S``, default 1); None: SIGHUP only."""
    raw = os.environ.get(ENV_POLL, "").strip()
    try:
        value = float(raw) if raw else POLL_S
    except ValueError:
        value = POLL_S
    return value if value > 0 else None


def _servers_dir(state_dir: Path) -> Path:
    return secrets_dir(state_dir) / "servers"


def running_servers(state_dir: Path) -> list[dict[str, Any]]:
    """Status of the servers now running for this workspace (files of exited ones are skipped)."""
    found = []
    folder = _servers_dir(state_dir)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            os.kill(int(data["pid"]), 0)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # gone (or unreadable): not a running server
        found.append(data)
    return found


class PolicyWatch:
    def __init__(self, gate: Any, say: Callable[[str], None], *, channel: str = "") -> None:
        self.gate = gate
        self.say = say
        self.path: Path | None = gate.config.path
        self.channel = channel
        self._record = record_file(self.path) if self.path is not None else None
        self._stamp: tuple[Any, ...] | None = self._stamps()
        self._reported: set[str] = set()
        self._status = _servers_dir(gate.config.state_dir) / f"{os.getpid()}.json"
        self._thread: threading.Thread | None = None
        self._previous: Any = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._hup = False

    # -- status file ----------------------------------------------------------------------------
    def publish(self) -> None:
        """Write (or refresh) this server's status file; best effort, never stops the server."""
        data = {
            "pid": os.getpid(),
            "policy_sha256": self.gate.policy.sha256,
            "config": str(self.path),
            "channel": self.channel,
            "since": time.time(),
        }
        try:
            ensure_private_dir(self._status.parent)
            tmp = self._status.with_suffix(".tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, self._status)
        except OSError as exc:
            self.say(f"could not write the server status file {self._status}: {exc}")

    def withdraw(self) -> None:
        try:
            self._status.unlink(missing_ok=True)
        except OSError:
            pass

    # -- watching -------------------------------------------------------------------------------
    def _stamps(self) -> tuple[Any, ...] | None:
        if self.path is None or self._record is None:
            return None
        try:
            st = os.stat(self.path)
        except OSError:
            return ("missing", record_stamp(self._record))
        return (st.st_ino, st.st_mtime_ns, st.st_size, record_stamp(self._record))

    def start(self) -> None:
        """Publish the status file, start polling, and take SIGHUP (call from the main thread)."""
        self.publish()
        self._thread = threading.Thread(target=self._loop, name="tollhouse-policy-watch", daemon=True)
        self._thread.start()
        if hasattr(signal, "SIGHUP") and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGHUP, self._on_sighup)

    def stop(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGHUP, self._previous)
            self._previous = None
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.withdraw()

    def _on_sighup(self, signum: int, frame: object) -> None:
        self._hup = True
        self._wake.set()

    def _loop(self) -> None:
        interval = poll_interval()
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            force, self._hup = self._hup, False
            if force:
                self.say("SIGHUP: checking the policy file")
            try:
                self.check(force=force)
            except Exception as exc:  # the watcher must never die silently, nor take the server down
                self.say(f"policy watch: {type(exc).__name__}: {exc}")

    def check(self, *, force: bool = False) -> bool:
        """Look at the file (if its stat or trust record changed, or ``force``); True if reloaded."""
        stamp = self._stamps()
        if stamp == self._stamp and not force:
            return False
        self._stamp = stamp
        assert self.path is not None
        current = self.gate.policy.sha256
        try:
            text = read_config_text(self.path)
        except ConfigError as exc:
            self._report("unreadable", f"cannot read the policy file ({exc}); still enforcing {current[:12]}")
            return False
        try:
            state = trust_state(self.path, text)
        except UntrustedPolicy as exc:
            self._report("env", f"{exc}; still enforcing {current[:12]}")
            return False
        if state.sha256 == current:
            return False
        if not state.ok:
            self._report(
                state.sha256,
                refusal(state).replace(
                    "nothing was run", f"still enforcing the trusted policy {current[:12]}"
                ),
            )
            return False
        return self._reload(text, state.sha256)

    def _report(self, key: str, message: str) -> None:
        if key not in self._reported:  # once per version, not once a second
            self._reported.add(key)
            self.say(message)

    def _reload(self, text: str, digest: str) -> bool:
        from tollhouse.gate.policy import Policy

        old = self.gate.policy.sha256
        try:
            config = parse_config(text, self.path)
            changed = sorted(
                key
                for key in set(config.data) | set(self.gate.config.data)
                if key != "rules" and config.data.get(key) != self.gate.config.data.get(key)
            )
            if changed:
                raise ConfigError(
                    "sections other than [[rules]] changed ("
                    + ", ".join(f"[{k}]" for k in changed)
                    + "); restart the server to apply them"
                )
            policy = Policy.load(config, self.gate.registry)
        except Exception as exc:  # any failure: the old policy stays, and the log says why
            self._report(
                f"failed:{digest}",
                f"trusted policy {digest[:12]} not loaded, still enforcing {old[:12]}: {exc}",
            )
            return False
        self.gate.policy = policy  # one attribute swap: a call decides under the old or the new, whole
        self.say(f"policy reloaded: now enforcing the trusted policy {digest[:12]} (was {old[:12]})")
        self.publish()
        return True
