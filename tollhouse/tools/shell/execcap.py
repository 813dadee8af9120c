"""Exec-capable argument forms, as data.

A rule such as ``git *`` or ``find . *`` reads as "this program, any arguments", but some arguments turn
a harmless program into "run anything": ``git -c core.pager=sh``, ``find -exec``, ``tar
--checkpoint-action=exec=...``, wrappers such as ``env``, ``timeout`` or ``xargs`` that run the command
they are given. ``guarded_indices(argv)`` returns the positions of such words. Policy matches a guarded
word only with a literal pattern word, never with a wildcard, so these forms are denied unless a rule
names them explicitly.

The table is the single place that knows program syntax; docs/tools/shell.md lists it. When in doubt the
analysis guards more (fail closed): an unknown option of a strict wrapper guards every later word.
"""

from __future__ import annotations

import os
import re

from tollhouse.tools.shell.exectable import NICE, PROGRAMS, SHELLS, Spec

_VERSION_SUFFIX = re.compile(r"[\d.]+$")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_MAX_DEPTH = 8


def spec_for(word: str) -> Spec | None:
    """The spec for a program word: its base name, then without a version suffix (python3.12)."""
    name = os.path.basename(word) or word
    spec = PROGRAMS.get(name)
    if spec is None:
        bare = _VERSION_SUFFIX.sub("", name)
        spec = PROGRAMS.get(bare) if bare else None
    return spec


def guarded_indices(argv: list[str]) -> list[int]:
    """Positions of exec-capable words in ``argv`` (sorted)."""
    out: set[int] = set()
    _analyse(argv, 0, len(argv), out, 0)
    return sorted(out)


def _long_match(word: str, names: frozenset[str]) -> bool:
    """GNU getopt accepts any unambiguous prefix of a long option, with ``=value`` attached."""
    name = word.split("=", 1)[0]
    if name in names:
        return True
    if word.startswith("--") and len(name) >= 3:
        return any(n.startswith(name) for n in names if n.startswith("--"))
    return False


_LETTERS: dict[int, tuple[Spec, frozenset[str]]] = {}


def _letters(spec: Spec) -> frozenset[str]:
    """Every exec-capable short letter: the declared ones and each one-letter option in ``opts``, since
    getopt and git's parse-options take a short option's value attached (``-o/any/path``) and inside a
    cluster (``-vo/any/path``). Specs are table constants, so the cache (by identity) stays small."""
    cached = _LETTERS.get(id(spec))
    if cached is None or cached[0] is not spec:
        one_letter = {o[1] for o in spec.opts if len(o) == 2 and o[0] == "-" and o != "--"}
        found = frozenset(spec.letters) | one_letter
        cached = _LETTERS[id(spec)] = (spec, found)
    return cached[1]


def _option_guarded(word: str, spec: Spec) -> bool:
    if _long_match(word, spec.opts):
        return True
    if not word.startswith("--") and len(word) > 1:
        # A short cluster (-ec), or a short option with its value attached (-oProxyCommand=x).
        letters = _letters(spec)
        return any(letter in letters for letter in word[1:])
    return False


def _takes_value(word: str, spec: Spec) -> bool:
    if "=" in word and word.startswith("--"):
        return False
    if word.startswith("--"):
        return word in spec.values
    return word in spec.values  # short: only the bare two-character form takes the next word


def _known_flag(word: str, spec: Spec) -> bool:
    assert spec.flags is not None
    name = word.split("=", 1)[0]
    if name in spec.flags or name in spec.values:
        return True
    # Attached short values (-n5, -oL) of a known value option.
    if not word.startswith("--") and len(word) > 2 and word[:2] in spec.values:
        return True
    # nice's historic -5 / --5 form.
    return spec is NICE and bool(re.fullmatch(r"--?\d+", word))


