"""Repository scoping: facets for policy, and pinning against the private-read -> public-write flow."""

from __future__ import annotations

import pytest

from tests.github.conftest import Harness
from tests.github.fake_github import FakeGitHub
from tollhouse.globs import compile_name_glob
from tollhouse.tools.base import PolicyDenied, ToolError

pytestmark = pytest.mark.anyio


async def test_toxic_flow_private_read_then_public_write_is_denied(
    harness: Harness, fake: FakeGitHub
) -> None:
    # 1. the agent reads a public issue that carries instructions; 2. it reads the private repo;
    # 3. it tries to post what it found on the public issue.
    await harness.run("github_get_issue", {"repo": "acme/widget", "number": 2}, session="s1")
    await harness.run("github_get_file", {"repo": "acme/secret", "path": "keys.txt"}, session="s1")
    with pytest.raises(PolicyDenied) as info:
        await harness.run(
            "github_comment", {"repo": "acme/widget", "number": 2, "body": "hunter2"}, session="s1"
        )
    assert info.value.rule == "github.pinning"
    assert str(info.value).startswith(
        "repository pinning: this session read private repository acme/secret; "
        "writes to acme/widget are denied"
    )
    assert fake.count("POST", ".") == 0  # denied before any request


async def test_every_write_tool_is_pinned(harness: Harness, fake: FakeGitHub) -> None:
    await harness.run("github_get_repo", {"repo": "acme/secret"}, session="s")
    writes = [
        ("github_comment", {"repo": "octo/public", "number": 1, "body": "x"}),
        ("github_create_issue", {"repo": "octo/public", "title": "x"}),
        ("github_update_issue", {"repo": "octo/public", "number": 1, "body": "x"}),
        ("github_create_pull", {"repo": "octo/public", "title": "x", "head": "a", "base": "main"}),
    ]
    for tool, args in writes:
        with pytest.raises(PolicyDenied, match="read private repository acme/secret"):
            await harness.run(tool, args, session="s")
    assert fake.count("POST", ".") == fake.count("PATCH", ".") == 0


async def test_writing_back_to_the_private_repo_is_allowed(harness: Harness) -> None:
    await harness.run("github_list_issues", {"repo": "acme/secret"}, session="s")
    out, _ = await harness.run(
        "github_comment", {"repo": "ACME/Secret", "number": 1, "body": "ok"}, session="s"
    )
    assert out.comment_id > 0


async def test_reading_public_repos_does_not_pin(harness: Harness) -> None:
    await harness.run("github_get_issue", {"repo": "acme/widget", "number": 1}, session="s")
    await harness.run("github_search_issues", {"query": "repo:octo/public typo"}, session="s")
    await harness.run("github_comment", {"repo": "octo/public", "number": 1, "body": "fine"}, session="s")


async def test_search_of_a_private_repo_pins(harness: Harness) -> None:
    await harness.run("github_search_issues", {"query": "repo:acme/secret keys"}, session="s")
    with pytest.raises(PolicyDenied):
        await harness.run("github_comment", {"repo": "octo/public", "number": 1, "body": "x"}, session="s")


async def test_two_private_repos_pin_each_other(harness: Harness, fake: FakeGitHub) -> None:
    fake.add_repo("acme/vault", private=True)
    fake.add_issue("acme/vault", "v")
    await harness.run("github_get_repo", {"repo": "acme/secret"}, session="s")
    await harness.run("github_get_issue", {"repo": "acme/vault", "number": 1}, session="s")
    with pytest.raises(PolicyDenied, match="read private repository acme/secret; writes to acme/vault"):
        await harness.run("github_comment", {"repo": "acme/vault", "number": 1, "body": "x"}, session="s")


async def test_session_pins_alone_are_per_session(make_harness) -> None:
    harness = make_harness("pin_ttl_s = 0")  # workspace pins off
    await harness.run("github_get_repo", {"repo": "acme/secret"}, session="a")
    await harness.run("github_comment", {"repo": "octo/public", "number": 1, "body": "x"}, session="b")
    with pytest.raises(PolicyDenied):
        await harness.run("github_comment", {"repo": "octo/public", "number": 1, "body": "x"}, session="a")


async def test_a_new_session_does_not_reset_the_workspace_pin(harness: Harness, fake: FakeGitHub) -> None:
    await harness.run("github_get_repo", {"repo": "acme/secret"}, session="a")
    for session in ("b", "fresh-1", None):
        with pytest.raises(PolicyDenied) as info:
            await harness.run(
                "github_comment", {"repo": "octo/public", "number": 1, "body": "x"}, session=session
            )
        assert str(info.value).startswith(
            "repository pinning: a call on this workspace read private repository acme/secret in the "
            "last 86400 s (github.pin_ttl_s; a new session does not reset it); "
            "writes to octo/public are denied"
        )
    assert fake.count("POST", ".") == 0


async def test_calls_without_session_share_one_process_bucket(harness: Harness) -> None:
    await harness.run("github_get_repo", {"repo": "acme/secret"})
    with pytest.raises(PolicyDenied):
        await harness.run("github_comment", {"repo": "octo/public", "number": 1, "body": "x"})


