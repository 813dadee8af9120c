"""``github_search_issues``: GitHub issue search, confined to named repositories.

Policy decides on the ``repos`` facet, so a search must say which repositories it reaches. The query
must name them with ``repo:owner/name`` qualifiers (1 to 10); qualifiers that widen the scope
(``org:``, ``user:``, ``owner:``) are refused, and results from any repository not named are dropped
(defence in depth: ``NOT repo:x`` and friends cannot widen what comes back). A search across all of
GitHub is not offered: no repository rule could constrain it.
"""

from __future__ import annotations

import re
import shlex

from pydantic import ConfigDict, Field

from tollhouse.tools.base import Facets, Tool, ToolContext, ToolError, ToolInput
from tollhouse.tools.github import models as m
from tollhouse.tools.github.common import Page, PerPage, Shaper, check_repo, github, note_read
from tollhouse.tools.github.reads import READ, UNTRUSTED_NOTE

MAX_REPOS = 10
_QUALIFIER = re.compile(r"^(-?)(repo|org|user|owner):(.*)$", re.I)


class SearchArgs(ToolInput):
    query: str = Field(
        min_length=1,
        max_length=256,
        description="GitHub search syntax; must include repo:owner/name for each repository searched, "
        "e.g. 'repo:octocat/hello-world is:issue is:open crash'",
    )
    page: Page = 1
    per_page: PerPage = 30

    # What a skill shows: the schema alone cannot say that the query must name its repositories.
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"query": "repo:octocat/hello-world is:issue is:open crash"}]}
    )


def query_repos(query: str) -> list[str]:
    """The repositories a query names, lower-cased; ToolError when it names none or widens scope."""
    try:
        tokens = shlex.split(query)
    except ValueError:
        tokens = query.split()
    repos: list[str] = []
    for token in tokens:
        match = _QUALIFIER.match(token)
        if not match:
            continue
        negated, kind, value = match.groups()
        if kind.lower() != "repo":
            raise ToolError(
                f"search qualifier {kind}: is not supported; name each repository with repo:owner/name"
            )
        if negated:
            continue
        try:
            repos.append(check_repo(value.strip('"')).lower())
        except ValueError as exc:
            raise ToolError(f"search qualifier repo:{value}: {exc}") from None
    repos = sorted(set(repos))
    if not repos:
        raise ToolError(
            "name the repositories to search with repo:owner/name qualifiers (1 to 10); a search across "
            "all of GitHub is not offered because repository rules could not constrain it"
        )
    if len(repos) > MAX_REPOS:
        raise ToolError(f"a search may name at most {MAX_REPOS} repositories (got {len(repos)})")
    return repos


def search_facets(args: SearchArgs) -> Facets:
    try:
        return {"repos": query_repos(args.query)}
    except ToolError:
        # Policy still sees a repos facet: one that no owner/name glob matches, so rules stay in force
        # and the tool itself then explains what is wrong with the query.
        return {"repos": ["(no repository named)"]}


def _repo_of(item: dict) -> str:
    url = str(item.get("repository_url", ""))
    parts = url.rstrip("/").split("/")
    return "/".join(parts[-2:]).lower() if len(parts) >= 2 else ""


async def search_issues(args: SearchArgs, ctx: ToolContext) -> m.SearchResult:
    repos = query_repos(args.query)
    params = {"q": args.query, "page": args.page, "per_page": args.per_page}
    async with github(ctx) as (gh, settings):
        data, more = await gh.get_page("/search/issues", params)
        for repo in repos:
            await note_read(ctx, gh, settings, repo)
    shaper = Shaper()
    raw = data.get("items") or [] if isinstance(data, dict) else []
    kept = [i for i in raw if _repo_of(i) in repos]
    items = [m.SearchItem(**m.issue_summary(i, shaper), repo=_repo_of(i)) for i in kept]
    shaper.record(ctx)
    if len(kept) != len(raw):
        ctx.record(search_dropped_outside_repos=len(raw) - len(kept))
    return m.SearchResult(
        query=args.query,
        repos=repos,
        total_count=int(data.get("total_count") or 0),
        incomplete_results=bool(data.get("incomplete_results")),
        items=items,
        page=args.page,
        next_page=args.page + 1 if more else None,
        dropped_outside_repos=len(raw) - len(kept),
    )


SEARCH_TOOL = Tool(
    name="github_search_issues",
    title="Search issues and pull requests",
    description="Search issues and pull requests in named repositories with GitHub search syntax. The "
    "query must contain repo:owner/name for every repository searched (org:/user: are not accepted)."
    + UNTRUSTED_NOTE,
    input_model=SearchArgs,
    run=search_issues,
    effects=READ,
    family="github",
    output_model=m.SearchResult,
    credential="github:default",
    facets_of=search_facets,
    idempotent=True,
)
