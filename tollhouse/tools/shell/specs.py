"""One program's grammar, as the exec-capable table (``exectable``) records it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Spec:
    """How one program (or one subcommand) can be made to execute something else."""

    self_: bool = False
    """The program token itself is exec-capable (wrappers, ``eval``, ``sudo``)."""
    rest: bool = False
    """Every token after the program is guarded (syntax too rich to analyse: sudo, watch, gdb...)."""
    opts: frozenset[str] = frozenset()
    """Exec-capable options. Long ones also match any abbreviation GNU getopt would accept
    (``--checkpoint-a``) and an attached value (``--rsh=cmd``)."""
    letters: str = ""
    """Exec-capable short options, also inside a cluster (``sh -ec``, ``tar -xIf``)."""
    values: frozenset[str] = frozenset()
    """Options that take the next token as their value (so that value is not taken for an operand)."""
    flags: frozenset[str] | None = None
    """For a strict wrapper: every option it knows that takes no value. Any other option guards the rest."""
    wrapper: bool = False
    """An operand (after ``skip`` of them) starts an inner command, itself analysed and guarded."""
    skip: int = 0
    assignments: bool = False
    """``NAME=value`` operands before the inner command are allowed (env)."""
    guard_assign: bool = False
    """``NAME=value`` operands are exec-capable (make: ``SHELL=...``, ``CC=...``)."""
    operand: int | None = None
    """Index of an operand that is program text (awk program, sed script)."""
    plus: bool = False
    """Operands starting with ``+`` are commands (vim ``+cmd``)."""
    old_letters: str = ""
    """Letters exec-capable in an old-style first operand without a dash (``tar cIf``)."""
    inner_opts: frozenset[str] = frozenset()
    """Options whose following tokens, up to ``;`` or ``+``, are an inner command (find -exec)."""
    subs: Mapping[str, Spec] = field(default_factory=dict)
    """Subcommand specs, chosen by the first operand (git rebase, uv run)."""
    module_opt: str = ""
    """An option naming a module run as a program (``python -m pytest``): the rest of argv is analysed
    with that program's own spec."""
    dashdash: bool = True
    """``--`` ends the options. Not so for find: there it only ends the global options (-H, -L, -D...),
    and every later ``-exec``/``-delete`` is still an action."""


def names(*names: str) -> frozenset[str]:
    return frozenset(names)


GUARD_ALL = Spec(self_=True, rest=True)
RUN_ANYTHING = Spec(self_=True, rest=True)  # package runners: they fetch and run what they are told
