"""Shared pieces of the GitHub tools: repository names, the client for a call, trust, pinning."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import AfterValidator, BaseModel, Field

from tollhouse.tools.base import Effect, Facets, Tool, ToolContext, ToolError
from tollhouse.tools.github.client import GitHubClient, GitHubError, shared_transport
from tollhouse.tools.github.pinning import PINS
from tollhouse.tools.github.sanitize import (
    Stripped,
    clean_prose,
    invisible_re,
    mark_invisible,
    strip_invisible,
)
from tollhouse.tools.github.settings import DEFAULT_PROFILE, GitHubSettings, load_settings

# author_association values that mean push access to the repository; anyone else is a stranger.
TRUSTED_ASSOCIATIONS = {"OWNER", "MEMBER", "COLLABORATOR"}

_OWNER_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def check_repo(value: str) -> str:
    owner, sep, name = value.partition("/")
    if not sep or not _OWNER_RE.match(owner) or not _NAME_RE.match(name) or name in (".", ".."):
        raise ValueError(
            f"repository must be owner/name with letters, digits, '-', '_' or '.' (got {value!r})"
        )
    return value


RepoName = Annotated[
    str,
    Field(
        description="Repository as owner/name, e.g. octocat/hello-world",
        max_length=140,
        # In the schema for the model; the validator below gives the clearer error.
        json_schema_extra={"pattern": r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$"},
    ),
    AfterValidator(check_repo),
]
Page = Annotated[int, Field(ge=1, le=1000, description="Page number, from 1")]
PerPage = Annotated[int, Field(ge=1, le=100, description="Items per page (at most 100)")]


def repo_path(repo: str) -> str:
    owner, name = repo.split("/", 1)
    return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"


def repo_facets(args: Any) -> Facets:
    # GitHub names are case-insensitive: facets are lower-cased so `Acme/Secret` cannot dodge a
    # rule written for `acme/secret` (policy rules on repos should be written in lower case).
    return {"repos": [args.repo.lower()]}


def reject_hidden(field: str, text: str | None) -> None:
    """Refuse outgoing text with invisible characters: they could smuggle data past the person who
    approves the write (tag characters spell ASCII that no one sees)."""
    if not text:
        return
    found = invisible_re().findall(text)
    if found:
        chars = "".join(found)
        shown = " ".join(f"U+{ord(c):04X}" for c in chars[:6])
        raise ToolError(
            f"{field} contains {len(chars)} invisible character(s) ({shown}); remove them and try again"
        )


def reject_secrets(ctx: ToolContext, **texts: str | list[str] | None) -> None:
    """Refuse outgoing text that carries a secret the redactor knows (this call's token included):
    a model steered into posting the token would publish it, and redacting the receipt is too late."""
    redactor = getattr(ctx.services, "redactor", None)
    if redactor is None:
        return
    for field, text in texts.items():
        for item in text if isinstance(text, list) else [text]:
            if item and redactor.redact_text(item) != item:
                raise ToolError(
                    f"{field} contains a secret (a credential or redacted value); it was not sent"
                )


@asynccontextmanager
async def github(
    ctx: ToolContext, outgoing: dict[str, Any] | None = None
) -> AsyncIterator[tuple[GitHubClient, GitHubSettings]]:
    """The client for this call, with the token of the configured profile resolved just in time.

    ``outgoing`` (a write's texts) is checked for secrets once the token is known to the redactor.
    """
    settings = load_settings(getattr(ctx.services, "config", None))
    resolver = getattr(ctx.services, "credentials", None)
    if settings.credential == (ctx.tool.credential or DEFAULT_PROFILE):
        token = await ctx.credential()
    else:
        if resolver is None:
            raise ToolError(f"no credential resolver is configured for {settings.credential}")
        token = await resolver.resolve(settings.credential)
        ctx.call.credentials_used.append(settings.credential)
    if outgoing:
        reject_secrets(ctx, **outgoing)

    def forget() -> None:
        if resolver is not None and hasattr(resolver, "invalidate"):
            resolver.invalidate(settings.credential)

    async with GitHubClient(
        settings,
        token,
        profile_id=settings.credential,
        on_unauthorized=forget,
        transport=shared_transport(ctx.services),
    ) as client:
        yield client, settings
    ctx.record(github_requests=client.requests_made)


def workspace_key(ctx: ToolContext) -> str:
    """Which workspace a pin belongs to, for the in-memory half (the database is per workspace)."""
    return "\x00".join(str(root) for root in ctx.workspace.roots)


def pins_state(ctx: ToolContext) -> Any:
    """Where pins are kept: the shared PostgreSQL state when the store is there (so every replica
    sees a pin at once), else the workspace's state database; None without one."""
    state = getattr(ctx.services, "state", None)
    return getattr(state, "shared", None) or state


async def check_write(ctx: ToolContext, settings: GitHubSettings, repo: str) -> None:
    if settings.pin_after_private_read:
        await PINS.check_write(
            ctx.call.session, repo, pins_state(ctx), ttl_s=settings.pin_ttl_s,
            workspace=workspace_key(ctx),
        )  # fmt: skip


async def note_read(
    ctx: ToolContext, client: GitHubClient, settings: GitHubSettings, repo: str, private: bool | None = None
) -> None:
    """Remember that this session read ``repo``; look its visibility up when the read did not say."""
    if not settings.pin_after_private_read:
        return
    if private is None:
        private = PINS.visibility(ctx.call.session, repo)
    if private is None:
        try:
            data = await client.get_json(repo_path(repo))
            private = bool(data.get("private", True)) if isinstance(data, dict) else True
        except GitHubError:
            private = True  # unknown visibility counts as private: pinning fails closed
    await PINS.note_read(ctx.call.session, repo, private, pins_state(ctx), workspace=workspace_key(ctx))
    if private:
        ctx.record(private_repo_read=repo.lower())


class Shaper:
    """Turns GitHub's text into what the model sees, counting what it stripped and who is untrusted."""

    def __init__(self) -> None:
        self.stripped = Stripped()
        self.untrusted = 0

    def prose(self, text: str | None, limit: int) -> tuple[str, bool]:
        clean, report = clean_prose(text)
        self.stripped.add(report)
        return (clean[:limit], True) if len(clean) > limit else (clean, False)

    def code(self, text: str, limit: int) -> tuple[str, bool]:
        shown, n = mark_invisible(text)
        self.stripped.invisible += n
        return (shown[:limit], True) if len(shown) > limit else (shown, False)

    def author(self, item: dict[str, Any]) -> dict[str, Any]:
        user = item.get("user") or {}
        association = str(item.get("author_association") or "NONE")
        untrusted = association not in TRUSTED_ASSOCIATIONS
        self.untrusted += untrusted
        return {
            "author": self.prose(str(user.get("login") or "ghost"), 100)[0],
            "author_association": association,
            "untrusted": untrusted,
        }

    def record(self, ctx: ToolContext) -> None:
        ctx.record(
            untrusted_content=self.untrusted > 0,
            untrusted_items=self.untrusted,
            stripped_invisible=self.stripped.invisible,
            stripped_html_comments=self.stripped.html_comments,
            stripped_link_definitions=self.stripped.link_definitions,
            stripped_hidden_elements=self.stripped.hidden_elements,
        )


def scrub_result(value: Any) -> int:
    """Strip invisible characters from every string of a result model, in place; return how many.

    The net under the per-field shaping: names, refs, labels, topics and echoes of a write come from
    GitHub too (a branch name may hold bidi controls). Prose and code were shaped already, code with
    its invisible characters turned into visible markers, so this pass changes nothing there.
    """
    if isinstance(value, BaseModel):
        slots: Any = [(name, getattr(value, name)) for name in type(value).model_fields]
        put = lambda name, clean: setattr(value, name, clean)  # noqa: E731
    elif isinstance(value, list):
        slots, put = list(enumerate(value)), value.__setitem__
    elif isinstance(value, dict):
        slots, put = list(value.items()), value.__setitem__
    else:
        return 0
    count = 0
    for slot, item in slots:
        if isinstance(item, str):
            clean, n = strip_invisible(item)
            if n:
                put(slot, clean)
                count += n
        else:
            count += scrub_result(item)
    return count


def github_tool(
    name: str,
    title: str,
    description: str,
    model: Any,
    run: Any,
    output: Any,
    *,
    effects: frozenset[Effect],
    **extra: Any,
) -> Tool:
    """A tool of the family: GitHub's credential profile, the repository facets policy matches on,
    and every string it returns passed through ``scrub_result``."""

    async def run_scrubbed(args: Any, ctx: ToolContext) -> Any:
        result = await run(args, ctx)
        n = scrub_result(result)
        if n:
            ctx.record(stripped_invisible=int(ctx.facts.get("stripped_invisible") or 0) + n)
        return result

    return Tool(
        name=name, title=title, description=description, input_model=model, run=run_scrubbed, effects=effects,
        family="github", output_model=output, credential="github:default", facets_of=repo_facets, **extra,
    )  # fmt: skip
