"""The starting point of the scheduled-change tests over HTTP, written once."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import AdminClient

WHEN = 1_900_000_000_000  # 2030, in Balrog's milliseconds


def guard_release_channel(admin: AdminClient) -> None:
    """Firefox release needs one relman signoff."""
    admin.service.add_required_signoff(
        "product",
        {"product": "Firefox", "channel": "release", "role": "relman", "signoffs_required": 1},
        "alice",
    )


def load(
    admin: AdminClient, snapshot: dict[str, Any], users: tuple[str, ...], *, guarded: bool
) -> AdminClient:
    """Fixture data; releng may change rules and holds relman; Firefox release guarded
    if ``guarded``; then a token for each of ``users`` (issuing one is an event: done
    last, so the tests' event counts start after it)."""
    service = admin.service
    service.import_snapshot(snapshot, "importer")
    service.grant_permission("releng", "rule", None, "alice")
    service.grant_role("releng", "relman", "alice")
    if guarded:
        guard_release_channel(admin)
    for user in users:
        admin.token_for(user)
    return admin


def schedule_refused(admin: AdminClient, path: str, body: dict[str, Any], detail: str) -> Any:
    """Post a scheduled change that Balrog refuses with a 400 saying ``detail``;
    check that nothing was stored, and give the problem document."""
    before = admin.event_count()
    answer = admin.post(path, body)
    assert (answer.status, answer.json["detail"]) == (400, detail), answer.text
    assert admin.event_count() == before
    return answer.json
