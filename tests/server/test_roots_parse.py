"""Announced root URIs to paths: only local file URIs count; an empty list does not narrow."""

from __future__ import annotations

from tollhouse.server.roots import root_paths


def test_file_uris_become_paths_and_others_are_dropped() -> None:
    uris = [
        "file:///home/me/repo",
        "file://localhost/srv/data%20set",
        "https://example.com/repo",
        "file://otherhost/share",
        "vscode-vfs://github/owner/repo",
        "file:relative/path",
        "file:///bad%00name",
    ]
    assert root_paths(uris) == ("/home/me/repo", "/srv/data set")


def test_only_foreign_roots_leave_nothing_and_an_empty_list_does_not_narrow() -> None:
    assert root_paths(["https://example.com/repo"]) == ()
    assert root_paths([]) is None
