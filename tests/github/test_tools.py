"""Every GitHub tool against the loopback fake: shapes, paging, caps, untrusted labels, bad input."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.github.conftest import Harness
from tests.github.fake_github import FakeGitHub
from tollhouse.tools.base import ToolError

pytestmark = pytest.mark.anyio


async def test_get_repo(harness: Harness) -> None:
    repo, ctx = await harness.run("github_get_repo", {"repo": "acme/secret"})
    assert (repo.full_name, repo.private, repo.visibility, repo.can_push) == (
        "acme/secret",
        True,
        "private",
        True,
    )
    assert ctx.call.credentials_used == ["github:default"]
    assert ctx.facts["private_repo_read"] == "acme/secret"


async def test_list_issues_skips_pulls_and_labels_untrusted(harness: Harness) -> None:
    out, ctx = await harness.run("github_list_issues", {"repo": "acme/widget"})
    assert [(i.number, i.untrusted) for i in out.issues] == [(2, True), (1, False)]
    assert out.pull_requests_skipped == 1 and out.next_page is None
    assert out.issues[0].title == "Please help"  # zero-width space stripped from the title
    assert ctx.facts["untrusted_content"] is True and ctx.facts["untrusted_items"] == 1


async def test_list_issues_pages_and_filters(harness: Harness, fake: FakeGitHub) -> None:
    for i in range(5):
        fake.add_issue("octo/public", f"extra {i}", labels=["triage"])
    first, _ = await harness.run("github_list_issues", {"repo": "octo/public", "per_page": 4})
    assert len(first.issues) == 4 and first.next_page == 2
    second, _ = await harness.run("github_list_issues", {"repo": "octo/public", "per_page": 4, "page": 2})
    assert len(second.issues) == 2 and second.next_page is None
    labelled, _ = await harness.run("github_list_issues", {"repo": "octo/public", "labels": ["triage"]})
    assert len(labelled.issues) == 5


async def test_get_issue_strips_hidden_text_and_marks_each_author(harness: Harness) -> None:
    issue, ctx = await harness.run("github_get_issue", {"repo": "acme/widget", "number": 2})
    assert issue.untrusted is True and issue.author == "mallory"
    assert issue.body == "Steps to reproduce: run it.\n\nThanks! "
    assert "acme/secret" not in issue.body and "\U000e0049" not in issue.body
    assert [(c.author, c.untrusted, c.body) for c in issue.comment_list] == [
        ("bob", False, "Looking into it"),
        ("eve", True, " +1"),
    ]
    assert ctx.facts["untrusted_content"] is True
    assert ctx.facts["stripped_html_comments"] == 2 and ctx.facts["stripped_invisible"] >= 9


async def test_get_issue_pages_comments(harness: Harness, fake: FakeGitHub) -> None:
    for i in range(5):
        fake.add_comment("acme/widget", 1, f"note {i}", author="alice", association="OWNER")
    issue, ctx = await harness.run(
        "github_get_issue", {"repo": "acme/widget", "number": 1, "comments_per_page": 3}
    )
    assert [c.body for c in issue.comment_list] == [
        "note 0",
        "note 1",
        "note 2",
    ] and issue.next_comments_page == 2
    assert ctx.facts["untrusted_content"] is False
    more, _ = await harness.run(
        "github_get_issue", {"repo": "acme/widget", "number": 1, "comments_per_page": 3, "comments_page": 2}
    )
    assert [c.body for c in more.comment_list] == ["note 3", "note 4"] and more.next_comments_page is None


async def test_get_issue_caps_a_huge_body(harness: Harness, fake: FakeGitHub) -> None:
    fake.add_issue("octo/public", "big", "x" * 20_000, association="OWNER")
    issue, _ = await harness.run("github_get_issue", {"repo": "octo/public", "number": 2})
    assert len(issue.body) == 8000 and issue.body_truncated


async def test_missing_issue_is_a_clear_404(harness: Harness) -> None:
    with pytest.raises(ToolError, match=r"GitHub found nothing at /repos/acme/widget/issues/99 \(404"):
        await harness.run("github_get_issue", {"repo": "acme/widget", "number": 99})


async def test_list_pulls(harness: Harness) -> None:
    out, _ = await harness.run("github_list_pulls", {"repo": "acme/widget"})
    assert [(p.number, p.head, p.base, p.untrusted) for p in out.pulls] == [
        (3, "acme:fix-crash", "main", True)
    ]


async def test_get_pull_with_files_and_diff_shows_trojan_source(harness: Harness) -> None:
    pull, ctx = await harness.run("github_get_pull", {"repo": "acme/widget", "number": 3})
    assert pull.body == "Fixes #1 " and pull.untrusted
    assert [f.filename for f in pull.files] == ["src/app.py"] and not pull.files_truncated
    assert "+if admin[U+202E U+2066]:  # check" in pull.diff
    assert ctx.facts["stripped_invisible"] == 2


async def test_get_pull_caps_diff_and_files(harness: Harness, fake: FakeGitHub) -> None:
    fake.diffs[("acme/widget", 3)] = "+line\n" * 10_000
    fake.pull_files[("acme/widget", 3)] = [
        {"filename": f"f{i}", "status": "added", "additions": 1, "deletions": 0, "changes": 1}
        for i in range(250)
    ]
    pull, _ = await harness.run(
        "github_get_pull", {"repo": "acme/widget", "number": 3, "max_diff_chars": 100, "max_files": 120}
    )
    assert len(pull.diff) == 100 and pull.diff_truncated
    assert len(pull.files) == 120 and pull.files_truncated
    nodiff, _ = await harness.run(
        "github_get_pull", {"repo": "acme/widget", "number": 3, "include_diff": False}
    )
    assert nodiff.diff is None


async def test_get_file_text_markdown_binary_and_folder(harness: Harness) -> None:
    readme, ctx = await harness.run("github_get_file", {"repo": "acme/widget", "path": "README.md"})
    assert readme.content == "# Widget\n\nUse it.\n" and ctx.facts["stripped_html_comments"] == 1
    code, _ = await harness.run("github_get_file", {"repo": "acme/widget", "path": "/src/app.py"})
    assert code.content == "if admin[U+202E]:\n    pass\n" and code.path == "src/app.py"
    logo, _ = await harness.run("github_get_file", {"repo": "acme/widget", "path": "logo.png"})
    assert logo.binary and logo.content is None and logo.size == 16
    root, _ = await harness.run("github_get_file", {"repo": "acme/widget", "path": ""})
    assert [(e.name, e.type) for e in root.entries] == [
        ("README.md", "file"),
        ("logo.png", "file"),
        ("src", "dir"),
    ]
    short, _ = await harness.run(
        "github_get_file", {"repo": "acme/widget", "path": "src/app.py", "max_chars": 5}
    )
    assert short.content == "if ad" and short.truncated


async def test_get_file_too_large_for_contents_api(harness: Harness, fake: FakeGitHub) -> None:
    fake.add_file("acme/widget", "big.bin", b"a" * (1024 * 1024 + 1))
    with pytest.raises(ToolError, match="larger than GitHub's 1 MB contents limit"):
        await harness.run("github_get_file", {"repo": "acme/widget", "path": "big.bin"})


async def test_search_confined_to_named_repos(harness: Harness) -> None:
    out, _ = await harness.run("github_search_issues", {"query": "repo:acme/widget is:issue crash"})
    assert out.repos == ["acme/widget"] and [i.number for i in out.items] == [1]
    both, _ = await harness.run("github_search_issues", {"query": "repo:acme/widget repo:octo/public typo"})
    assert [(i.repo, i.number) for i in both.items] == [("octo/public", 1)]


async def test_search_drops_results_from_repos_not_named(harness: Harness, fake: FakeGitHub) -> None:
    leaked = {**fake.issues["acme/secret"][0], "score": 1.0}
    good = {**fake.issues["acme/widget"][0], "score": 1.0}
    fake.fail(
        "GET",
        "^/search/issues$",
        200,
        body={"total_count": 2, "incomplete_results": False, "items": [leaked, good]},
    )
    out, ctx = await harness.run("github_search_issues", {"query": "repo:acme/widget NOT repo:acme/widget"})
    assert [i.repo for i in out.items] == ["acme/widget"] and out.dropped_outside_repos == 1
    assert "hunter2" not in str(out.model_dump())
    assert ctx.facts["search_dropped_outside_repos"] == 1


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("crash", "name the repositories to search with repo:owner/name"),
        ("-repo:acme/widget crash", "name the repositories"),
        ("org:acme crash", "qualifier org: is not supported"),
        ("repo:acme/widget user:acme", "qualifier user: is not supported"),
        ("repo:../x crash", "search qualifier repo:../x: repository must be owner/name"),
        (" ".join(f"repo:a/r{i}" for i in range(11)), "at most 10 repositories"),
    ],
)
async def test_search_refuses_unscoped_queries(
    harness: Harness, fake: FakeGitHub, query: str, message: str
) -> None:
    with pytest.raises(ToolError, match=message):
        await harness.run("github_search_issues", {"query": query})
    assert fake.count("GET", "^/search") == 0


async def test_comment_create_update_and_pull(harness: Harness, fake: FakeGitHub) -> None:
    c, ctx = await harness.run("github_comment", {"repo": "acme/widget", "number": 1, "body": "On it"})
    assert fake.comments[("acme/widget", 1)][-1]["body"] == "On it" and c.comment_id > 0
    assert ctx.facts["repo"] == "acme/widget"
    issue, _ = await harness.run(
        "github_create_issue",
        {"repo": "acme/widget", "title": "New", "body": "b", "labels": ["bug"], "assignees": ["alice"]},
    )
    assert (issue.number, issue.labels, issue.assignees) == (4, ["bug"], ["alice"])
    upd, ctx = await harness.run(
        "github_update_issue", {"repo": "acme/widget", "number": 4, "state": "closed", "labels": ["wontfix"]}
    )
    assert (upd.state, upd.labels) == ("closed", ["wontfix"]) and ctx.facts["changed"] == ["labels", "state"]
    assert fake.requests[-1].body == {"state": "closed", "labels": ["wontfix"]}
    fake.branches["acme/widget"].add("feature")
    pr, _ = await harness.run(
        "github_create_pull",
        {"repo": "acme/widget", "title": "Feature", "head": "feature", "base": "main", "draft": True},
    )
    assert (pr.number, pr.head, pr.base, pr.draft) == (5, "acme:feature", "main", True)


async def test_update_with_nothing_to_change_is_refused_before_any_request(
    harness: Harness, fake: FakeGitHub
) -> None:
    before = len(fake.requests)
    with pytest.raises(ToolError, match="nothing to change"):
        await harness.run("github_update_issue", {"repo": "acme/widget", "number": 1})
    assert len(fake.requests) == before


async def test_422_from_github_reaches_the_model(harness: Harness) -> None:
    with pytest.raises(ToolError, match=r"422: Validation Failed \(Issue assignees invalid\)"):
        await harness.run(
            "github_create_issue", {"repo": "acme/widget", "title": "x", "assignees": ["nobody"]}
        )
    with pytest.raises(ToolError, match=r"422: Validation Failed \(PullRequest head invalid\)"):
        await harness.run(
            "github_create_pull", {"repo": "acme/widget", "title": "x", "head": "nope", "base": "main"}
        )


async def test_writes_refuse_invisible_characters(harness: Harness, fake: FakeGitHub) -> None:
    smuggled = "Looks good!" + "".join(chr(0xE0000 + ord(c)) for c in "hunter2")
    with pytest.raises(ToolError, match=r"body contains 7 invisible character\(s\) \(U\+E0068"):
        await harness.run("github_comment", {"repo": "acme/widget", "number": 1, "body": smuggled})
    with pytest.raises(ToolError, match="title contains 1 invisible"):
        await harness.run("github_create_issue", {"repo": "acme/widget", "title": "a\u202eb"})
    assert fake.count("POST", ".") == 0


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("github_get_repo", {"repo": "acme"}),
        ("github_get_repo", {"repo": "acme/.."}),
        ("github_get_repo", {"repo": "acme/widget/../../user"}),
        ("github_get_repo", {"repo": "-acme/widget"}),
        ("github_get_repo", {"repo": "acme/wid get"}),
        ("github_get_file", {"repo": "acme/widget", "path": "../secret/keys.txt"}),
        ("github_get_file", {"repo": "acme/widget", "path": "src/./app.py"}),
        ("github_get_issue", {"repo": "acme/widget", "number": 0}),
        ("github_list_issues", {"repo": "acme/widget", "per_page": 101}),
        ("github_create_pull", {"repo": "acme/widget", "title": "t", "head": "--force", "base": "main"}),
        ("github_create_pull", {"repo": "acme/widget", "title": "t", "head": "a b", "base": "main"}),
        ("github_comment", {"repo": "acme/widget", "number": 1, "body": ""}),
    ],
)
def test_bad_arguments_fail_validation(harness: Harness, tool: str, args: dict) -> None:
    with pytest.raises(ValidationError):
        harness.context(tool, args)


async def test_repo_validation_message_says_what_is_wrong(harness: Harness) -> None:
    with pytest.raises(ValidationError, match=r"repository must be owner/name with letters, digits"):
        harness.context("github_get_repo", {"repo": "acme/.."})


async def test_other_profile_from_config_is_used_and_named(
    make_harness, fake: FakeGitHub, monkeypatch
) -> None:
    monkeypatch.setenv("OTHER_GH", "wrong-token")
    h = make_harness('credential = "github:bot"', '[credentials."github:bot"]\nsource = "env:OTHER_GH"\n')
    with pytest.raises(ToolError, match=r"rejected the credential of profile github:bot \(401"):
        await h.run("github_get_repo", {"repo": "acme/widget"})
    monkeypatch.setenv("OTHER_GH", fake.token)
    # the 401 dropped the cached value, so the corrected token is read at once
    _, ctx = await h.run("github_get_repo", {"repo": "acme/widget"})
    assert ctx.call.credentials_used == ["github:bot"]


async def test_env_github_api_url_is_used_when_config_has_none(
    fake: FakeGitHub, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    from tests.github.conftest import TOKEN_ENV

    h = Harness(tmp_path, f'[credentials."github:default"]\nsource = "env:{TOKEN_ENV}"\n')
    repo, _ = await h.run("github_get_repo", {"repo": "octo/public"})
    assert repo.full_name == "octo/public"


async def test_bad_github_config_is_a_clear_error(make_harness) -> None:
    h = make_harness("pin_after_private_read = 'yes'")
    with pytest.raises(ToolError, match=r"github\.pin_after_private_read must be true or false"):
        await h.run("github_get_repo", {"repo": "acme/widget"})