async def test_failed_visibility_lookup_counts_as_private(harness: Harness, fake: FakeGitHub) -> None:
    fake.fail("GET", "^/repos/octo/public$", 404)
    await harness.run("github_list_issues", {"repo": "octo/public"}, session="s")
    with pytest.raises(PolicyDenied, match="read private repository octo/public"):
        await harness.run("github_comment", {"repo": "acme/widget", "number": 1, "body": "x"}, session="s")


async def test_pinning_can_be_switched_off(make_harness) -> None:
    h = make_harness("pin_after_private_read = false")
    await h.run("github_get_repo", {"repo": "acme/secret"}, session="s")
    out, _ = await h.run("github_comment", {"repo": "octo/public", "number": 1, "body": "x"}, session="s")
    assert out.comment_id > 0


@pytest.mark.parametrize(
    ("tool", "args", "repos"),
    [
        ("github_get_repo", {"repo": "Acme/Widget"}, ["acme/widget"]),
        ("github_list_issues", {"repo": "acme/widget"}, ["acme/widget"]),
        ("github_get_issue", {"repo": "acme/widget", "number": 1}, ["acme/widget"]),
        ("github_list_pulls", {"repo": "acme/widget"}, ["acme/widget"]),
        ("github_get_pull", {"repo": "acme/widget", "number": 3}, ["acme/widget"]),
        ("github_get_file", {"repo": "acme/widget", "path": "README.md"}, ["acme/widget"]),
        (
            "github_search_issues",
            {"query": "repo:Octo/Public repo:acme/widget bug"},
            ["acme/widget", "octo/public"],
        ),
        ("github_search_issues", {"query": "bug"}, ["(no repository named)"]),
        ("github_search_issues", {"query": "org:acme bug"}, ["(no repository named)"]),
        ("github_comment", {"repo": "acme/widget", "number": 1, "body": "x"}, ["acme/widget"]),
        ("github_create_issue", {"repo": "acme/widget", "title": "x"}, ["acme/widget"]),
        ("github_update_issue", {"repo": "acme/widget", "number": 1, "state": "closed"}, ["acme/widget"]),
        (
            "github_create_pull",
            {"repo": "acme/widget", "title": "x", "head": "f", "base": "main"},
            ["acme/widget"],
        ),
    ],
)
def test_every_tool_has_a_lower_cased_repos_facet(
    harness: Harness, tool: str, args: dict, repos: list[str]
) -> None:
    parsed, ctx = harness.context(tool, args)
    assert ctx.tool.facets(parsed) == {"repos": repos}


def test_repo_globs_constrain_the_facets(harness: Harness) -> None:
    # The policy engine matches `repos` name globs on these facets: check that the facet strings
    # behave with tollhouse.globs the way an operator's rules expect.
    own = compile_name_glob("acme/*")

    def facet(tool: str, args: dict) -> list[str]:
        return harness.registry.get(tool).facets(harness.context(tool, args)[0])["repos"]

    assert [bool(own.match(r)) for r in facet("github_get_repo", {"repo": "ACME/widget"})] == [True]
    assert [bool(own.match(r)) for r in facet("github_get_repo", {"repo": "acme-evil/widget"})] == [False]
    assert [bool(own.match(r)) for r in facet("github_get_repo", {"repo": "acmex/widget"})] == [False]
    unscoped = facet("github_search_issues", {"query": "bug"})
    assert not any(compile_name_glob(g).match(r) for g in ("acme/*", "*/*") for r in unscoped)


def test_catalogue_effects_and_annotations(harness: Harness) -> None:
    reads = {t.name for t in harness.registry if "write" not in t.effects}
    writes = {t.name for t in harness.registry if "write" in t.effects}
    assert reads == {
        "github_get_repo",
        "github_list_issues",
        "github_get_issue",
        "github_list_pulls",
        "github_get_pull",
        "github_get_file",
        "github_search_issues",
    }
    assert writes == {"github_comment", "github_create_issue", "github_update_issue", "github_create_pull"}
    for tool in harness.registry:
        assert "network" in tool.effects and tool.credential == "github:default" and tool.output_model
    assert harness.registry.get("github_update_issue").destructive


@pytest.mark.parametrize("value", ["-1", "'a day'", "true"])
async def test_a_bad_pin_ttl_is_a_clear_error_and_nothing_is_sent(
    make_harness, fake: FakeGitHub, value: str
) -> None:
    h = make_harness(f"pin_ttl_s = {value}")
    with pytest.raises(ToolError, match=r"^config github\.pin_ttl_s must be a number >= 0 \(got "):
        await h.run("github_comment", {"repo": "octo/public", "number": 1, "body": "x"}, session="s")
    assert fake.count("POST", ".") == 0


async def test_workspace_pins_belong_to_their_workspace(fake: FakeGitHub, tmp_path) -> None:
    """One process serving two workspaces: a private read in one pins writes there, not in the other."""
    from tests.github.conftest import config_text

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = Harness(tmp_path / "a", config_text(fake.url))
    second = Harness(tmp_path / "b", config_text(fake.url))
    await first.run("github_get_repo", {"repo": "acme/secret"}, session="a1")
    out, _ = await second.run(
        "github_comment", {"repo": "octo/public", "number": 1, "body": "x"}, session="b1"
    )
    assert out.comment_id > 0
    with pytest.raises(PolicyDenied, match="a call on this workspace read private repository acme/secret"):
        await first.run("github_comment", {"repo": "octo/public", "number": 1, "body": "x"}, session="a2")
