"""Write tools: comment, create and update issues, open pull requests.

Before any request each write checks repository pinning (see pinning.py) and refuses outgoing text
with invisible characters. Writes are retried only on rate limits, never on 5xx (see client.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from tollhouse.tools.base import Effect, Tool, ToolContext, ToolError, ToolInput
from tollhouse.tools.github import models as m
from tollhouse.tools.github.common import (
    RepoName,
    check_write,
    github,
    github_tool,
    reject_hidden,
    repo_path,
)
from tollhouse.tools.github.settings import load_settings

WRITE = frozenset({Effect.WRITE, Effect.NETWORK})
BODY_MAX = 65_536  # GitHub's own limit for issue and comment bodies

Names = list[str]


def _branch(value: str) -> str:
    if not value or value.startswith("-") or any(c.isspace() or ord(c) < 32 for c in value) or ".." in value:
        raise ValueError("branch must be a git branch name (optionally owner:branch), without spaces or '..'")
    return value


async def _precheck(ctx: ToolContext, repo: str, **texts: str | list[str] | None) -> dict[str, Any]:
    """Pinning, then hidden characters: both before the credential is even read. Returns the texts
    for the secret check that runs once the token is known."""
    await check_write(ctx, load_settings(getattr(ctx.services, "config", None)), repo)
    for field, text in texts.items():
        for item in text if isinstance(text, list) else [text]:
            reject_hidden(field, item)
    return texts


class CommentArgs(ToolInput):
    repo: RepoName
    number: int = Field(ge=1, description="Issue or pull request number")
    body: str = Field(min_length=1, max_length=BODY_MAX, description="Markdown text of the comment")


async def comment(args: CommentArgs, ctx: ToolContext) -> m.CommentResult:
    texts = await _precheck(ctx, args.repo, body=args.body)
    async with github(ctx, texts) as (gh, _):
        data = await gh.send_json(
            "POST", f"{repo_path(args.repo)}/issues/{args.number}/comments", {"body": args.body}
        )
    ctx.record(repo=args.repo.lower(), number=args.number, comment_id=data.get("id"))
    return m.CommentResult(
        repo=args.repo, number=args.number, comment_id=int(data["id"]), url=str(data.get("html_url", ""))
    )


class CreateIssueArgs(ToolInput):
    repo: RepoName
    title: str = Field(min_length=1, max_length=256)
    body: str | None = Field(None, max_length=BODY_MAX)
    labels: Names = Field(default_factory=list, max_length=50)
    assignees: Names = Field(default_factory=list, max_length=10)


def _issue_result(repo: str, data: dict[str, Any]) -> m.IssueResult:
    return m.IssueResult(
        repo=repo,
        number=int(data["number"]),
        title=str(data.get("title", "")),
        state=str(data.get("state", "")),
        labels=[str(x.get("name")) for x in data.get("labels") or [] if isinstance(x, dict)],
        assignees=[str(x.get("login")) for x in data.get("assignees") or [] if isinstance(x, dict)],
        url=str(data.get("html_url", "")),
    )


async def create_issue(args: CreateIssueArgs, ctx: ToolContext) -> m.IssueResult:
    texts = await _precheck(ctx, args.repo, title=args.title, body=args.body, labels=args.labels)
    payload: dict[str, Any] = {"title": args.title}
    if args.body:
        payload["body"] = args.body
    if args.labels:
        payload["labels"] = args.labels
    if args.assignees:
        payload["assignees"] = args.assignees
    async with github(ctx, texts) as (gh, _):
        data = await gh.send_json("POST", f"{repo_path(args.repo)}/issues", payload)
    ctx.record(repo=args.repo.lower(), number=data.get("number"))
    return _issue_result(args.repo, data)


class UpdateIssueArgs(ToolInput):
    repo: RepoName
    number: int = Field(ge=1)
    title: str | None = Field(None, min_length=1, max_length=256)
    body: str | None = Field(None, max_length=BODY_MAX)
    state: Literal["open", "closed"] | None = None
    state_reason: Literal["completed", "not_planned", "reopened"] | None = None
    labels: Names | None = Field(None, max_length=50, description="Replaces all labels; [] removes them all")
    assignees: Names | None = Field(None, max_length=10, description="Replaces all assignees")


async def update_issue(args: UpdateIssueArgs, ctx: ToolContext) -> m.IssueResult:
    fields = args.model_dump(exclude={"repo", "number"}, exclude_none=True)
    if not fields:
        raise ToolError("nothing to change: give at least one of title, body, state, labels, assignees")
    texts = await _precheck(ctx, args.repo, title=args.title, body=args.body, labels=args.labels)
    async with github(ctx, texts) as (gh, _):
        data = await gh.send_json("PATCH", f"{repo_path(args.repo)}/issues/{args.number}", fields)
    ctx.record(repo=args.repo.lower(), number=args.number, changed=sorted(fields))
    return _issue_result(args.repo, data)


class CreatePullArgs(ToolInput):
    repo: RepoName
    title: str = Field(min_length=1, max_length=256)
    head: str = Field(max_length=255, description="Branch with the changes (owner:branch for a fork)")
    base: str = Field(max_length=255, description="Branch to merge into, e.g. main")
    body: str | None = Field(None, max_length=BODY_MAX)
    draft: bool = False

    @field_validator("head", "base")
    @classmethod
    def _check_branch(cls, value: str) -> str:
        return _branch(value)


async def create_pull(args: CreatePullArgs, ctx: ToolContext) -> m.PullResult:
    texts = await _precheck(ctx, args.repo, title=args.title, body=args.body, head=args.head, base=args.base)
    payload: dict[str, Any] = {"title": args.title, "head": args.head, "base": args.base, "draft": args.draft}
    if args.body:
        payload["body"] = args.body
    async with github(ctx, texts) as (gh, _):
        data = await gh.send_json("POST", f"{repo_path(args.repo)}/pulls", payload)
    ctx.record(repo=args.repo.lower(), number=data.get("number"))
    return m.PullResult(
        repo=args.repo,
        number=int(data["number"]),
        title=str(data.get("title", "")),
        state=str(data.get("state", "")),
        draft=bool(data.get("draft")),
        head=str((data.get("head") or {}).get("label") or args.head),
        base=str((data.get("base") or {}).get("ref") or args.base),
        url=str(data.get("html_url", "")),
    )


def _tool(*args, **extra) -> Tool:  # type: ignore[no-untyped-def]
    return github_tool(*args, effects=WRITE, **extra)


WRITE_TOOLS = [
    _tool(
        "github_comment",
        "Comment on an issue or pull request",
        "Post a Markdown comment on an issue or pull request.",
        CommentArgs,
        comment,
        m.CommentResult,
    ),
    _tool(
        "github_create_issue",
        "Open an issue",
        "Open a new issue, optionally with labels and assignees.",
        CreateIssueArgs,
        create_issue,
        m.IssueResult,
    ),
    _tool(
        "github_update_issue",
        "Update an issue",
        "Change an issue's title, body, state (open/closed), "
        "labels or assignees. labels and assignees replace the current sets.",
        UpdateIssueArgs,
        update_issue,
        m.IssueResult,
        idempotent=True,
        destructive=True,
    ),
    _tool(
        "github_create_pull",
        "Open a pull request",
        "Open a pull request from head into base.",
        CreatePullArgs,
        create_pull,
        m.PullResult,
    ),
]
