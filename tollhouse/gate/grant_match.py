"""How a grant's argument constraints judge a call, and the hint that grants exactly one call.

A grant constrains arguments the way policy rules do, with policy's own machinery:

* a *path* argument (the tool's ``path_fields``, and a command's working folder ``cwd``) is matched with
  policy's path globs against the call's *resolved*, normalised, root-relative path: ``*`` never
  crosses ``/``, ``**`` does, and ``..`` is gone before any glob sees it;
* ``argv`` is matched with policy's argv patterns (``git status *``): a wildcard never covers an
  exec-capable token;
* any other argument is matched as text with policy's name globs (a list: every item).

A constraint is stored in ``args_match`` JSON as a glob (text), a list of globs (any of them), or
``{"is": value}``: the argument equals ``value`` exactly (for a path, the resolved path).
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from tollhouse.gate.policy_match import argv_tokens_match
from tollhouse.globs import compile_name_glob, compile_path_glob
from tollhouse.tools.base import Effect, Tool
from tollhouse.workspace import Workspace

EXACT = "is"
HINT_BOUND = ("repo", "head", "base", "ref", "subject", "predicate", "case_id", "id", "supersedes", "state")
"""Text arguments (besides paths and argv/command) that name what a call acts on; the hint binds them."""


def path_args(tool: Tool) -> tuple[str, ...]:
    """Argument names holding workspace paths: the tool's own, and a command's working folder."""
    extra = ("cwd",) if Effect.EXEC in tool.effects and "cwd" in tool.input_model.model_fields else ()
    return tuple(tool.path_fields) + extra


@dataclass
class GrantSubject:
    """What a call shows grants: computed once per ask, by the gate."""

    tool: str
    args: dict[str, Any]
    digest: str
    rels: dict[str, list[str]] | None = None
    """Resolved root-relative paths per path argument; None: judge paths lexically (a display only)."""
    guarded: frozenset[int] = field(default_factory=frozenset)
    """argv indices holding exec-capable tokens (policy's facet)."""
    path_names: tuple[str, ...] = ()


def grant_subject(
    tool: Tool, args: BaseModel, args_json: dict[str, Any], digest: str, workspace: Workspace, roots: Any
) -> GrantSubject:
    """What grants judge, built by the gate: path arguments resolved as policy resolves them (a path
    that does not resolve leaves its name out, so no path grant covers it), and argv's exec-capable
    tokens as policy's facet marks them."""
    names = path_args(tool)
    rels: dict[str, list[str]] = {}
    for name in names:
        value = args_json.get(name)
        raws = value if isinstance(value, list) else [value] if isinstance(value, str) else []
        try:
            rels[name] = [workspace.resolve(r, roots).rel for r in raws if isinstance(r, str)]
        except ValueError:  # PathError: outside the roots, or a name refused outright
            continue
    guarded: frozenset[int] = frozenset()
    if isinstance(args_json.get("argv"), list):
        try:
            guarded = frozenset(int(i) for i in tool.facets(args).get("argv_guarded") or ())
        except (TypeError, ValueError):
            guarded = frozenset(range(len(args_json["argv"])))  # unreadable: guard every token
    return GrantSubject(tool.name, args_json, digest, rels, guarded, names)


def _lexical(raw: str) -> str | None:
    norm = posixpath.normpath(raw)
    if norm.startswith("/") or norm == ".." or norm.startswith("../"):
        return None
    return norm


def _paths_of(subject: GrantSubject, name: str) -> list[str] | None:
    if subject.rels is not None:
        return subject.rels.get(name)
    value = subject.args.get(name)
    values = value if isinstance(value, list) else [value]
    out = [_lexical(v) for v in values if isinstance(v, str)]
    return None if any(v is None for v in out) else out  # type: ignore[misc]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def constraint_matches(name: str, constraint: Any, subject: GrantSubject) -> bool:
    """Does one ``args_match`` entry hold for this call? Anything unreadable does not."""
    if name not in subject.args or subject.args[name] is None:
        return False
    value = subject.args[name]
    is_path = name in subject.path_names
    if isinstance(constraint, dict):
        if set(constraint) != {EXACT}:
            return False
        want = constraint[EXACT]
        if is_path:
            got = _paths_of(subject, name)
            want_list = want if isinstance(want, list) else [want]
            return (
                got is not None
                and all(isinstance(w, str) for w in want_list)
                and got == [_lexical(w) for w in want_list]
            )
        # Equal as JSON values: 5 and 5.0 are one number, but true is not 1.
        return bool(value == want and isinstance(value, bool) == isinstance(want, bool))
    globs = [constraint] if isinstance(constraint, str) else constraint
    if not isinstance(globs, list) or not globs or not all(isinstance(g, str) for g in globs):
        return False
    try:
        if is_path:
            paths = _paths_of(subject, name)
            return bool(paths) and all(any(compile_path_glob(g).match(p) for g in globs) for p in paths or ())
        if name == "argv" and isinstance(value, list):
            patterns = [shlex.split(g) for g in globs]
            return any(argv_tokens_match(p, value, subject.guarded, True) for p in patterns)
    except (ValueError, re.error):  # a stored glob that does not compile (made before grants were checked)
        return False
    items = value if isinstance(value, list) else [value]
    texts = [_text(v) for v in items]
    return bool(texts) and all(any(compile_name_glob(g).match(t) for g in globs) for t in texts)


# ---------------------------------------------------------------------------- the hint


def escape_path_glob(path: str) -> str:
    """A path glob matching exactly ``path``: each glob character becomes a one-character class, and
    so do spaces at either end (a glob is stripped of them)."""
    special = {"*": "[*]", "?": "[?]", "[": "[[]"}
    out = [special.get(c, c) for c in path]
    for i in range(len(out)):
        if not path[i].isspace():
            break
        out[i] = f"[{path[i]}]"
    for i in range(len(out) - 1, -1, -1):
        if not path[i].isspace():
            break
        out[i] = f"[{path[i]}]"
    return "".join(out)


def _plain(text: str) -> bool:
    return text.isprintable() and not any(unicodedata.category(c) == "Cf" for c in text)


def grant_hint(tool: Tool, args: dict[str, Any], rels: dict[str, list[str]] | None) -> str:
    """``tollhouse grant ...`` for exactly this call, safe to paste into a shell.

    Paths are bound by their resolved path, glob-escaped; argv, the command line, flags and the names
    a call acts on are bound with ``--is`` (exact equality, no glob); every word is shell-quoted.
    What a call carries (file content, an issue body) is not bound, so the grant names the target.
    """
    words = ["tollhouse", "grant", tool.name]
    paths = path_args(tool)
    for name in sorted(args):
        value = args[name]
        if value is None:
            continue
        if name in paths:
            resolved = (rels or {}).get(name)
            if resolved is None or not all(_plain(p) for p in resolved):
                # Holding characters a person cannot see: the resolved path bound exactly, as escaped JSON.
                exact = value if resolved is None else resolved[0] if isinstance(value, str) else resolved
                words += ["--is", f"{name}={json.dumps(exact)}"]
                continue
            words += [w for p in dict.fromkeys(resolved) for w in ("--arg", f"{name}={escape_path_glob(p)}")]
        elif name in ("argv", "command") or name in HINT_BOUND or isinstance(value, bool | int | float):
            words += ["--is", f"{name}={json.dumps(value)}"]  # ASCII: no bidi trick survives
    words += ["--uses", "1"]
    return " ".join(shlex.quote(w) for w in words)
