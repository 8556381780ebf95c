"""Recorded Balrog admin sessions, replayed against rulelog.

Each file in ``tests/data/balrog_sessions/`` is one session whose expected
answers are Balrog's (status, Content-Type, body); a folder named by
``RULELOG_SESSIONS_DIR`` adds its files as further cases, so a held-out set
can be dropped in without touching the suite. Each session runs in order
against one fresh admin server store (the ``admin`` fixture).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import AdminClient, Answer
from tests.e2e.session_replay import (
    Differences,
    Exchange,
    compare,
    load_session,
    replay,
    substituted,
)

COMMITTED = Path(__file__).parent.parent / "data" / "balrog_sessions"


def session_files() -> list[Path]:
    folders = [COMMITTED]
    extra = os.environ.get("RULELOG_SESSIONS_DIR")
    if extra:
        if not Path(extra).is_dir():  # a mistyped folder must not pass as "no sessions"
            raise NotADirectoryError(f"RULELOG_SESSIONS_DIR={extra} is not a folder")
        folders.append(Path(extra))
    return [file for folder in folders for file in sorted(folder.glob("*.json"))]


@pytest.mark.parametrize(
    "session_file", session_files(), ids=lambda file: f"{file.parent.name}/{file.stem}"
)
def test_session_answers_as_balrog(admin: AdminClient, session_file: Path) -> None:
    differences = replay(admin, load_session(session_file))
    assert not differences, f"{session_file.name} differs from Balrog:\n{differences}"


def test_every_difference_is_reported_with_its_exchange() -> None:
    """The replayer lists status, Content-Type, header and body differences together, and
    an ignored path's value (``$.t``) is not one of them."""
    exchange = Exchange(
        index=3,
        request={"method": "GET", "path": "/rules/1"},
        response={
            "status": 200,
            "content_type": "application/json",
            "headers": {"X-Data-Version": "2"},
            "json": {"a": 1, "t": 5},
        },
        as_user="alice",
        ignore=("$.t",),
    )
    headers = {"Content-Type": "application/problem+json", "X-Data-Version": "1"}
    differences = Differences()
    compare(exchange, Answer(404, b'{"a": 2, "t": 9}', headers), differences)
    assert [line.split(": ", 1)[1].split(" ", 1)[0] for line in differences.lines] == [
        "status",
        "Content-Type",
        "header",
        "body",
    ]
    assert all(line.startswith("#3 GET /rules/1: ") for line in differences.lines)
    assert "<ignored>" in differences.lines[-1] and '"t": 9' not in differences.lines[-1]


def test_captured_values_stand_in_for_later_requests_and_answers() -> None:
    captured = {"rev": 14}
    assert substituted({"change_id": "${rev}", "path": "/x/${rev}"}, captured) == {
        "change_id": 14,
        "path": "/x/14",
    }
    assert substituted("${other}", captured) == "${other}"
