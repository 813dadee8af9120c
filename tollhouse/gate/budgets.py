"""Budgets and rate limits: how much may be done per tool, principal and session or run.

The gate asks after policy allowed a call (deny wins: a budget can only take an allow away, never
give one): ``peek`` before a person is asked to approve (nobody approves a call that would be
refused anyway), ``admit`` right before the call runs, which checks every covering budget and
counts the call in one SQLite write transaction, so parallel calls of one session, and calls from
several processes sharing a principal's budget, can never overshoot a limit. A call over a limit is
denied with the budget and the limit named (rule ``budget.<id>``) and receipted like any denial.

Usage lives in the workspace's state database (``.tollhouse/state.db``, tables ``budget_usage`` and
``budget_scopes``), so every scope survives across processes: a principal's daily spend, and a run
resumed by another process. With a PostgreSQL store (``url``) the same tables live there
(``budgets_pg.py``), so a principal's budget holds across every server using the store.

The runner reports model usage with ``charge_model`` (tokens and cost, cost estimated from
``[prices]`` when not given) and learns whether its budget is spent from the returned
``BudgetStatus`` (or ``status``); a spent token, cost or wall-time budget also denies the run's
further tool calls.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from tollhouse.gate.budgets_config import Budget, Prices, parse_budgets, parse_prices
from tollhouse.gate.types import Call, Decision

SCHEMA = """
CREATE TABLE IF NOT EXISTS budget_usage (
    id INTEGER PRIMARY KEY,
    budget TEXT NOT NULL,
    scope TEXT NOT NULL,
    at REAL NOT NULL,
    calls INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL NOT NULL DEFAULT 0,
    unpriced TEXT
);
CREATE INDEX IF NOT EXISTS budget_usage_scope ON budget_usage(budget, scope, at);
CREATE TABLE IF NOT EXISTS budget_scopes (
    budget TEXT NOT NULL,
    scope TEXT NOT NULL,
    started REAL NOT NULL,
    PRIMARY KEY (budget, scope)
);
"""

WINDOW_S = 60.0


@dataclass(frozen=True)
class Over:
    """A budget that refuses: which one, which limit, and the sentence a person reads."""

    budget: Budget
    limit: str
    message: str

    def decision(self, policy_hash: str) -> Decision:
        return Decision("deny", (f"budget.{self.budget.id}",), self.message, policy_hash)


@dataclass(frozen=True)
class BudgetStatus:
    """What ``charge_model`` / ``status`` tell the runner: spent means stop (with a handoff)."""

    spent: bool
    over: tuple[Over, ...] = ()
    cost_usd: float | None = None
    """The cost charged by this call (estimated when not given), None when the model has no price."""

    @property
    def reasons(self) -> list[str]:
        return [o.message for o in self.over]


@dataclass
class Budgets:
    """The budgets of the policy in force, counted in ``db_path``. One per gate (``gate.budgets``)."""

    db_path: Path
    process: str = ""
    """Scope of calls whose face names no session: this process."""
    clock: Callable[[], float] = time.time
    url: str | None = None
    """A PostgreSQL store: usage is counted there, shared by every server (None: ``db_path``)."""
    _conn: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _parsed: tuple[str, list[Budget], Prices] | None = None

    # -- which budgets apply --------------------------------------------------------------------

    def rules(self, policy: Any) -> tuple[list[Budget], Prices]:
        """The budgets of ``policy``'s configuration (re-read when the policy is swapped)."""
        key = policy.sha256  # the hash of the whole config text: budgets and prices included
        if self._parsed is None or self._parsed[0] != key:
            data, text = policy.config.data, policy.config.text
            self._parsed = (key, parse_budgets(data, text), parse_prices(data, text))
        return self._parsed[1], self._parsed[2]

    def _scope(self, budget: Budget, principal: str, session: str | None, run: str | None) -> str:
        if budget.per == "principal":
            return f"principal:{principal}"
        if budget.per == "run":
            key = run or session
            return f"run:{key}" if key else f"process:{self.process}"
        return f"session:{session}" if session else f"process:{self.process}"

    def _for_call(self, policy: Any, call: Call, tool: str, principal: str) -> list[tuple[Budget, str]]:
        budgets, _ = self.rules(policy)
        run = getattr(call, "run", None)
        out = []
        for b in budgets:
            if b.covers_tool(tool) and b.covers_principal(principal):
                scope = self._scope(b, principal, call.session, run)
                out.append((b, f"{scope} tool:{tool}" if b.each_tool else scope))
        return out

    # -- the gate's two questions ---------------------------------------------------------------

    async def peek(self, policy: Any, call: Call, tool: str, principal: str) -> Over | None:
        """Would this call be refused now? Counts nothing (asked before an approval prompt)."""
        scoped = self._for_call(policy, call, tool, principal)
        if not scoped:
            return None
        return await anyio.to_thread.run_sync(self._check, scoped, False)

    async def admit(self, policy: Any, call: Call, tool: str, principal: str) -> Over | None:
        """Refuse the call (an Over) or count it, atomically across tasks and processes."""
        scoped = self._for_call(policy, call, tool, principal)
        if not scoped:
            return None
        return await anyio.to_thread.run_sync(self._check, scoped, True)

    # -- the runner's API -----------------------------------------------------------------------

    async def charge_model(
        self,
        policy: Any,
        *,
        principal: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        session: str | None = None,
        run: str | None = None,
        cost_usd: float | None = None,
    ) -> BudgetStatus:
        """Count one model request's tokens (and its cost: given, else estimated from [prices])
        against every budget of the principal with a token or cost limit, in the run's scope; return
        whether any budget of this run is now spent."""
        budgets, prices = self.rules(policy)
        cost = cost_usd if cost_usd is not None else prices.cost(model, input_tokens, output_tokens)
        scoped = [
            (b, self._scope(b, principal, session, run))
            for b in budgets
            if b.covers_principal(principal) and (b.counts_model or b.max_wall_s is not None)
        ]
        tokens = max(0, int(input_tokens)) + max(0, int(output_tokens))
        if scoped:
            await anyio.to_thread.run_sync(self._charge, scoped, tokens, cost, model)
        status = await self.status(policy, principal=principal, session=session, run=run)
        return BudgetStatus(status.spent, status.over, cost)

    async def status(
        self, policy: Any, *, principal: str, session: str | None = None, run: str | None = None
    ) -> BudgetStatus:
        """Is the run's budget spent? Token, cost and wall-time limits of every budget covering the
        principal in the run's scope (call-count limits belong to tools, and are not a run's end)."""
        budgets, _ = self.rules(policy)
        scoped = [
            (b, self._scope(b, principal, session, run))
            for b in budgets
            if b.covers_principal(principal) and (b.counts_model or b.max_wall_s is not None)
        ]
        if not scoped:
            return BudgetStatus(False)
        over = await anyio.to_thread.run_sync(self._all_over, scoped)
        return BudgetStatus(bool(over), tuple(over))

    # -- storage (a worker thread; one connection, one lock, SQLite's write lock across processes)

    def _db(self) -> Any:
        if self._conn is not None and getattr(self._conn, "broken", False):
            self._conn.close()  # the database went away: the next call reconnects (or fails closed)
            self._conn = None
        if self._conn is None and self.url is not None:
            from tollhouse.gate.budgets_pg import PgBudgetConn

            self._conn = PgBudgetConn(self.url)
        if self._conn is None:
            conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(SCHEMA)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _check(self, scoped: list[tuple[Budget, str]], count: bool) -> Over | None:
        with self._lock:
            conn = self._db()
            now = self.clock()
            conn.execute("BEGIN IMMEDIATE" if count else "BEGIN")
            try:
                if count and hasattr(conn, "lock"):  # PostgreSQL: BEGIN IMMEDIATE's serialisation
                    conn.lock(f"{b.id} {s}" for b, s in scoped)
                for budget, scope in scoped:
                    over = _over(conn, budget, scope, now, calls=True)
                    if over is not None:
                        conn.execute("ROLLBACK")
                        return over
                if count:
                    for budget, scope in scoped:
                        _start(conn, budget, scope, now)
                        if budget.counts_calls:
                            conn.execute(
                                "INSERT INTO budget_usage (budget, scope, at, calls) VALUES (?, ?, ?, 1)",
                                (budget.id, scope, now),
                            )
                conn.execute("COMMIT")
                return None
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _charge(self, scoped: list[tuple[Budget, str]], tokens: int, cost: float | None, model: str) -> None:
        with self._lock:
            conn = self._db()
            now = self.clock()
            conn.execute("BEGIN IMMEDIATE")
            try:
                if hasattr(conn, "lock"):
                    conn.lock(f"{b.id} {s}" for b, s in scoped)
                for budget, scope in scoped:
                    _start(conn, budget, scope, now)
                    if budget.counts_model:
                        conn.execute(
                            "INSERT INTO budget_usage (budget, scope, at, tokens, cost, unpriced) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            (budget.id, scope, now, tokens, cost or 0.0, None if cost is not None else model),
                        )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _all_over(self, scoped: list[tuple[Budget, str]]) -> list[Over]:
        with self._lock:
            conn = self._db()
            now = self.clock()
            found = [_over(conn, b, s, now, calls=False) for b, s in scoped]
            return [o for o in found if o is not None]


