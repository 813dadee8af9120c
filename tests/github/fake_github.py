"""A loopback fake of GitHub's REST API: a real HTTP server on 127.0.0.1 in a thread.

It speaks GitHub's wire format where the tools depend on it: JSON shapes (trimmed to the fields real
responses carry), ``Link`` pagination with absolute URLs, rate-limit headers on every answer, error
bodies ``{"message", "documentation_url"}``, Bearer auth checked on every request, and the
diff media type. Tests queue faults (``fake.fail(...)``) to script 5xx, rate limits and odd links.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

DOCS = "https://docs.github.com/rest"


@dataclass
class Fault:
    method: str
    path_re: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    times: int = 1


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    peer: int = 0
    """The client's port: requests on one kept-alive connection share it."""


def user(login: str) -> dict[str, Any]:
    return {"login": login, "id": int(hashlib.sha1(login.encode()).hexdigest()[:6], 16), "type": "User"}


class FakeGitHub:
    def __init__(self, token: str) -> None:
        self.token = token
        self.repos: dict[str, dict[str, Any]] = {}
        self.issues: dict[str, list[dict[str, Any]]] = {}
        self.comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.pulls: dict[str, list[dict[str, Any]]] = {}
        self.pull_files: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.diffs: dict[tuple[str, int], str] = {}
        self.files: dict[tuple[str, str], bytes] = {}
        self.branches: dict[str, set[str]] = {}
        self.users = {"octocat", "alice", "bob"}
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self.next_link_override: str | None = None
        self.rate_remaining = 4999
        self.open_connections = 0
        self._ids = 1000
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGitHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- seeding -------------------------------------------------------------------------------

    def new_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def add_repo(self, full_name: str, *, private: bool = False, **extra: Any) -> dict[str, Any]:
        owner, name = full_name.split("/")
        repo = {
            "id": self.new_id(),
            "name": name,
            "full_name": full_name,
            "owner": user(owner),
            "private": private,
            "visibility": "private" if private else "public",
            "description": extra.pop("description", f"{name} repository"),
            "default_branch": "main",
            "archived": False,
            "fork": False,
            "stargazers_count": 7,
            "forks_count": 2,
            "open_issues_count": 0,
            "topics": ["demo"],
            "permissions": {"admin": False, "push": True, "pull": True},
            "html_url": f"https://github.com/{full_name}",
            **extra,
        }
        self.repos[full_name.lower()] = repo
        self.issues.setdefault(full_name.lower(), [])
        self.pulls.setdefault(full_name.lower(), [])
        self.branches[full_name.lower()] = {"main"}
        return repo

    def add_issue(
        self,
        repo: str,
        title: str,
        body: str = "",
        *,
        author: str = "alice",
        association: str = "OWNER",
        labels: list[str] | None = None,
        pull: bool = False,
    ) -> dict[str, Any]:
        items = self.issues[repo.lower()]
        number = len(items) + 1
        now = "2024-05-01T12:00:00Z"
        issue: dict[str, Any] = {
            "id": self.new_id(),
            "number": number,
            "title": title,
            "body": body,
            "state": "open",
            "user": user(author),
            "author_association": association,
            "labels": [{"name": n, "color": "ededed"} for n in labels or []],
            "assignees": [],
            "comments": 0,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "html_url": f"https://github.com/{repo}/issues/{number}",
            "repository_url": f"{self.url}/repos/{repo}",
        }
        if pull:
            issue["pull_request"] = {"url": f"{self.url}/repos/{repo}/pulls/{number}"}
        items.append(issue)
        self.repos[repo.lower()]["open_issues_count"] += 1
        return issue

    def add_comment(
        self, repo: str, number: int, body: str, *, author: str, association: str
    ) -> dict[str, Any]:
        comment = {
            "id": self.new_id(),
            "body": body,
            "user": user(author),
            "author_association": association,
            "created_at": "2024-05-02T08:00:00Z",
            "updated_at": "2024-05-02T08:00:00Z",
            "html_url": f"https://github.com/{repo}/issues/{number}#issuecomment-{self._ids}",
        }
        self.comments.setdefault((repo.lower(), number), []).append(comment)
        self.issues[repo.lower()][number - 1]["comments"] += 1
        return comment

    def add_pull(
        self,
        repo: str,
        title: str,
        body: str,
        *,
        head: str,
        author: str,
        association: str,
        files: list[dict[str, Any]],
        diff: str,
    ) -> dict[str, Any]:
        issue = self.add_issue(repo, title, body, author=author, association=association, pull=True)
        number = issue["number"]
        self.branches[repo.lower()].add(head)
        pull = self._pull_json(repo, number, title, body, head, "main", author, association)
        self.pulls[repo.lower()].append(pull)
        self.pull_files[(repo.lower(), number)] = files
        self.diffs[(repo.lower(), number)] = diff
        return pull

    def _pull_json(
        self,
        repo: str,
        number: int,
        title: str,
        body: str | None,
        head: str,
        base: str,
        author: str,
        association: str,
        draft: bool = False,
    ) -> dict[str, Any]:
        owner = repo.split("/")[0]
        return {
            "id": self.new_id(),
            "number": number,
            "title": title,
            "body": body,
            "state": "open",
            "draft": draft,
            "user": user(author),
            "author_association": association,
            "head": {"ref": head, "label": f"{owner}:{head}"},
            "base": {"ref": base, "label": f"{owner}:{base}"},
            "created_at": "2024-05-03T09:00:00Z",
            "updated_at": "2024-05-03T09:00:00Z",
            "merged_at": None,
            "mergeable": True,
            "additions": 3,
            "deletions": 1,
            "changed_files": 1,
            "html_url": f"https://github.com/{repo}/pull/{number}",
        }

    def add_file(self, repo: str, path: str, content: bytes | str) -> None:
        data = content.encode() if isinstance(content, str) else content
        self.files[(repo.lower(), path)] = data

    def fail(
        self, method: str, path_re: str, status: int, body: Any = None, times: int = 1, **headers: str
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (headers: underscores -> dashes)."""
        hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
        self.faults.append(Fault(method, path_re, status, hdrs, body, times))

    def count(self, method: str, path_re: str) -> int:
        return sum(1 for r in self.requests if r.method == method and re.search(path_re, r.path))

    # -- serving -------------------------------------------------------------------------------

    def rate_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(self.rate_remaining),
            "X-RateLimit-Used": str(5000 - self.rate_remaining),
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Resource": "core",
        }

    def handle(self, req: Request) -> tuple[int, dict[str, str], bytes]:
        self.requests.append(req)
        with self._lock:
            for fault in self.faults:
                if fault.method == req.method and re.search(fault.path_re, req.path) and fault.times > 0:
                    fault.times -= 1
                    body = (
                        fault.body
                        if fault.body is not None
                        else {"message": "fault", "documentation_url": DOCS}
                    )
                    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                    return fault.status, {**self.rate_headers(), **fault.headers}, raw
        auth = req.headers.get("authorization", "")
        if auth not in (f"Bearer {self.token}", f"token {self.token}"):
            return self.error(401, "Bad credentials")
        from tests.github.fake_routes import route

        return route(self, req)

    def json(
        self, status: int, data: Any, extra: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {**self.rate_headers(), "Content-Type": "application/json; charset=utf-8", **(extra or {})}
        return status, headers, json.dumps(data).encode()

    def error(
        self, status: int, message: str, errors: list[Any] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        body: dict[str, Any] = {"message": message, "documentation_url": DOCS, "status": str(status)}
        if errors:
            body["errors"] = errors
        return self.json(status, body)

    def paged(self, req: Request, items: list[Any]) -> tuple[int, dict[str, str], bytes]:
        per_page = min(int(req.query.get("per_page", ["30"])[0]), 100)
        page = max(int(req.query.get("page", ["1"])[0]), 1)
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]

        def link(p: int) -> str:
            query = {k: v[0] for k, v in req.query.items()}
            query.update(page=str(p), per_page=str(per_page))
            return f"{self.url}{req.path}?{urlencode(query)}"

        links = []
        if page < last:
            nxt = self.next_link_override or link(page + 1)
            links += [f'<{nxt}>; rel="next"', f'<{link(last)}>; rel="last"']
        if page > 1:
            links += [f'<{link(page - 1)}>; rel="prev"', f'<{link(1)}>; rel="first"']
        return self.json(200, chunk, {"Link": ", ".join(links)} if links else None)

    def content_json(self, repo: str, path: str) -> Any:
        key = (repo.lower(), path)
        if key in self.files:
            data = self.files[key]
            big = len(data) > 1024 * 1024
            encoded = base64.encodebytes(data).decode() if not big else ""
            return {
                "type": "file",
                "name": path.rsplit("/", 1)[-1],
                "path": path,
                "size": len(data),
                "sha": hashlib.sha1(data).hexdigest(),
                "encoding": "none" if big else "base64",
                "content": encoded,
            }
        prefix = f"{path}/" if path else ""
        entries: dict[str, dict[str, Any]] = {}
        for (r, p), data in self.files.items():
            if r == repo.lower() and p.startswith(prefix):
                head, _, rest = p[len(prefix) :].partition("/")
                entries[head] = {
                    "name": head,
                    "path": prefix + head,
                    "type": "dir" if rest else "file",
                    "size": 0 if rest else len(data),
                }
        return sorted(entries.values(), key=lambda e: e["name"]) if entries else None


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeGitHub/1.0"
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API: a client may reuse its connection
    # Headers and body leave in separate writes; with Nagle on, the body of a kept-alive response
    # would wait ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self._count(+1)

    def finish(self) -> None:
        self._count(-1)
        super().finish()

    def _count(self, step: int) -> None:
        fake: FakeGitHub = self.server.fake  # type: ignore[attr-defined]
        with fake._lock:
            fake.open_connections += step

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read logs for canaries
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw
        req = Request(
            self.command,
            unquote(parts.path),
            parse_qs(parts.query),
            {k.lower(): v for k, v in self.headers.items()},
            body,
            self.client_address[1],
        )
        fake: FakeGitHub = self.server.fake  # type: ignore[attr-defined]
        try:
            status, headers, payload = fake.handle(req)
        except Exception as exc:  # a bug in the fake must show up as a 500, not a hang
            status, headers, payload = 500, {}, json.dumps({"message": f"fake error {exc!r}"}).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve
