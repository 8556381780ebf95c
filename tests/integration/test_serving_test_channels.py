"""Derived test channels served: scheduled changes show on release-cdntest first."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rulelog.domain.serving.evaluate import evaluate
from rulelog.domain.serving.request import parse_url
from rulelog.projections.serving import ServingState
from rulelog.services.application import RulelogApp
from tests.samples import FIREFOX_120_URL

T0 = datetime(2030, 1, 1, tzinfo=UTC)
WHEN = {"when": (T0 + timedelta(hours=1)).isoformat()}
URL = FIREFOX_120_URL.format(locale="en-US", channel="{channel}")


@pytest.fixture
def served(app: RulelogApp, fixture_snapshot: dict[str, Any]) -> tuple[RulelogApp, ServingState]:
    app.now = lambda: T0  # type: ignore[method-assign]
    app.import_snapshot(fixture_snapshot, changed_by="importer")
    app.grant_permission("robot", "scheduled_change", {"actions": ["enact"]}, "alice")
    state = ServingState()
    state.advance(app)
    return app, state


def answer(app: RulelogApp, state: ServingState, channel: str) -> str:
    """The body, prefixed with the Rule-ID that chose it."""
    state.advance(app)
    request = parse_url(URL.format(channel=channel))
    index = state.index
    for _ in range(5):  # as the server: load what was missing (off the loop), evaluate again
        view = index.for_request(request)
        response = evaluate(request, view)
        if not view.missing:
            break
        index.load_missing(view.missing)
    assert response.status == 200
    return f"rule {response.rule_id}: {response.body}"


def test_scheduled_changes_are_served_on_the_test_channel_only(
    served: tuple[RulelogApp, ServingState],
) -> None:
    app, state = served
    live_before = answer(app, state, "release")
    cdntest_before = answer(app, state, "release-cdntest")
    assert live_before.startswith("rule 1:") and cdntest_before.startswith("rule 1:")
    # Rule 1 leaves release (for beta): release-cdntest falls through to another rule.
    rule_change = app.schedule_change("rules", "update", {"rule_id": 1, "channel": "beta"},
                                      WHEN, "alice", data_version=1)
    release = app.get_release("Firefox-121.0-build1")
    blob = copy.deepcopy(release.blob)
    blob["displayVersion"] = "121.0 respin"
    release_change = app.schedule_change("releases", "update",
                                         {"name": release.name, "data": blob}, WHEN, "alice",
                                         data_version=1)
    cdntest = answer(app, state, "release-cdntest")
    assert not cdntest.startswith("rule 1:")
    assert answer(app, state, "release") == live_before
    # An unrelated channel's test channel is untouched (same rule; its own download URLs).
    assert answer(app, state, "beta-cdntest").split(":")[0] == answer(app, state, "beta").split(
        ":"
    )[0]

    # The scheduled blob is served where the (overlaid) rules map to it: cancel the
    # rule change and release-cdntest serves rule 1 with the respun blob.
    app.cancel_scheduled_change("rules", rule_change.sc_id, 1, "alice")
    cdntest = answer(app, state, "release-cdntest")
    assert cdntest.startswith("rule 1:") and 'displayVersion="121.0 respin"' in cdntest
    assert "respin" not in answer(app, state, "release")
    # After cancellation neither serves it; after enactment both do.
    app.cancel_scheduled_change("releases", release_change.sc_id, 1, "alice")
    assert answer(app, state, "release-cdntest") == cdntest_before
    again = app.schedule_change("releases", "update", {"name": release.name, "data": blob},
                                WHEN, "alice", data_version=1)
    app.enact_scheduled_change("releases", again.sc_id, "robot")
    assert "respin" in answer(app, state, "release")
    assert "respin" in answer(app, state, "release-cdntest")


def test_an_explicitly_mapped_test_channel_is_derived(
    served: tuple[RulelogApp, ServingState],
) -> None:
    app, state = served
    app.map_test_channel("release", "release-qa", "alice")
    app.schedule_change("rules", "update", {"rule_id": 1, "channel": "beta"}, WHEN,
                        "alice", data_version=1)
    assert not answer(app, state, "release-qa").startswith("rule 1:")
    assert answer(app, state, "release").startswith("rule 1:")
