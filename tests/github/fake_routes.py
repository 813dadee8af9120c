"""Routes of the fake GitHub API (see fake_github.py)."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.github.fake_github import FakeGitHub, Request

Reply = tuple[int, dict[str, str], bytes]

REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"


def route(fake: FakeGitHub, req: Request) -> Reply:
    path, method = req.path, req.method
    if path == "/user" and method == "GET":
        return fake.json(
            200, {"login": "octocat", "id": 1, "type": "User"}, {"X-OAuth-Scopes": "repo, read:org"}
        )
    if path == "/search/issues" and method == "GET":
        return search(fake, req)
    m = re.fullmatch(REPO + r"(?P<rest>/.*)?", path)
    if not m:
        return fake.error(404, "Not Found")
    repo_key = f"{m['owner']}/{m['name']}".lower()
    repo = fake.repos.get(repo_key)
    if repo is None:
        return fake.error(404, "Not Found")
    rest = m["rest"] or ""
    full = repo["full_name"]
    if rest == "" and method == "GET":
        return fake.json(200, repo)
    if rest == "/issues":
        if method == "GET":
            state = req.query.get("state", ["open"])[0]
            labels = set(filter(None, req.query.get("labels", [""])[0].split(",")))
            items = [i for i in fake.issues[repo_key] if state == "all" or i["state"] == state]
            items = [i for i in items if labels <= {lbl["name"] for lbl in i["labels"]}]
            return fake.paged(req, list(reversed(items)))
        if method == "POST":
            return create_issue(fake, full, req.body or {})
    m2 = re.fullmatch(r"/issues/(\d+)(/comments)?", rest)
    if m2:
        number = int(m2[1])
        if number > len(fake.issues[repo_key]):
            return fake.error(404, "Not Found")
        issue = fake.issues[repo_key][number - 1]
        if m2[2]:
            if method == "GET":
                return fake.paged(req, fake.comments.get((repo_key, number), []))
            if method == "POST":
                body = (req.body or {}).get("body")
                if not body:
                    return fake.error(
                        422,
                        "Validation Failed",
                        [{"resource": "IssueComment", "code": "missing_field", "field": "body"}],
                    )
                return fake.json(
                    201, fake.add_comment(full, number, body, author="octocat", association="OWNER")
                )
        if method == "GET":
            return fake.json(200, issue)
        if method == "PATCH":
            return update_issue(fake, issue, req.body or {})
    if rest == "/pulls":
        if method == "GET":
            state = req.query.get("state", ["open"])[0]
            items = [p for p in fake.pulls[repo_key] if state == "all" or p["state"] == state]
            return fake.paged(req, list(reversed(items)))
        if method == "POST":
            return create_pull(fake, full, req.body or {})
    m3 = re.fullmatch(r"/pulls/(\d+)(/files)?", rest)
    if m3 and method == "GET":
        number = int(m3[1])
        pull = next((p for p in fake.pulls[repo_key] if p["number"] == number), None)
        if pull is None:
            return fake.error(404, "Not Found")
        if m3[2]:
            return fake.paged(req, fake.pull_files[(repo_key, number)])
        if "diff" in req.headers.get("accept", ""):
            diff = fake.diffs[(repo_key, number)].encode()
            return 200, {**fake.rate_headers(), "Content-Type": "text/plain; charset=utf-8"}, diff
        return fake.json(200, pull)
    m4 = re.fullmatch(r"/contents/?(.*)", rest)
    if m4 and method == "GET":
        found = fake.content_json(full, m4[1])
        return fake.json(200, found) if found is not None else fake.error(404, "Not Found")
    return fake.error(404, "Not Found")


def create_issue(fake: FakeGitHub, repo: str, body: dict[str, Any]) -> Reply:
    if not body.get("title"):
        return fake.error(
            422, "Validation Failed", [{"resource": "Issue", "code": "missing_field", "field": "title"}]
        )
    refused = _unknown_assignee(fake, body)
    if refused is not None:
        return refused
    issue = fake.add_issue(
        repo, body["title"], body.get("body") or "", author="octocat", labels=body.get("labels")
    )
    issue["assignees"] = [{"login": a} for a in body.get("assignees", [])]
    return fake.json(201, issue)


def _unknown_assignee(fake: FakeGitHub, body: dict[str, Any]) -> Reply | None:
    bad = [a for a in body.get("assignees", []) if a not in fake.users]
    if not bad:
        return None
    problem = {"resource": "Issue", "code": "invalid", "field": "assignees", "value": bad[0]}
    return fake.error(422, "Validation Failed", [problem])


def update_issue(fake: FakeGitHub, issue: dict[str, Any], body: dict[str, Any]) -> Reply:
    refused = _unknown_assignee(fake, body)
    if refused is not None:
        return refused
    for key in ("title", "body", "state", "state_reason"):
        if key in body:
            issue[key] = body[key]
    if "labels" in body:
        issue["labels"] = [{"name": n} for n in body["labels"]]
    if "assignees" in body:
        issue["assignees"] = [{"login": a} for a in body["assignees"]]
    issue["closed_at"] = "2024-06-01T00:00:00Z" if issue["state"] == "closed" else None
    return fake.json(200, issue)


def create_pull(fake: FakeGitHub, repo: str, body: dict[str, Any]) -> Reply:
    head, base = body.get("head", ""), body.get("base", "")
    branches = fake.branches[repo.lower()]
    if head.split(":")[-1] not in branches:
        return fake.error(
            422, "Validation Failed", [{"resource": "PullRequest", "code": "invalid", "field": "head"}]
        )
    if head.split(":")[-1] == base:
        return fake.error(
            422,
            "Validation Failed",
            [
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"No commits between {base} and {head}",
                }
            ],
        )
    issue = fake.add_issue(repo, body.get("title", ""), body.get("body") or "", author="octocat", pull=True)
    pull = fake._pull_json(
        repo,
        issue["number"],
        issue["title"],
        issue["body"],
        head.split(":")[-1],
        base,
        "octocat",
        "OWNER",
        bool(body.get("draft")),
    )
    fake.pulls[repo.lower()].append(pull)
    return fake.json(201, pull)


def search(fake: FakeGitHub, req: Request) -> Reply:
    q = req.query.get("q", [""])[0]
    try:
        tokens = shlex.split(q)
    except ValueError:
        return fake.error(
            422,
            "Validation Failed",
            [{"message": "bad query", "resource": "Search", "field": "q", "code": "invalid"}],
        )
    repos = {t[5:].lower() for t in tokens if t.lower().startswith("repo:")}
    words = [t.lower() for t in tokens if ":" not in t]
    kinds = {t[3:] for t in tokens if t.startswith("is:")}
    items = []
    for key, issues in fake.issues.items():
        if repos and key not in repos:
            continue
        for issue in issues:
            is_pr = "pull_request" in issue
            if ("pr" in kinds and not is_pr) or ("issue" in kinds and is_pr):
                continue
            text = f"{issue['title']} {issue['body']}".lower()
            if all(w in text for w in words):
                items.append({**issue, "score": 1.0})
    status, headers, raw = fake.paged(req, items)
    import json

    page = json.loads(raw)
    return (
        status,
        headers,
        json.dumps({"total_count": len(items), "incomplete_results": False, "items": page}).encode(),
    )
