"""A serving process shortens the interpreter's switch interval while it serves.

Its follower thread shares the interpreter with the event loop; the setting
(``RULELOG_SWITCH_INTERVAL``) bounds how long it waits for its turn after each
read of the log. ``stop`` gives the process its previous interval back, so an
embedding program (or a test run) is left as it was.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rulelog.api.public import PublicSettings, create_public_app
from tests.conftest import imported_fixture


def test_serving_sets_the_switch_interval_and_stop_restores_it(tmp_path: Path) -> None:
    store = imported_fixture(tmp_path)
    before = sys.getswitchinterval()
    wanted = 0.0023 if abs(before - 0.0023) > 1e-6 else 0.0031
    app = create_public_app(
        settings=PublicSettings(follow=False, switch_interval=wanted), store=store
    )
    server = app.state.server
    server.start()
    try:
        assert abs(sys.getswitchinterval() - wanted) < 1e-9
    finally:
        server.stop()
    assert abs(sys.getswitchinterval() - before) < 1e-9


def test_the_setting_reaches_the_server_from_the_environment() -> None:
    settings = PublicSettings.from_env({"RULELOG_SWITCH_INTERVAL": "0.0025"})
    assert settings.switch_interval == 0.0025
    assert PublicSettings.from_env({}).switch_interval == 0.001
