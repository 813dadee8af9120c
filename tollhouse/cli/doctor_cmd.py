"""`tollhouse doctor`: one line per check, OK or FAIL with a fix hint."""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from tollhouse.cli import exitcodes


@dataclass
class Check:
    name: str
    status: str
    """OK, FAIL, or INFO (facts that are not problems, e.g. a client without tollhouse)."""
    detail: str
    fix: str = ""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "doctor",
        help="check config, policy, state permissions, receipts, signing key and installed clients",
        description="Run every health check and print one line each: OK, FAIL (with how to fix it) or "
        "INFO. Exits 1 if any check fails.",
    )
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(handler=run)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def check_config(args: argparse.Namespace) -> tuple[Check, object | None]:
    from tollhouse.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return Check(
            "config", "FAIL", str(exc), "run `tollhouse init`, or fix the file at the line shown"
        ), None
    return Check("config", "OK", str(config.path)), config


def check_policy(config: object) -> Check:
    try:
        from tollhouse.gate.policy import Policy
        from tollhouse.tools import build_registry

        registry = build_registry(config.tool_families, config.tool_modules)  # type: ignore[attr-defined]
        policy = Policy.load(config, registry)
    except Exception as exc:
        return Check(
            "policy",
            "FAIL",
            f"{type(exc).__name__}: {exc}",
            "fix the rule named above; nothing runs until it loads",
        )
    rules = len(getattr(config, "rules", []))
    return Check("policy", "OK", f"{rules} rules, sha256 {str(getattr(policy, 'sha256', ''))[:12]}")


def check_state_dir(state: Path) -> Check:
    if not state.is_dir():
        return Check("state dir", "FAIL", f"{state} does not exist", "run `tollhouse init`")
    mode = _mode(state)
    if state.stat().st_uid != os.getuid():
        return Check("state dir", "FAIL", f"{state} is owned by another user", f"chown -R $USER {state}")
    if mode & 0o022:
        return Check(
            "state dir", "FAIL", f"{state} is writable by others (mode {mode:o})", f"chmod 700 {state}"
        )
    return Check("state dir", "OK", f"{state} (mode {mode:o})")


def check_signing_key(state: Path) -> Check:
    key = state / "keys" / "receipts-ed25519.key"
    if not key.exists():
        return Check(
            "signing key", "FAIL", f"{key} is missing", "run `tollhouse init` to create the state folder"
        )
    mode = _mode(key)
    if mode & 0o077:
        return Check(
            "signing key", "FAIL", f"{key} is readable by others (mode {mode:o})", f"chmod 600 {key}"
        )
    return Check("signing key", "OK", f"{key} (mode {mode:o})")


def check_http_token(state: Path) -> Check | None:
    token = state / "http-token"
    if not token.exists():
        return None
    mode = _mode(token)
    if mode & 0o077:
        return Check(
            "http token", "FAIL", f"{token} is readable by others (mode {mode:o})", f"chmod 600 {token}"
        )
    return Check("http token", "OK", f"{token} (mode {mode:o})")


def check_receipts(config_path: Path, state: Path) -> Check:
    if not (state / "receipts.db").exists():
        # Nothing is damaged: there is no chain yet, and the fix is not "keep the evidence".
        return Check(
            "receipt chain",
            "FAIL",
            f"no receipt database at {state / 'receipts.db'}",
            "run `tollhouse init` to create it",
        )
    # The public `receipts verify` command is the contract; run it as a user would. --incremental:
    # only what is new since the last run that verified (remembered in the operator's folder).
    cmd = [
        sys.executable,
        "-m",
        "tollhouse",
        "--config",
        str(config_path),
        "receipts",
        "verify",
        "--incremental",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return Check(
            "receipt chain", "FAIL", "verification took over 60 s", "run `tollhouse receipts verify` by hand"
        )
    out = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
    line = out[-1] if out else f"exit {proc.returncode}"
    if proc.returncode == 0:
        return Check("receipt chain", "OK", line)
    return Check(
        "receipt chain",
        "FAIL",
        line,
        "run `tollhouse receipts verify` for details; keep the damaged file as evidence",
    )


def check_clients(config_path: Path) -> list[Check]:
    from tollhouse.server.clients import CLIENTS, ClientConfigError, entry_config, find_entries, read_config

    checks = []
    for kind in CLIENTS.values():
        path = kind.default_path()
        if not path.exists():
            checks.append(Check(f"client {kind.name}", "INFO", f"no config at {path}"))
            continue
        try:
            entries = find_entries(kind, read_config(path))
        except ClientConfigError as exc:
            checks.append(Check(f"client {kind.name}", "FAIL", str(exc), "fix the file's JSON"))
            continue
        mine = [n for n, e in entries.items() if entry_config(e) == str(config_path)]
        if mine:
            entry = entries[mine[0]]
            python = str(entry.get("command", ""))
            if not Path(python).is_file():
                checks.append(
                    Check(
                        f"client {kind.name}",
                        "FAIL",
                        f"entry {mine[0]!r} runs {python}, which does not exist",
                        f"tollhouse install {kind.name}",
                    )
                )
            else:
                checks.append(Check(f"client {kind.name}", "OK", f"entry {mine[0]!r} in {path}"))
        elif entries:
            checks.append(
                Check(
                    f"client {kind.name}",
                    "INFO",
                    f"tollhouse entries {sorted(entries)} serve other workspaces",
                )
            )
        else:
            checks.append(
                Check(
                    f"client {kind.name}",
                    "INFO",
                    f"not installed in {path}",
                    f"tollhouse install {kind.name}",
                )
            )
    return checks


def check_sandbox(config: object) -> Check:
    """Whether the shell sandbox works here: FAIL only when the policy asks for it and it cannot."""
    from tollhouse.tools.shell.sandbox import sandbox_status

    wanted = config.section("shell").get("sandbox", "none") == "bwrap"  # type: ignore[attr-defined]
    status = sandbox_status()
    if wanted:
        if status.available:
            return Check("shell sandbox", "OK", f"bwrap works here ({status.bwrap})")
        return Check(
            "shell sandbox", "FAIL", f"[shell] sandbox = \"bwrap\" but {status.detail}",
            "shell_run refuses every command until this is fixed; it never runs unsandboxed",
        )  # fmt: skip
    usable = "bwrap works here" if status.available else f"bwrap unusable here: {status.detail}"
    return Check("shell sandbox", "INFO", f'off ([shell] sandbox = "none"); {usable}')


def run(args: argparse.Namespace) -> int:
    checks: list[Check] = []
    first, config = check_config(args)
    checks.append(first)
    if config is not None:
        state = Path(config.state_dir)  # type: ignore[attr-defined]
        checks.append(check_policy(config))
        checks.append(check_state_dir(state))
        checks.append(check_signing_key(state))
        token = check_http_token(state)
        if token is not None:
            checks.append(token)
        checks.append(check_receipts(Path(config.path), state))  # type: ignore[attr-defined]
        checks.append(check_sandbox(config))
        checks.extend(check_clients(Path(config.path)))  # type: ignore[attr-defined]
    failed = any(c.status == "FAIL" for c in checks)
    if args.json:
        json.dump({"ok": not failed, "checks": [asdict(c) for c in checks]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            hint = f"  -> fix: {c.fix}" if c.status == "FAIL" and c.fix else ""
            print(f"{c.status:<4}  {c.name:<{width}}  {c.detail}{hint}")
    return exitcodes.TOOL_ERROR if failed else exitcodes.OK
