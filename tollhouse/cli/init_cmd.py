"""``tollhouse init``: a commented tollhouse.toml with a safe policy, and the state directory."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import anyio

from tollhouse.cli import exitcodes
from tollhouse.cli.common import CommandError, print_json
from tollhouse.config import CONFIG_NAME, parse_config
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

examples:
  tollhouse init                    # dev profile in the current folder
  tollhouse init --profile ci repo/
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
    p.add_argument("--force", action="store_true", help="overwrite an existing tollhouse.toml")
    p.add_argument("--json", action="store_true", help="print what was created as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tollhouse.receipts import ReceiptStore
    from tollhouse.state.db import open_sync

    folder = Path(args.folder).resolve()
    if not folder.is_dir():
        raise CommandError(f"{folder} is not a folder")
    path = folder / CONFIG_NAME
    if path.exists() and not args.force:
        raise CommandError(f"{path} already exists; pass --force to replace it")
    text = render(args.profile)
    config = parse_config(text, path)  # never write a file that would not load
    try:
        check_home_outside(guarded_folders(config))  # before writing anything
    except UntrustedPolicy as exc:
        raise CommandError(str(exc), exitcodes.UNTRUSTED) from exc
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    # The person running init chose this policy: trust exactly the text just written.
    record = record_trust(path, text)

    state = config.state_dir
    state.mkdir(mode=0o700, exist_ok=True)
    open_sync(state / "state.db").close()

    async def make_store() -> None:
        store = await ReceiptStore.open(state)
        await store.close()

    anyio.run(make_store)
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
