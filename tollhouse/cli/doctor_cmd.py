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


INIT_FIX = "run `tollhouse init` (it keeps tollhouse.toml)"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def check_config(args: argparse.Namespace) -> tuple[Check, object | None]:
    from tollhouse.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        missing = "no tollhouse.toml found" in str(exc)
        fix = "run `tollhouse init` here" if missing else "fix the file at the line shown"
        return Check("config", "FAIL", str(exc), fix), None
    return Check("config", "OK", str(config.path)), config


def check_policy(config: object) -> Check:
    try:
        from tollhouse.gate.policy import Policy
        from tollhouse.tools import registry_for

        registry = registry_for(config)  # type: ignore[attr-defined]
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
    from tollhouse.cli.errors import probe

    if not state.is_dir():
        # init in a workspace with a tollhouse.toml keeps the file and creates only what is missing.
        return Check("state dir", "FAIL", f"{state} does not exist", INIT_FIX)
    trouble = probe(state)
    if trouble == "readonly":
        return Check(
            "state dir", "FAIL", f"{state} cannot be written (read-only file system or not yours)",
            "make it writable again (remount read-write, or chmod u+w as its owner); keep its contents",
        )  # fmt: skip
    if trouble == "full":
        return Check(
            "state dir", "FAIL", f"the disk holding {state} is full",
            "free space on that disk (`df -h`); do not delete anything in .tollhouse/",
        )  # fmt: skip
    mode = _mode(state)
    if state.stat().st_uid != os.getuid():
        return Check("state dir", "FAIL", f"{state} is owned by another user", f"chown -R $USER {state}")
    if mode & 0o022:
        return Check(
            "state dir", "FAIL", f"{state} is writable by others (mode {mode:o})", f"chmod 700 {state}"
        )
    return Check("state dir", "OK", f"{state} (mode {mode:o})")


def _inside(path: Path, roots: list[Path]) -> Path | None:
    real = Path(os.path.realpath(path))
    for root in roots:
        top = Path(os.path.realpath(root))
        if real == top or top in real.parents:
            return top
    return None


def _secret_file(name: str, path: Path, roots: list[Path], legacy: Path) -> Check:
    """A secret of the gate's: outside every workspace root, mode 0600, none left in the workspace."""
    if legacy.exists():
        return Check(
            name, "FAIL", f"{legacy} holds {name} material inside the workspace, where tools can read it",
            "run `tollhouse serve` or `tollhouse call` once to move it out (then consider rotating it)",
        )  # fmt: skip
    where = _inside(path, roots)
    if where is not None:
        return Check(
            name, "FAIL", f"{path} lies inside the workspace {where}", "keep it outside the workspace"
        )
    mode = _mode(path)
    if mode & 0o077:
        return Check(name, "FAIL", f"{path} is readable by others (mode {mode:o})", f"chmod 600 {path}")
    return Check(name, "OK", f"{path} (mode {mode:o}, outside the workspace)")


def check_signing_key(state: Path, roots: list[Path]) -> Check:
    from tollhouse.receipts.signing import ENV_KEY, ENV_KEY_FILE, KEY_NAME, key_dir

    legacy = state / "keys" / KEY_NAME
    if os.environ.get(ENV_KEY):
        return Check("signing key", "OK", f"from ${ENV_KEY} (the operator's environment)")
    named = os.environ.get(ENV_KEY_FILE)
    key = Path(named).expanduser() if named else key_dir(state) / KEY_NAME
    if not key.exists() and not legacy.exists():
        if (state / "receipts.db").exists():  # a new key cannot extend a chain signed by the old one
            return Check(
                "signing key", "FAIL", f"{key} is missing, but {state / 'receipts.db'} was signed with it",
                f"restore the key file from a backup to {key}; keep receipts.db as it is",
            )  # fmt: skip
        return Check("signing key", "FAIL", f"{key} is missing", INIT_FIX)
    return _secret_file("signing key", key, roots, legacy)


def check_http_token(config: object, state: Path) -> Check | None:
    from tollhouse.config import ConfigError
    from tollhouse.server.http_auth import TOKEN_FILE, token_path

    legacy = state / TOKEN_FILE
    try:
        token = token_path(config)  # type: ignore[arg-type]
    except ConfigError as exc:
        return Check("http token", "FAIL", exc.bare, "set [http] token_file outside the workspace")
    if not token.exists() and not legacy.exists():
        return None
    roots = [*config.workspace.roots, state.parent]  # type: ignore[attr-defined]
    return _secret_file("http token", token, roots, legacy)


