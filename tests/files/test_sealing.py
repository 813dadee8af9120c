"""Deny means deny for every file a tool touches: walkers (search, list, find), read_many and stat
judge each file they would open or return like a path argument, and the state directory is never
reached. All through the real gate, as a prompt-injected model would call.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from tests.files.conftest import tree_state
from tollhouse.config import parse_config
from tollhouse.gate.gate import Gate
from tollhouse.gate.types import Call

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

MARK = "SEALED-VALUE"
READERS = ["files_read", "files_read_many", "files_list", "files_find", "files_search", "files_stat"]

# The shape `tollhouse init` writes: one deny rule over files_* and a broad read allow.
POLICY = f"""
[tools]
families = ["files"]

[[rules]]
id = "no-secrets"
tools = ["files_*"]
paths = ["**/.env", "**/.env.*", "**/*.pem", "**/*.key", "**/id_rsa*", "secrets/**"]
effect = "deny"

[[rules]]
id = "read-workspace"
tools = {json.dumps(READERS)}
effect = "allow"
"""

# A narrower policy: the deny rule names only files_read. What files_read may not show, no walker
# shows either.
READ_ONLY_DENY = POLICY.replace('tools = ["files_*"]', 'tools = ["files_read"]')

SECRET_FILES = [".env", "x/.env.local", "certs/server.pem", "b.key", "home/id_rsa", "secrets/plan.txt"]


def make(tmp_path: Path, policy: str = POLICY):
    root = tmp_path / "ws"
    root.mkdir(parents=True)
    for rel in SECRET_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"{MARK} in {rel}\n")
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("print('app')\n")
    os.symlink(root / ".env", root / "src" / "innocent.txt")  # a link inside, to a denied file
    path = root / "tollhouse.toml"
    path.write_text(textwrap.dedent(policy))
    return parse_config(path.read_text(), path), root


def files(root: Path) -> dict:
    """The workspace as the agent could change it (the gate's own state aside)."""
    return {k: v for k, v in tree_state(root).items() if not k.startswith(".tollhouse")}


async def calls(config, *items: tuple[str, dict]) -> list:
    async with await Gate.open(config) as gate:
        return [await gate.call(Call(tool, args)) for tool, args in items]


def shown(out) -> str:
    return json.dumps(out.to_json())


@pytest.mark.parametrize("policy", [POLICY, READ_ONLY_DENY], ids=["deny-files_*", "deny-files_read-only"])
async def test_walkers_withhold_denied_files_and_say_so(tmp_path, policy):
    config, root = make(tmp_path, policy)
    before = files(root)
    search, search_glob, find_pem, find_all, listing, listing_x = await calls(
        config,
        ("files_search", {"pattern": MARK, "gitignore": False}),
        ("files_search", {"pattern": ".", "glob": "**/.env*"}),  # a glob selecting only denied files
        ("files_find", {"pattern": "*.pem"}),
        ("files_find", {"pattern": "*", "gitignore": False}),
        ("files_list", {"depth": 5}),
        ("files_list", {"path": "x"}),
    )
    for out in (search, search_glob, find_pem, find_all, listing, listing_x):
        assert out.status == "ok", out.message
        assert MARK not in shown(out)
        assert out.result["withheld"] >= 1
        assert (
            "withheld by policy (rule" in out.result["withheld_note"]
            and "no-secrets" in (out.result["withheld_note"])
        )
    assert search.result["matches"] == [] and search_glob.result["matches"] == []
    assert find_pem.result["matches"] == []
    names = {e["path"] for e in find_all.result["matches"]} | {e["path"] for e in listing.result["entries"]}
    for rel in [*SECRET_FILES, "secrets", ".tollhouse", ".tollhouse/receipts.db"]:
        assert rel not in names, rel
    assert {"src", "src/app.py", "src/innocent.txt", "x"} <= names  # the rest is still there
    # .env, x/.env.local, certs/server.pem, b.key, home/id_rsa, secrets (once) and .tollhouse (state).
    assert find_all.result["withheld"] == 7
    assert find_all.result["withheld_note"] == (
        "7 entries were withheld by policy (rules no-secrets, workspace.state): "
        "not listed, opened or searched; a withheld folder counts once"
    )
    assert listing_x.result["withheld"] == 1 and listing_x.result["entries"] == []
    assert files(root) == before


@pytest.mark.parametrize("policy", [POLICY, READ_ONLY_DENY], ids=["deny-files_*", "deny-files_read-only"])
async def test_direct_reads_of_denied_files_are_refused(tmp_path, policy):
    config, _ = make(tmp_path, policy)
    tries = [
        ("files_read", {"path": ".env"}),
        ("files_read", {"path": "src/innocent.txt"}),  # the link resolves to .env
        ("files_read", {"path": "b.key", "as_base64": True}),
        ("files_stat", {"path": "certs/server.pem"}),
        ("files_search", {"pattern": ".", "path": "x/.env.local"}),
        ("files_search", {"pattern": ".", "path": "secrets"}),
        ("files_list", {"path": "secrets"}),
        ("files_find", {"pattern": "*", "path": "secrets"}),
    ]
    for (tool, args), out in zip(tries, await calls(config, *tries), strict=True):
        assert out.status == "denied", (tool, args, out.status, out.message)
        assert "no-secrets" in out.message and MARK not in shown(out), (tool, out.message)


async def test_read_many_with_a_mix(tmp_path):
    config, _ = make(tmp_path)
    [out] = await calls(config, ("files_read_many", {"paths": ["src/app.py", ".env"]}))
    # A deny rule matching any path argument denies the call: nothing of the call is returned.
    assert out.status == "denied" and out.result is None
    assert out.message.startswith("denied by rule no-secrets: path .env matches **/.env")
    config, _ = make(tmp_path / "narrow", READ_ONLY_DENY)
    [out] = await calls(config, ("files_read_many", {"paths": ["src/app.py", ".env", "src/innocent.txt"]}))
    # Not a files_read_many rule, so the call runs; each denied file is refused on its own.
    assert out.status == "ok" and MARK not in shown(out)
    files = out.result["files"]
    assert files[0] == {
        "path": "src/app.py", "ok": True, "content": "print('app')\n", "error": None,
        "truncated": False, "next_offset": None,
    }  # fmt: skip
    assert [f["ok"] for f in files] == [True, False, False]
    assert files[1]["error"] == (
        "'.env' is withheld by policy (rule no-secrets): no file tool reads, lists, searches or describes it"
    )
    assert files[2]["error"].startswith("'.env' is withheld by policy (rule no-secrets)")


STATE_TRIES = [
    ("files_read", {"path": ".tollhouse/receipts.db", "as_base64": True}),
    ("files_read", {"path": ".tollhouse/http-token"}),
    ("files_read", {"path": "src/../.tollhouse/http-token"}),
    ("files_read", {"path": "statelink/http-token"}),  # a symlink to the state directory
    ("files_read_many", {"paths": ["src/app.py", ".tollhouse/state.db"]}),
    ("files_stat", {"path": ".tollhouse/receipts.db"}),
    ("files_list", {"path": ".tollhouse"}),
    ("files_find", {"pattern": "*", "path": ".tollhouse"}),
    ("files_search", {"pattern": ".", "path": ".tollhouse"}),
    ("files_search", {"pattern": ".", "path": ".tollhouse/http-token"}),
]


async def test_state_is_unreachable_whatever_the_rules(tmp_path):
    # A policy that allows every file tool everywhere, with no deny rule at all.
    everything = (
        POLICY.split("[[rules]]")[0] + '[[rules]]\nid = "all"\ntools = ["files_*"]\neffect = "allow"\n'
    )
    config, root = make(tmp_path, everything)
    (root / ".tollhouse").mkdir()
    (root / ".tollhouse" / "http-token").write_text(f"{MARK}-token\n")
    os.symlink(root / ".tollhouse", root / "statelink")
    async with await Gate.open(config) as gate:  # creates receipts.db and state.db
        outs = [await gate.call(Call(tool, args)) for tool, args in STATE_TRIES]
        search = await gate.call(Call("files_search", {"pattern": "SQLite|" + MARK, "gitignore": False}))
    for (tool, args), out in zip(STATE_TRIES, outs, strict=True):
        assert out.status == "denied", (tool, args, out.status, out.message)
        assert out.decision.rules == ("workspace.state",), (tool, out.decision)
        assert "no tool reaches it" in out.message and MARK not in shown(out)
    assert search.status == "ok" and "SQLite" not in shown(search) and "-token" not in shown(search)
    assert search.result["withheld"] == 1  # .tollhouse, once (statelink is a link: never entered)
    assert "workspace.state" in search.result["withheld_note"]


async def test_a_hard_link_to_a_state_file_is_withheld_by_inode(tmp_path):
    everything = (
        POLICY.split("[[rules]]")[0] + '[[rules]]\nid = "all"\ntools = ["files_*"]\neffect = "allow"\n'
    )
    config, root = make(tmp_path, everything)
    (root / ".tollhouse").mkdir()
    (root / ".tollhouse" / "http-token").write_text(f"{MARK}-token\n")
    os.link(root / ".tollhouse" / "http-token", root / "src" / "notes.txt")
    tries = [
        ("files_read", {"path": "src/notes.txt"}),
        ("files_read", {"path": "src/notes.txt", "as_base64": True}),
        ("files_stat", {"path": "src/notes.txt"}),
        ("files_search", {"pattern": "token"}),
        ("files_list", {"path": "src"}),
    ]
    read, b64, stat, search, listing = await calls(config, *tries)
    for out in (read, b64, stat):
        assert out.status == "denied" and out.decision.rules == ("workspace.state",), out.message
        assert out.message == (
            "'src/notes.txt' is withheld by policy (rule workspace.state): "
            "no file tool reads, lists, searches or describes it"
        )
    for out in (search, listing):
        assert out.status == "ok" and MARK not in shown(out) and "notes.txt" not in shown(out)
        assert out.result["withheld"] >= 1


async def test_hard_link_to_a_denied_file_is_judged_by_its_own_name(tmp_path):
    """Documented (docs/policy.md): deny rules judge names, and a hard link is another name with no
    trace of the first. A hard link to `.env` called `notes.txt` reads like any file; only the state
    directory is also judged by inode. No file tool can create a hard link."""
    config, root = make(tmp_path)
    os.link(root / ".env", root / "src" / "notes.txt")
    read, stat = await calls(
        config, ("files_read", {"path": "src/notes.txt"}), ("files_stat", {"path": ".env"})
    )
    assert read.status == "ok" and MARK in read.result["content"]
    assert stat.status == "denied"  # the original name stays denied


async def test_a_credential_file_the_config_names_is_state(tmp_path):
    everything = (
        POLICY.split("[[rules]]")[0]
        + '[credentials."github:default"]\nsource = "file:conf/gh-token"\n\n'
        + '[[rules]]\nid = "all"\ntools = ["files_*"]\neffect = "allow"\n'
    )
    config, root = make(tmp_path, everything)
    (root / "conf").mkdir()
    (root / "conf" / "gh-token").write_text("ghp_CREDENTIAL\n")
    read, via_dots, search, listing = await calls(
        config,
        ("files_read", {"path": "conf/gh-token"}),
        ("files_read", {"path": "src/../conf/gh-token", "as_base64": True}),
        ("files_search", {"pattern": "CREDENTIAL|gh"}),
        ("files_list", {"path": "conf"}),
    )
    for out in (read, via_dots):
        assert out.status == "denied" and out.decision.rules == ("workspace.state",)
        assert out.message == (
            "denied by built-in rule workspace.state: path conf/gh-token is a credential file named by "
            "the config; no tool reaches it"
        )
    for out in (search, listing):
        assert out.status == "ok" and "CREDENTIAL" not in shown(out)
    assert [m["path"] for m in search.result["matches"]] == ["tollhouse.toml"]  # it names the file
    assert search.result["withheld"] == 2  # .tollhouse and conf/gh-token
    assert listing.result["withheld"] == 1 and listing.result["entries"] == []


@pytest.mark.parametrize(
    "header",
    [
        b"-----BEGIN PRIVATE KEY-----",
        b"-----BEGIN RSA PRIVATE KEY-----",
        b"-----BEGIN OPENSSH PRIVATE KEY-----",
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----",
        b"-----BEGIN PGP PRIVATE KEY BLOCK-----",
    ],
)
async def test_base64_never_carries_a_private_key_block(tmp_path, header):
    """Any name (not only *.pem/*.key): base64 output passes the redactor unseen, so a file holding
    a private key block is refused in that mode."""
    config, root = make(tmp_path)
    (root / "src" / "blob.bin").write_bytes(b"\x00\x01junk\n" + header + b"\nMIIEvQIBADANBg\n-----END-----\n")
    [out] = await calls(config, ("files_read", {"path": "src/blob.bin", "as_base64": True}))
    assert out.status == "error" and out.result is None
    assert out.message == (
        "'src/blob.bin' holds a private key block; it is not returned as base64 "
        "(read it as text, where the key is redacted)"
    )
    assert "MIIEvQ" not in shown(out)


async def test_a_tree_move_or_delete_never_carries_a_denied_entry_out_from_under_its_rule(tmp_path):
    policy = POLICY.replace('"secrets/**"]', '"secrets/**", "docs/private/**"]').replace(
        'tools = ["files_*"]', 'tools = ["files_read"]'
    )
    policy += '\n[[rules]]\nid = "change"\ntools = ["files_move", "files_delete"]\neffect = "allow"\n'
    config, root = make(tmp_path, policy)
    (root / "docs" / "private").mkdir(parents=True)
    (root / "docs" / "private" / "plan.md").write_text(f"{MARK}\n")
    (root / "docs" / "index.md").write_text("public\n")
    before = files(root)
    move, delete, move_env = await calls(
        config,
        ("files_move", {"source": "docs", "destination": "pub"}),  # would make it pub/private/plan.md
        ("files_delete", {"path": "docs", "recursive": True}),
        ("files_move", {"source": "x", "destination": "y"}),  # x/.env.local
    )
    assert move.status == "denied" and move.decision.rules == ("no-secrets",)
    assert move.message == (
        "'docs/private' is withheld by policy (rule no-secrets); a tree containing it is not moved or deleted"
    )
    assert delete.status == "denied" and delete.message.startswith("'docs/private' is withheld by policy")
    assert move_env.status == "denied" and "'x/.env.local' is withheld by policy" in move_env.message
    assert files(root) == before


async def test_a_file_no_one_may_read_is_not_renamed_or_edited_out_from_under_its_rule(tmp_path):
    policy = (
        READ_ONLY_DENY
        + '\n[[rules]]\nid = "change"\ntools = ["files_move", "files_edit"]\neffect = "allow"\n'
    )
    config, root = make(tmp_path, policy)
    before = files(root)
    move, edit = await calls(
        config,
        ("files_move", {"source": ".env", "destination": "src/notes.txt"}),
        ("files_edit", {"path": "b.key", "edits": [{"old_text": "in", "new_text": "IN"}], "dry_run": True}),
    )
    for out in (move, edit):
        assert out.status == "denied" and out.decision.rules == ("no-secrets",), out.message
        assert "is withheld by policy (rule no-secrets)" in out.message and MARK not in shown(out)
    assert files(root) == before


async def test_the_operator_home_is_sealed_when_it_lies_under_a_root(tmp_path, monkeypatch):
    everything = (
        POLICY.split("[[rules]]")[0] + '[[rules]]\nid = "all"\ntools = ["files_*"]\neffect = "allow"\n'
    )
    config, root = make(tmp_path, everything)
    home = root / "ops-home"
    (home / "trust").mkdir(parents=True)
    (home / "trust" / "record.json").write_text(f"{MARK}-trust\n")
    monkeypatch.setenv("TOLLHOUSE_HOME", str(home))
    config = parse_config(config.text, config.path)  # the home is looked up once per workspace
    read, listing = await calls(
        config, ("files_read", {"path": "ops-home/trust/record.json"}), ("files_list", {"depth": 1})
    )
    assert read.status == "denied" and read.decision.rules == ("workspace.state",)
    assert "ops-home" not in {e["path"] for e in listing.result["entries"]}
    assert listing.result["withheld"] == 2  # .tollhouse and ops-home


async def test_a_workspace_inside_the_operator_home_stays_usable(tmp_path, monkeypatch):
    everything = (
        POLICY.split("[[rules]]")[0] + '[[rules]]\nid = "all"\ntools = ["files_*"]\neffect = "allow"\n'
    )
    monkeypatch.setenv("TOLLHOUSE_HOME", str(tmp_path))
    config, root = make(tmp_path, everything)  # the workspace is tmp_path/ws, inside the home
    (root / "trust").mkdir()  # a workspace folder named like the home's: not the home's
    (root / "trust" / "a.txt").write_text("mine\n")
    (tmp_path / "trust").mkdir(exist_ok=True)
    read, mine = await calls(
        config, ("files_read", {"path": "src/app.py"}), ("files_read", {"path": "trust/a.txt"})
    )
    assert read.status == "ok" and read.result["content"] == "print('app')\n"
    assert mine.status == "ok"
