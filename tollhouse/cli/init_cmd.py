"""``tollhouse init``: a commented tollhouse.toml with a safe policy, and the state directory."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import anyio

from tollhouse.cli import exitcodes
from tollhouse.cli.common import CommandError, print_json
from tollhouse.config import CONFIG_NAME, parse_config
from tollhouse.profiles import PROFILES, render

HELP = (
    """\
Create tollhouse.toml in a folder (default: here) with a starting policy, and the .tollhouse/ state
directory: receipts database, state database and the receipt-signing key (mode 0600).

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
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)

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
        print_json({"config": str(path), "state_dir": str(state), "profile": args.profile})
    else:
        print(f"wrote {path} (profile {args.profile})")
        print(f"state in {state} (receipts, state database, signing key)")
        print('next: `tollhouse policy check`, then `tollhouse call files_list \'{"path": "."}\'`')
    return exitcodes.OK