def _analyse(argv: list[str], start: int, end: int, out: set[int], depth: int) -> None:
    """Analyse ``argv[start:end]`` where ``argv[start]`` is a program word."""
    if start >= end:
        return
    if depth > _MAX_DEPTH:
        out.update(range(start, end))
        return
    spec = spec_for(argv[start])
    if spec is None:
        return
    if spec.self_:
        out.add(start)
    _scan(argv, start, end, spec, out, depth)


def _scan(argv: list[str], start: int, end: int, spec: Spec, out: set[int], depth: int) -> None:
    if spec.rest:
        out.update(range(start + 1, end))
        return
    i = start + 1
    operand = 0
    options_done = False
    while i < end:
        word = argv[i]
        if not options_done and word == "--":
            options_done = spec.dashdash
            i += 1
            continue
        if not options_done and word.startswith(("-", "+")) and word not in ("-", "+"):
            if word.startswith("+") and not spec.plus:
                pass  # an operand such as "+1" for most programs
            else:
                if word.startswith("+") or _option_guarded(word, spec):
                    out.add(i)
                if spec.module_opt and word.startswith(spec.module_opt):
                    # `python -m pytest ...`: the module is a program; the rest is its argv.
                    at = i if len(word) > len(spec.module_opt) else i + 1
                    module = word[len(spec.module_opt) :] if at == i else (argv[at] if at < end else "")
                    inner = spec_for(module) if module else None
                    if inner is not None:
                        if depth >= _MAX_DEPTH:
                            out.update(range(i, end))
                        elif inner.self_ or inner.rest:
                            out.update(range(at, end))
                        else:
                            _scan(argv, at, end, inner, out, depth + 1)
                    return
                if word in spec.inner_opts:
                    stop = next((j for j in range(i + 1, end) if argv[j] in (";", "+")), end)
                    if i + 1 < stop:
                        out.add(i + 1)
                        _analyse(argv, i + 1, stop, out, depth + 1)
                    i = stop + 1
                    continue
                if spec.flags is not None and not _known_flag(word, spec) and not _option_guarded(word, spec):
                    out.update(range(i, end))  # strict wrapper, unknown option: fail closed
                    return
                i += 2 if _takes_value(word, spec) else 1
                continue
        # An operand.
        if spec.plus and word.startswith("+"):
            out.add(i)
        if _ASSIGN.match(word) and (spec.guard_assign or (spec.assignments and operand == 0)):
            if spec.guard_assign:
                out.add(i)
            i += 1
            continue
        if operand == 0 and spec.subs:
            sub = spec.subs.get(word)
            if sub is not None:
                if sub.self_:
                    out.add(i)
                _scan(argv, i, end, sub, out, depth)
                return
        if operand == 0 and spec.old_letters and not word.startswith("-") and i == start + 1:
            if any(letter in spec.old_letters for letter in word):
                out.add(i)
        if spec.operand is not None and operand == spec.operand:
            out.add(i)
        if spec.wrapper and operand == spec.skip:
            out.add(i)
            _analyse(argv, i, end, out, depth + 1)
            return
        operand += 1
        i += 1


# Programs that read code from stdin when given no script operand (`sh`, `python -`, `perl`).
STDIN_INTERPRETERS = frozenset(
    {
        *SHELLS,
        "python",
        "pypy",
        "perl",
        "ruby",
        "node",
        "nodejs",
        "bun",
        "php",
        "lua",
        "luajit",
        "tclsh",
        "Rscript",
        "busybox",
        "env",
        "xargs",
    }
)


def stdin_is_code(argv: list[str] | tuple[str, ...]) -> bool:
    """True when ``argv`` is an interpreter that would execute its stdin: no script operand, or ``-``."""
    name = os.path.basename(argv[0])
    bare = _VERSION_SUFFIX.sub("", name) or name
    if name not in STDIN_INTERPRETERS and bare not in STDIN_INTERPRETERS:
        return False
    operands = [t for t in argv[1:] if not t.startswith("-") or t == "-"]
    return not operands or "-" in operands or "-s" in argv[1:]