def _start(conn: Any, budget: Budget, scope: str, now: float) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO budget_scopes (budget, scope, started) VALUES (?, ?, ?)",
        (budget.id, scope, now),
    )


def _over(conn: Any, b: Budget, scope: str, now: float, *, calls: bool) -> Over | None:
    """The first limit of ``b`` that is reached in ``scope`` (call limits only when ``calls``)."""
    who = f"per {b.per} ({scope})"

    def over(limit: str, text: str) -> Over:
        return Over(b, limit, f"denied by budget {b.id}: {text} {who}")

    if b.max_wall_s is not None:
        row = conn.execute(
            "SELECT started FROM budget_scopes WHERE budget = ? AND scope = ?", (b.id, scope)
        ).fetchone()
        if row is not None and now - row[0] >= b.max_wall_s:
            used = f"max_wall_s {b.max_wall_s:g} s of wall time used ({now - row[0]:.0f} s)"
            return over("max_wall_s", used)
    if b.counts_model:
        tokens, cost, unpriced = conn.execute(
            "SELECT COALESCE(SUM(tokens), 0), COALESCE(SUM(cost), 0), MAX(unpriced) FROM budget_usage "
            "WHERE budget = ? AND scope = ?",
            (b.id, scope),
        ).fetchone()
        if b.max_tokens is not None and tokens >= b.max_tokens:
            return over("max_tokens", f"max_tokens {b.max_tokens} model tokens used ({tokens})")
        if b.max_cost_usd is not None and unpriced is not None:
            return over(
                "max_cost_usd",
                f"max_cost_usd cannot be kept: model {unpriced!r} has no price (add it to [prices])",
            )
        if b.max_cost_usd is not None and cost >= b.max_cost_usd:
            return over("max_cost_usd", f"max_cost_usd ${b.max_cost_usd:g} spent (${cost:.4f})")
    if not calls:
        return None
    if b.max_calls is not None:
        (total,) = conn.execute(
            "SELECT COALESCE(SUM(calls), 0) FROM budget_usage WHERE budget = ? AND scope = ?", (b.id, scope)
        ).fetchone()
        if total >= b.max_calls:
            return over("max_calls", f"max_calls {b.max_calls} calls made")
    if b.calls_per_minute is not None:
        count, first = conn.execute(
            "SELECT COALESCE(SUM(calls), 0), MIN(at) FROM budget_usage "
            "WHERE budget = ? AND scope = ? AND at > ? AND calls > 0",
            (b.id, scope, now - WINDOW_S),
        ).fetchone()
        if count >= b.calls_per_minute:
            wait = max(0.0, (first or now) + WINDOW_S - now)
            return over(
                "calls_per_minute",
                f"calls_per_minute {b.calls_per_minute} reached (next call possible in {wait:.0f} s)",
            )
    return None


