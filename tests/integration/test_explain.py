"""explain --at: the answer at a past time equals what the server answered then."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from rulelog.api.config import open_timeline
from rulelog.domain.errors import Invalid, NotFound
from rulelog.domain.serving.evaluate import evaluate
from rulelog.domain.serving.request import RouteRedirect, parse_url
from rulelog.projections.explain import explain
from rulelog.projections.log import last_position
from rulelog.projections.serving import ServingState
from rulelog.services.application import RulelogApp
from tests.conftest import DATA
from tests.samples import FIREFOX_120_URL

T0 = datetime(2030, 1, 1, tzinfo=UTC)
WHEN = {"when": (T0 + timedelta(hours=1)).isoformat()}
BASE = FIREFOX_120_URL
URLS = [
    BASE.format(locale=locale, channel=channel)
    for locale in ("en-US", "de")
    for channel in ("release", "release-cdntest", "beta")
] + [json.loads(line)["url"] for line in (DATA / "expected.jsonl").read_text().splitlines()[:40]]


def served(app: RulelogApp, state: ServingState) -> dict[str, tuple[int, str | None, str]]:
    """What the server's index answers now, for every URL."""
    state.advance(app)
    answers = {}
    for url in URLS:
        try:
            request = parse_url(url)
        except (Invalid, NotFound, RouteRedirect):  # not update answers: nothing to record
            continue
        for _ in range(5):
            view = state.index.for_request(request)
            try:
                response = evaluate(request, view)
            except Invalid:  # Balrog's 400s
                response = None
                break
            if not view.missing:
                break
            state.index.load_missing(view.missing)
        if response is not None:
            answers[url] = (response.status, response.rule_id, response.body)
    return answers


def test_explaining_the_past_gives_what_was_served(
    app: RulelogApp, fixture_snapshot: dict[str, Any]
) -> None:
    app.now = lambda: T0  # type: ignore[method-assign]
    app.import_snapshot(fixture_snapshot, changed_by="importer")
    state = ServingState()
    recorded: list[tuple[int, dict[str, Any]]] = []
    recorded.append((last_position(app), served(app, state)))

    app.update_rule(1, 1, {"priority": 89, "comment": "moved"}, "alice")
    release = app.get_release("Firefox-121.0-build1")
    blob = copy.deepcopy(release.blob)
    blob["displayVersion"] = "121.0 respin"
    app.schedule_change("releases", "update", {"name": release.name, "data": blob}, WHEN,
                        "alice", data_version=1)
    recorded.append((last_position(app), served(app, state)))

    app.create_shutoff("Firefox", "beta", "alice")
    recorded.append((last_position(app), served(app, state)))

    timeline = open_timeline(app)
    for position, answers in recorded:
        for url, (status, rule_id, body) in answers.items():
            told = explain(app, timeline, url, at=f"position:{position}")
            response = told["response"]
            assert (response["status"], response["headers"].get("Rule-ID"), response["body"]) == (
                status,
                rule_id,
                body,
            ), (position, url)
    # The test channel's explanation names the overlaid change and who made it.
    told = explain(app, timeline, BASE.format(locale="en-US", channel="release-cdntest"))
    assert told["test_channel"] and told["overlays"][0]["kind"] == "releases"
    assert told["overlays"][0]["events"][0]["actor"] == "alice"
    assert "respin" in told["response"]["body"]
    assert told["matched_rules"][0]["put_in_place_by"]["actor"] in ("alice", "importer")
