"""``tollhouse tools``: the catalogue as this workspace's policy sees it."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from tollhouse.cli import exitcodes
from tollhouse.cli.common import load, print_json

HELP = """\
List every tool tollhouse can run here, its effects, and whether this workspace's policy could
ever allow it ("never" means every call is denied; "ask"/"allow" rules exist otherwise).

examples:
  tollhouse tools
  tollhouse tools --family files
  tollhouse tools --json | jq '.[].name'
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "tools", help="list the tools and what policy permits", description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--family", help="only this family (files, shell, memory, cases, github)")
    p.add_argument("--json", action="store_true", help="full catalogue entries with JSON Schemas")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tollhouse.gate.catalogue import build_catalogue
    from tollhouse.gate.policy import Policy
    from tollhouse.tools import registry_for

    config = load(args)
    registry = registry_for(config)
    policy = Policy.load(config, registry)
    specs = [s for s in build_catalogue(registry) if args.family in (None, s.family)]
    if args.json:
        print_json(
            [
                {
                    **asdict(s),
                    "effects": sorted(s.effects),
                    "could_allow": policy.could_allow(registry.get(s.name)),
                }
                for s in specs
            ]
        )
        return exitcodes.OK
    width = max((len(s.name) for s in specs), default=4)
    print(f"{'tool':<{width}}  {'effects':<15}  {'policy':<6}  title")
    for s in specs:
        could = "may" if policy.could_allow(registry.get(s.name)) else "never"
        print(f"{s.name:<{width}}  {','.join(sorted(s.effects)):<15}  {could:<6}  {s.title}")
    return exitcodes.OK
