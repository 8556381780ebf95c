"""A serving node started from a checkpoint answers exactly as one that folded the whole log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from rulelog.api.public import PublicSettings, create_public_app
from rulelog.domain.serving import evaluate
from rulelog.services.application import RulelogApp
from tests.conftest import DATA
from tests.integration.public_driver import Driver

URLS = [
    v["url"]
    for v in map(json.loads, (DATA / "expected.jsonl").read_text().splitlines())
    if v["url"].startswith(("/update/", "/json/"))
]
READS = [
    "/api/v1/rules",
    "/api/v1/rules/1",
    "/api/v1/rules/1/revisions",
    "/api/v1/rules/5/revisions",
    "/api/v1/releases",
    "/__heartbeat__",
]


@contextmanager
def node(app: RulelogApp, *, from_checkpoint: bool) -> Iterator[Driver]:
    settings = PublicSettings(follow=False, start_from_checkpoint=from_checkpoint)
    web = create_public_app(settings=settings, store=app)
    web.state.server.start()
    driver = Driver(web)
    try:
        yield driver
    finally:
        driver.server.stop()
        web.request_log.close()
        driver.loop.close()


def test_checkpoint_start_serves_what_a_full_fold_serves(
    app: RulelogApp, fixture_snapshot: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RULELOG_CHECKPOINT_EVERY", "10")
    monkeypatch.setattr(evaluate, "_default_dice", lambda: 42)  # throttled rules too
    app.import_snapshot(fixture_snapshot, "importer")
    for n in range(3):  # rule 1 has revisions before and after the checkpoint
        app.update_rule(1, app.get_rule(1).data_version, {"comment": f"before {n}"}, "alice")
    with node(app, from_checkpoint=True) as started, node(app, from_checkpoint=False) as folded:
        position = started.server.state.index.position
        assert started.server.state.revisions.since > 0  # it did start from a checkpoint
        assert position - started.server.state.revisions.since < 10
        urls = URLS + READS
        assert started.answers(urls) == folded.answers(urls)
        app.update_rule(1, app.get_rule(1).data_version, {"comment": "after"}, "alice")
        app.create_shutoff("Firefox", "beta", "alice")
        after = started.answers(urls)
        assert after == folded.answers(urls)
        revisions = json.loads(after["/api/v1/rules/1/revisions"][2])
        assert [r["comment"] for r in revisions["rules"][:4]] == [
            "after",
            "before 2",
            "before 1",
            "before 0",
        ]
