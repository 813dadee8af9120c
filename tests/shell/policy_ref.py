"""A small reference of the agreed argv semantics, used until the policy engine is merged.

Rule patterns are shlex-split token globs; a final ``*`` matches any remaining tokens (none included);
a guarded token is matched only by an identical literal pattern token. A ``command`` facet matches
nothing here (the suite has no ``commands`` rule). Paths must resolve inside the roots.
"""

from __future__ import annotations

import shlex

from tollhouse.globs import compile_name_glob
from tollhouse.workspace import PathError, Workspace


def argv_matches(pattern: str, argv: list[str], guarded: set[int]) -> bool:
    tokens = shlex.split(pattern)
    i = 0
    for k, pat in enumerate(tokens):
        if pat == "*" and k == len(tokens) - 1:
            return not any(j in guarded for j in range(i, len(argv)))
        if i >= len(argv):
            return False
        literal = not any(ch in pat for ch in "*?")
        if i in guarded:
            if not (literal and pat == argv[i]):
                return False
        elif not compile_name_glob(pat).match(argv[i]):
            return False
        i += 1
    return i == len(argv)


def decide(facets: dict[str, list[str]], rules: list[str], workspace: Workspace) -> str:
    for raw in facets.get("paths", []):
        try:
            workspace.resolve(raw)
        except PathError:
            return "deny"
    if "command" in facets:
        return "deny"
    argv = facets["argv"]
    guarded = {int(i) for i in facets.get("argv_guarded", [])}
    return "allow" if any(argv_matches(rule, argv, guarded) for rule in rules) else "deny"
