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

from tests.e2e.conftest import AdminClient
from tests.e2e.session_replay import load_session, replay

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
