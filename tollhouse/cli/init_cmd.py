"""``tollhouse init``: a commented tollhouse.toml with a safe policy, and the state directory."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import anyio

from tollhouse.cli import exitcodes
from tollhouse.cli.common import CommandError, print_json
from tollhouse.config import CONFIG_NAME, Config, parse_config
from tollhouse.opdirs import secrets_dir
from tollhouse.profiles import PROFILES, render
from tollhouse.trust import UntrustedPolicy, check_home_outside, guarded_folders, record_trust

HELP = (
    """\
Create tollhouse.toml in a folder (default: here) with a starting policy, trust it (its sha256 is
recorded in the operator home, as `tollhouse policy trust` does), and create the .tollhouse/ state
directory (receipts and state databases). The receipt-signing key (mode 0600) is kept outside the
workspace, in the operator home (see docs/configuration.md).

profiles:
"""
    + "\n".join(f"  {name:<9} {text}" for name, text in PROFILES.items())
    + """

In a folder that already has a tollhouse.toml, init keeps the file as it is (and its trust) and only
creates what is missing: the state directory, its databases and the signing key. Existing receipts
are never touched. --force writes a fresh policy over the file, keeping the old one as
tollhouse.toml.bak.

examples:
  tollhouse init                    # dev profile in the current folder
  tollhouse init --profile ci repo/
  tollhouse init                    # again, after .tollhouse/ went missing: recreates only that
"""
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "init", help="create tollhouse.toml and the state directory", description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("folder", nargs="?", default=".", help="workspace folder (default: .)")
    p.add_argument(
        "--profile", choices=sorted(PROFILES), default="dev", help="starting policy (default: dev)"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write a fresh tollhouse.toml over an existing one (kept as tollhouse.toml.bak)",
    )
    p.add_argument("--json", action="store_true", help="print what was created as JSON")
    p.set_defaults(handler=run)


def _make_state(config: Config) -> list[str]:
    """Create what is missing of the state (folder, databases, key); the names of what was created."""
    from tollhouse.receipts import ReceiptStore
    from tollhouse.state.db import open_sync

    state = config.state_dir
    made = [] if state.is_dir() else [f"{state}/"]
    made += [str(state / n) for n in ("state.db", "receipts.db") if not (state / n).exists()]
    state.mkdir(mode=0o700, exist_ok=True)
    open_sync(state / "state.db").close()

    async def make_store() -> None:
        store = await ReceiptStore.open(state)
        await store.close()

    anyio.run(make_store)
    return made


def _signing_key_file(state: Path) -> Path | None:
    """Where the receipt-signing key is read from; None when it comes from the environment."""
    from tollhouse.receipts.signing import ENV_KEY, ENV_KEY_FILE, KEY_NAME, key_dir

    if os.environ.get(ENV_KEY):
        return None
    named = os.environ.get(ENV_KEY_FILE)
    return Path(named).expanduser() if named else key_dir(state) / KEY_NAME


def _repair(args: argparse.Namespace, path: Path) -> int:
    """init where a tollhouse.toml exists: keep it, create only the missing state."""
    from tollhouse.cli.common import trust_note
    from tollhouse.config import load_config

    config = load_config(str(path))  # a file that does not load is reported, never replaced
    key = _signing_key_file(config.state_dir)
    if (config.state_dir / "receipts.db").exists() and key is not None and not key.exists():
        raise CommandError(
            f"the signing key {key} is missing, but {config.state_dir / 'receipts.db'} was signed with "
            "it; a new key could not extend that chain. Restore the key file from a backup; nothing "
            "was changed",
            exitcodes.STORE_UNUSABLE,
        )
    made = _make_state(config)
    note = trust_note(config)
    if args.json:
        print_json({"config": str(path), "kept": True, "created": made, "state_dir": str(config.state_dir)})
    else:
        print(f"kept {path} as it is (use --force to replace it with a fresh policy)")
        done = f"state in {config.state_dir} is complete; nothing to do"
        print(f"created {', '.join(made)}" if made else done)
    if note:
        print(f"tollhouse: {note}", file=sys.stderr)
    return exitcodes.OK


def run(args: argparse.Namespace) -> int:
    folder = Path(args.folder).resolve()
    if not folder.is_dir():
        raise CommandError(f"{folder} is not a folder")
    path = folder / CONFIG_NAME
    if path.exists() and not args.force:
        return _repair(args, path)
    text = render(args.profile)
    config = parse_config(text, path)  # never write a file that would not load
    try:
        check_home_outside(guarded_folders(config))  # before writing anything
    except UntrustedPolicy as exc:
        raise CommandError(str(exc), exitcodes.UNTRUSTED) from exc
    if path.exists():  # --force: the person's own policy is kept beside the fresh one
        shutil.copy2(path, path.with_name(path.name + ".bak"))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    # The person running init chose this policy: trust exactly the text just written.
    record = record_trust(path, text)
    _make_state(config)
    state = config.state_dir
    ignore = folder / ".gitignore"
    if (folder / ".git").exists():
        lines = ignore.read_text().splitlines() if ignore.exists() else []
        if ".tollhouse/" not in lines:
            with ignore.open("a") as fh:
                fh.write(("\n" if lines and lines[-1] else "") + ".tollhouse/\n")
    if args.json:
        print_json(
            {
                "config": str(path),
                "state_dir": str(state),
                "profile": args.profile,
                "sha256": record.sha256,
                "secrets_dir": str(secrets_dir(config.state_dir)),
            }
        )
    else:
        print(f"wrote {path} (profile {args.profile}), trusted: sha256 {record.sha256}")
        print(f"state in {state} (receipts, state database)")
        print(f"signing key in {secrets_dir(config.state_dir) / 'keys'} (outside the workspace)")
        print('next: `tollhouse policy check`, then `tollhouse call files_list \'{"path": "."}\'`')
    return exitcodes.OK
