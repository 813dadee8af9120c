"""The verifier itself: rows in, one at a time, a ``VerifyResult`` out (see ``verify.py``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tollhouse.receipts.merkle import Frontier, leaf_hash
from tollhouse.receipts.note import NoteError, origin_for, parse_checkpoint
from tollhouse.receipts.schema import HASHED_FIELDS, ZERO_HASH
from tollhouse.receipts.signing import key_id_of, verify_checkpoint_signature

# Rows are read with their columns already in sorted-key order: the encoder then skips sorting.
SORTED_FIELDS: tuple[str, ...] = tuple(sorted(HASHED_FIELDS))
VERIFY_COLUMNS = ", ".join((*SORTED_FIELDS, "hash"))
_SEQ = SORTED_FIELDS.index("seq")
_PREV = SORTED_FIELDS.index("prev_hash")
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_sha = hashlib.sha256
_BATCH = 4096  # leaves hashed into the Merkle frontier together on the fast path
_PROGRESS = 1 << 15


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    checkpoints: int
    first_bad_seq: int | None = None
    reason: str | None = None
    key_id: str | None = None
    last_checkpoint_seq: int | None = None
    """Entries after this seq are protected by the hash chain only, not yet by a signature."""
    uncovered: int = 0
    """How many entries at the head no signed checkpoint covers."""
    root: str | None = None
    """Hex Merkle root of all ``count`` entries (None when the chain is broken)."""
    anchors: int = 0
    """Older checkpoints and witness copies the store was checked against."""
    resumed_from: int = 0
    """Entries 1..resumed_from were verified by an earlier run (``resume``) and not read again."""
    state: dict[str, Any] | None = field(default=None, compare=False)
    """What a later run needs to resume after this one (only when ok): see ``verify_db``."""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("state")
        return out


def _hash(values: Sequence[Any]) -> str | None:
    """Hash of a row in SORTED_FIELDS order; extra trailing values (the stored hash) are ignored.

    None when the values cannot have been written by the store (NaN, undecodable text): the caller
    reports a mismatch. ``surrogatepass`` keeps undecodable bytes distinct from any valid string.
    """
    try:
        text = _encode(dict(zip(SORTED_FIELDS, values, strict=False)))
        return _sha(text.encode("utf-8", "surrogatepass")).hexdigest()
    except (ValueError, TypeError):
        return None


def _matches(values: Sequence[Any], stored: Any) -> bool:
    computed = _hash(values)
    return computed is not None and computed == stored


def _with_seq(row: Sequence[Any], seq: int) -> list[Any]:
    values = list(row[:-1])
    values[_SEQ] = seq
    return values


@dataclass
class _Expect:
    size: int
    root: bytes | None  # a Merkle root (notes, anchors) ...
    head: str | None  # ... or a chain head hash (v1 checkpoints)
    label: str
    anchor: bool = False


@dataclass
class Verifier:
    """Feed rows (``VERIFY_COLUMNS`` order, by seq) then call ``finish``."""

    public_key: bytes | None
    require_head: bool = True
    problems: list[tuple[int, str]] = field(default_factory=list)
    expects: dict[int, list[_Expect]] = field(default_factory=dict)
    n_checkpoints: int = 0
    n_anchors: int = 0

    def __post_init__(self) -> None:
        self.key_id = key_id_of(self.public_key) if self.public_key is not None else None
        self.origin = origin_for(self.key_id) if self.key_id else None
        self.frontier = Frontier()
        self.count = 0
        self.intact: int | None = None  # set when the chain breaks: entries 1..intact hold
        self.prev = ZERO_HASH
        self.prev2: str | None = None
        self.last_good = 0
        self.resumed_from = 0

    def resume(self, state: dict[str, Any]) -> None:
        """Start after the entries an earlier run verified: its count, head hash and Merkle frontier."""
        self.count = self.resumed_from = int(state["size"])
        self.prev = str(state["head"])
        self.last_good = int(state["covered"])
        self.frontier.stack = [bytes.fromhex(h) for h in state["stack"]]
        self.frontier.size = self.count

    # -- what the rows are checked against ---------------------------------------------------------
    def _expect(self, e: _Expect) -> None:
        self.expects.setdefault(e.size, []).append(e)

    def add_note(self, text: str, label: str | None = None, *, anchor: bool = False) -> None:
        """A signed checkpoint: from the store, or (``anchor``) one the verifier holds or a witness."""
        if anchor:
            self.n_anchors += 1
        else:
            self.n_checkpoints += 1
        first = text.split("\n", 1)[0]
        size_text = text.split("\n", 2)[1] if text.count("\n") >= 2 else "?"
        what = label or f"checkpoint at size {size_text}"
        if self.public_key is None:
            self.problems.append((1, f"{what} cannot be checked: no public key"))
            return
        if first != self.origin:
            self.problems.append(
                (1, f"{what} is of log {first!r}, not {self.origin!r}: signed by another key (re-keyed?)")
            )
            return
        try:
            cp = parse_checkpoint(text, self.public_key, self.origin)
        except NoteError as exc:
            self.problems.append((1 if anchor else _int(size_text), f"{what}: {exc}"))
            return
        if cp.size == 0:
            return
        self._expect(_Expect(cp.size, cp.root, None, what, anchor))

    def add_v1_checkpoint(self, cp: dict[str, Any]) -> None:
        self.n_checkpoints += 1
        cseq = cp.get("seq")
        if not isinstance(cseq, int) or cseq < 1:
            self.problems.append((1, f"a checkpoint has an invalid seq {cseq!r}"))
            return
        if self.public_key is None:
            self.problems.append((cseq, f"checkpoint at seq {cseq} cannot be checked: no public key"))
            return
        if cp.get("key_id") != self.key_id:
            self.problems.append(
                (
                    cseq,
                    f"checkpoint at seq {cseq} names key {cp.get('key_id')!r}, "
                    f"not this store's key {self.key_id}",
                )
            )
            return
        if not verify_checkpoint_signature(self.public_key, cp):
            self.problems.append(
                (cseq, f"checkpoint at seq {cseq}: the signature does not verify (forged or edited)")
            )
            return
        self._expect(_Expect(cseq, None, str(cp.get("head_hash")), f"checkpoint at seq {cseq}"))

    # -- the rows ----------------------------------------------------------------------------------
    def feed(self, row: Sequence[Any]) -> None:
        self.count += 1
        if self.intact is not None:
            return  # already broken: only count the rest
        i = self.count - 1
        seq = row[_SEQ]
        if seq != i + 1:
            self._break(i, (i + 1, f"entry {i + 1} is missing (the entry after {i} is seq {seq!r})"))
            return
        stored = row[-1]
        if not _matches(row, stored):
            self._break(i, self._diagnose(row, i))
            return
        if row[_PREV] != self.prev:
            if seq == 1:
                self._break(i, (1, "entry 1 does not start the chain (its prev_hash is not 64 zeros)"))
            else:
                self._break(
                    i,
                    (
                        seq - 1,
                        f"entry {seq - 1} does not hash to the value entry {seq} recorded for it: entry "
                        f"{seq - 1} was altered and re-hashed (or entry {seq} was re-linked)",
                    ),
                )
            return
        self.prev2, self.prev = self.prev, stored
        self.frontier.append(leaf_hash(bytes.fromhex(stored)))
        expected = self.expects.get(seq)
        if expected:
            self._check(seq, expected, stored)

    def feed_canonical(
        self,
        rows: Iterable[Sequence[Any]],
        progress: Callable[[int, int], None] | None = None,
        total: int = 0,
    ) -> bool:
        """Verify's fast path: feed ``(text, seq, prev_hash, hash)`` rows whose ``text`` SQLite wrote
        as the row's canonical JSON (``sqljson``). Does what ``feed`` does for a row that holds (hash,
        seq, link, leaf, checkpoints), with the Merkle leaves added in bulk. False at the first row
        or checkpoint that does not hold: the verifier is then spent and the caller runs ``feed``
        on a new one, which says what is wrong."""
        if self.intact is not None:
            return False
        sha, fromhex, expects = _sha, bytes.fromhex, self.expects
        stops = iter([*sorted(s for s in expects if s > self.count), 0])
        stop = next(stops)
        start = count = self.count
        prev, prev2 = self.prev, self.prev2
        batch: list[str] = []
        for text, seq, linked, stored in rows:
            count += 1
            if text is None or seq != count or linked != prev or sha(text.encode()).hexdigest() != stored:
                return False
            prev2, prev = prev, stored
            batch.append(stored)
            if count == stop or len(batch) == _BATCH:
                self.frontier.extend([sha(b"\x00" + fromhex(h)).digest() for h in batch])
                batch = []
                self.count, self.prev, self.prev2 = count, prev, prev2
                if count == stop:
                    if not self._check(count, expects[count], stored):
                        return False
                    stop = next(stops)
                done = count - start
                if progress is not None and done // _PROGRESS > (done - _BATCH) // _PROGRESS:
                    progress(done, total)
        self.frontier.extend([sha(b"\x00" + fromhex(h)).digest() for h in batch])
        self.count, self.prev, self.prev2 = count, prev, prev2
        if progress is not None:
            progress(count, total)
        return True

    def join_range(self, part: dict[str, Any], last: int) -> bool:
        """Take entries ``count+1..last`` that another process checked (``hash_range.py``): they
        link to this chain's head; ``part`` holds the compact range of their Merkle leaves (and its
        head hash) at each checkpoint size in the range and at ``last``. Checks those checkpoints as
        ``feed_canonical`` would, and moves the head to ``last``."""
        if self.intact is not None or part.get("first_prev") != self.prev:
            return False
        base = self.frontier
        wanted = sorted(s for s in self.expects if self.count < s <= last)
        at = {s: (head, nodes) for s, head, nodes in part["at"]}
        if sorted(at) != wanted:
            return False
        try:
            for size in wanted:
                head, nodes = at[size]
                self.frontier = _joined(base, nodes, size)
                if not self._check(size, self.expects[size], head):
                    return False
            self.frontier = _joined(base, part["end"], last)
        except (ValueError, TypeError):
            self.frontier = base
            return False
        self.count = last
        self.prev2 = part["prev2"] if part["prev2"] is not None else self.prev
        self.prev = part["last"]
        return True

    def _break(self, i: int, problem: tuple[int, str]) -> None:
        self.problems.append(problem)
        self.intact = i

    def _check(self, seq: int, expected: list[_Expect], head: str) -> bool:
        """Check the signed roots (or v1 heads) at ``seq``; False when one disagrees."""
        root = self.frontier.root()
        ok = True
        for e in expected:
            if (e.root is not None and e.root != root) or (e.head is not None and e.head != head):
                if e.anchor:
                    reason = (
                        f"{e.label} has another Merkle root at size {seq} than this store: the history "
                        "was rewritten or forked after it was witnessed"
                    )
                    self.problems.append((self.last_good + 1, reason))
                else:
                    self.problems.append(
                        (
                            self.last_good + 1,
                            f"{e.label} signed another history: an entry in {self.last_good + 1}..{seq} was "
                            "altered and the chain re-hashed",
                        )
                    )
                ok = False
                continue
            self.last_good = max(self.last_good, seq)
        return ok

    def _diagnose(self, row: Sequence[Any], i: int) -> tuple[int, str]:
        seq = i + 1
        if _matches(_with_seq(row, seq + 1), row[-1]):
            return seq, (
                f"entry {seq} was written as seq {seq + 1}: an entry was removed or entries were reordered, "
                "and the rest renumbered"
            )
        if seq > 1 and _matches(_with_seq(row, seq - 1), row[-1]):
            if seq > 2 and row[_PREV] == self.prev2:
                return seq - 1, (
                    f"entry {seq - 1} was inserted: entry {seq} was written as seq {seq - 1} and links to "
                    f"entry {seq - 2}"
                )
            return seq, f"entry {seq} was written as seq {seq - 1}: entries were reordered or renumbered"
        return seq, f"entry {seq} does not match its hash: it was altered after it was written"

    def finish(self) -> VerifyResult:
        count = self.count
        for size in sorted(self.expects):
            if size <= count:
                continue
            for e in self.expects[size]:
                if e.anchor:
                    self.problems.append(
                        (
                            count + 1,
                            f"the store ends at seq {count} but {e.label} covers {size} entries: "
                            f"entries {count + 1}..{size} were removed (the history was truncated)",
                        )
                    )
                else:
                    self.problems.append(
                        (
                            count + 1,
                            f"the chain ends at seq {count} but a signed {e.label} covers seq {size}: "
                            f"entries {count + 1}..{size} were removed",
                        )
                    )
        covered = self.last_good
        uncovered = count - covered if self.intact is None else 0
        if self.require_head and self.intact is None and uncovered > 0 and not self.problems:
            first = covered + 1
            self.problems.append(
                (
                    first,
                    f"entries {first}..{count} are not covered by a signed checkpoint"
                    + (" (the store has none that verifies)" if covered == 0 else "")
                    + ": they may have been rewritten. A running server signs one every few seconds and at "
                    "exit; retry, or pass --no-require-head to accept an unsigned tail",
                )
            )
        root = self.frontier.root().hex() if self.intact is None else None
        state = {
            "key_id": self.key_id,
            "size": count,
            "head": self.prev,
            "covered": covered,
            "stack": [h.hex() for h in self.frontier.stack],
        }
        common = dict(
            resumed_from=self.resumed_from,
            key_id=self.key_id,
            last_checkpoint_seq=covered or None,
            uncovered=uncovered,
            root=root,
            anchors=self.n_anchors,
        )
        if self.problems:
            seq, reason = min(self.problems, key=lambda p: p[0])
            return VerifyResult(False, count, self.n_checkpoints, seq, reason, **common)  # type: ignore[arg-type]
        return VerifyResult(True, count, self.n_checkpoints, None, None, state=state, **common)  # type: ignore[arg-type]


def _joined(base: Frontier, nodes: list[list[Any]], size: int) -> Frontier:
    """``base`` extended by a compact range that starts where it ends ((level, hex) nodes, left to
    right); ValueError unless it lands exactly on ``size``."""
    f = Frontier()
    f.stack, f.size = list(base.stack), base.size
    for level, node in nodes:
        f.push(bytes.fromhex(node), int(level))
    if f.size != size:
        raise ValueError(f"the joined range ends at {f.size}, not {size}")
    return f


def _int(text: str) -> int:
    return int(text) if text.isdigit() else 1