def check_trust(config: object) -> list[Check]:
    """Is the policy the one a person trusted, and does every running server enforce it?"""
    from tollhouse.trust import UntrustedPolicy, check_home_outside, guarded_folders, refusal, trust_state

    path, text = config.path, config.text  # type: ignore[attr-defined]
    try:
        check_home_outside(guarded_folders(config))  # type: ignore[arg-type]
        state = trust_state(path, text)
    except UntrustedPolicy as exc:
        return [Check("policy trust", "FAIL", str(exc), "see docs/policy.md#trust")]
    if state.ok:
        how = "by $TOLLHOUSE_TRUST_POLICY" if state.source == "env" else "by a person"
        checks = [Check("policy trust", "OK", f"sha256 {state.sha256[:12]} trusted {how}")]
    else:
        detail = refusal(state).replace("; nothing was run", "; serve, call and export refuse it")
        checks = [Check("policy trust", "FAIL", detail, "review with `tollhouse policy diff`, then trust")]
    from tollhouse.server.policy_watch import running_servers

    for server in running_servers(config.state_dir):  # type: ignore[attr-defined]
        enforced = str(server.get("policy_sha256", ""))
        pid = server.get("pid")
        if enforced == state.sha256 and state.ok:
            checks.append(Check(f"server {pid}", "OK", f"enforces the trusted policy {enforced[:12]}"))
        else:
            detail = f"enforces policy {enforced[:12]}, the file is now {state.sha256[:12]} ({state.status})"
            fix = "trust the file (the server reloads it), or fix it and send the server SIGHUP"
            checks.append(Check(f"server {pid}", "FAIL", detail, fix))
    return checks


def check_receipts(config_path: Path, state: Path) -> Check:
    if not (state / "receipts.db").exists():
        # Nothing is damaged: there is no chain yet, and the fix is not "keep the evidence".
        return Check(
            "receipt chain",
            "FAIL",
            f"no receipt database at {state / 'receipts.db'}",
            "run `tollhouse init` to create it",
        )
    # The public `receipts verify` command is the contract; run it as a user would.
    # -P: never import a module from the working folder (the workspace, where agents write code).
    # --incremental: only what is new since the last run that verified (remembered in the operator's folder).
    cmd = [
        sys.executable, "-P", "-m", "tollhouse", "--config", str(config_path),
        "receipts", "verify", "--incremental",
    ]  # fmt: skip
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
    # The workspace's own (project) file where the client has one and it exists, then the user file.
    places = [(k, k.project_path(config_path.parent), " (project)") for k in CLIENTS.values()]
    places = [(k, p, label) for k, p, label in places if p is not None and p.exists()]
    places += [(k, k.default_path(), "") for k in CLIENTS.values()]
    for kind, path, scope in places:
        name = f"client {kind.name}{scope}"
        if not path.exists():
            checks.append(Check(name, "INFO", f"no config at {path}"))
            continue
        try:
            entries = find_entries(kind, read_config(path))
        except ClientConfigError as exc:
            checks.append(Check(name, "FAIL", str(exc), "fix the file's JSON"))
            continue
        mine = [n for n, e in entries.items() if entry_config(e) == str(config_path)]
        if mine:
            entry = entries[mine[0]]
            python = str(entry.get("command", ""))
            if not Path(python).is_file():
                checks.append(
                    Check(
                        name,
                        "FAIL",
                        f"entry {mine[0]!r} runs {python}, which does not exist",
                        f"tollhouse install {kind.name}",
                    )
                )
            else:
                checks.append(Check(name, "OK", f"entry {mine[0]!r} in {path}"))
        elif entries:
            checks.append(
                Check(
                    name,
                    "INFO",
                    f"tollhouse entries {sorted(entries)} serve other workspaces",
                )
            )
        else:
            checks.append(
                Check(
                    name,
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
    from tollhouse.tools.shell.sandbox import unsandboxed_code_warnings

    loud = unsandboxed_code_warnings(config.section("shell"), config.rules)  # type: ignore[attr-defined]
    if loud:  # an allowed command runs workspace code with the user's full powers: say so
        return Check("shell sandbox", "WARN", f'off ([shell] sandbox = "none"); {usable}; '
                     + "; ".join(message for _, message in loud))  # fmt: skip
    return Check("shell sandbox", "INFO", f'off ([shell] sandbox = "none"); {usable}')


def run(args: argparse.Namespace) -> int:
    checks: list[Check] = []
    first, config = check_config(args)
    checks.append(first)
    if config is not None:
        state = Path(config.state_dir)  # type: ignore[attr-defined]
        checks.append(check_policy(config))
        checks.extend(check_trust(config))
        checks.append(check_state_dir(state))
        checks.append(check_signing_key(state, [*config.workspace.roots, state.parent]))  # type: ignore[attr-defined]
        token = check_http_token(config, state)
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