def usage(
    db_path: Path, budgets: list[Budget], now: float | None = None, *, url: str | None = None
) -> list[dict[str, Any]]:
    """Every scope with usage of one of ``budgets``, read-only: calls (total and in the last minute),
    tokens, cost, seconds since it started, and the limits it has reached. With ``url``, the usage
    every server counted in the PostgreSQL store."""
    now = time.time() if now is None else now
    if url is not None:
        from tollhouse.gate.budgets_pg import PgBudgetConn

        conn: Any = PgBudgetConn(url)
    elif not Path(db_path).is_file():
        return []
    else:
        conn = sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "budget_scopes" not in tables:
            conn.close()
            return []
    try:
        out = []
        for b in budgets:
            scopes = conn.execute(
                "SELECT scope, started FROM budget_scopes WHERE budget = ? ORDER BY started", (b.id,)
            ).fetchall()
            for scope, started in scopes:
                calls, tokens, cost = conn.execute(
                    "SELECT COALESCE(SUM(calls), 0), COALESCE(SUM(tokens), 0), COALESCE(SUM(cost), 0) "
                    "FROM budget_usage WHERE budget = ? AND scope = ?",
                    (b.id, scope),
                ).fetchone()
                (recent,) = conn.execute(
                    "SELECT COALESCE(SUM(calls), 0) FROM budget_usage "
                    "WHERE budget = ? AND scope = ? AND at > ?",
                    (b.id, scope, now - WINDOW_S),
                ).fetchone()
                over = _over(conn, b, scope, now, calls=True)
                out.append(
                    {
                        "budget": b.id, "scope": scope, "calls": calls, "calls_last_minute": recent,
                        "tokens": tokens, "cost_usd": round(cost, 6), "elapsed_s": round(now - started, 1),
                        "reached": None if over is None else over.limit,
                    }
                )  # fmt: skip
        return out
    finally:
        conn.close()
