"""A store written before the package move opens, and reads as it was written.

Why: stored events name their class by *topic*, and rulelog's topics are fixed
strings (each class's ``TOPIC``, ``"rulelog:rule.created"``), not module paths,
so that moving the modules (``domain/`` -> ``rulelog.domain``, with
subpackages) leaves every store already written readable. Nothing else would
notice if a move broke that: every other test writes its store with the code
it runs. ``tests/data/store-v0.1.db`` was written by the code of main at
e6b4c23, before the move, by ``tests/data/make_old_store.py``; this test opens
a copy with the current code and reads every kind of object in it -- rules,
releases (v1 blobs and v2 parts), shutoffs, pins, users, permissions and
roles, API tokens, signoff policies, scheduled changes of every kind and
state, expectations, test-channel mappings, uptake, the Balrog import marks,
the index aggregates, snapshots and timeline checkpoints -- through the
application, the projections and the public server; rebuilds the projections;
answers for a past time; and serves update requests.

If it fails after a move, a stored topic, an event's fields or a stored
format changed: restore the topic or add an upcaster. Never regenerate the
fixture to make this pass.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from rulelog.api.config import open_app, open_timeline
from rulelog.domain import ids
from rulelog.domain.balrog.marks import BalrogImport
from rulelog.domain.catalog.releases import Release, ReleaseUsage
from rulelog.domain.sequence import Sequence
from rulelog.projections.at import release_at, rules_at
from rulelog.projections.audit import changes
from rulelog.projections.expectations import check_state
from rulelog.projections.history import release_history, rule_history, sc_history
from rulelog.projections.log import last_position, read_log, read_notifications
from rulelog.projections.state import Catalog
from rulelog.projections.timeline import Timeline
from rulelog.projections.tokens import list_tokens
from rulelog.services.application import RulelogApp
from rulelog.services.release_v2 import ReleasesV2
from tests.conftest import DATA
from tests.data.make_old_store import NIGHTLY, NIGHTLY_PLATFORM, token_for
from tests.integration.test_serving_from_checkpoint import node

FIXTURE = DATA / "store-v0.1.db"
ROOT = Path(__file__).resolve().parents[2]
HEAD = 252  # events in the fixture
#: Every topic rulelog stored at e6b4c23; the fixture holds each at least once.
TOPICS = frozenset(
    f"rulelog:{kind}.{name}"
    for kind, names in {
        "api-token": ("issued", "revoked"),
        "balrog-import": ("imported", "caught-up"),
        "channel-map": ("created", "mapped", "unmapped"),
        "emergency-shutoff": ("created", "deleted", "recreated"),
        "expectation": ("added", "changed", "readded", "removed"),
        "pending-target": ("created", "claimed", "freed"),
        "pinnable-release": ("created", "deleted", "mapping-changed", "recreated"),
        "release": (
            "created", "blob-replaced", "deleted", "parts-changed", "read-only-changed",
            "recreated",
        ),
        "release-usage": ("created", "attached", "detached", "retired"),
        "role-roster": ("created", "joined", "left"),
        "rule": ("created", "deleted", "updated"),
        "rule-alias": ("created", "claimed", "released"),
        "scheduled-change": (
            "scheduled", "modified", "rebased", "signed-off", "expectations-overridden",
            "signoff-revoked", "cancelled", "enacted",
        ),
        "sequence": ("created", "advanced"),
        "signoff-policies": ("created", "set", "removed"),
        "uptake": ("created", "reported"),
        "user": (
            "created", "permission-granted", "permission-changed", "permission-revoked",
            "role-granted", "role-revoked",
        ),
    }.items()
    for name in names
)  # fmt: skip
#: (kind, sc_id) -> status of every scheduled change in the fixture, sc_ids counting from 1:
#: rules 2 waits on uptake, rules 6 is signed off with an override, pinnable_releases 1
#: was rebased by a direct edit.
SCHEDULED = {
    (kind, sc_id): status
    for kind, statuses in {
        "rules": ("enacted", "pending", "cancelled", "enacted", "pending", "pending"),
        "releases": ("pending", "enacted", "cancelled"),
        "emergency_shutoff": ("pending", "enacted", "cancelled"),
        "pinnable_releases": ("pending", "cancelled", "enacted"),
        "permissions": ("enacted", "enacted", "cancelled", "pending"),
        "required_signoffs/product": ("pending", "enacted", "cancelled"),
        "required_signoffs/permissions": ("pending", "enacted", "cancelled"),
    }.items()
    for sc_id, status in enumerate(statuses, start=1)
}
UPDATE = "/update/6/Firefox/{v}/20231016134553/{t}/{l}/{c}/Linux/default/default/default/update.xml"
NIGHTLY_DE = UPDATE.format(v="121.0a1", t=NIGHTLY_PLATFORM, l="de", c="nightly")
RELEASE = UPDATE.format(v="119.0", t="WINNT_x86_64-msvc", l="en-US", c="release") + "?force=1"
BETA = UPDATE.format(v="118.0", t="WINNT_x86_64-msvc", l="en-US", c="beta")


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    """The fixture copied (the test may write; the file in the repository stays as written)."""
    assert FIXTURE.stat().st_size < 1_000_000
    assert not Path(f"{FIXTURE}-wal").exists() and not Path(f"{FIXTURE}-shm").exists()
    target = tmp_path / "store-v0.1.db"
    shutil.copyfile(FIXTURE, target)
    return target


@pytest.fixture
def app(store_file: Path) -> Iterator[RulelogApp]:
    opened = open_app(f"sqlite:///{store_file}")
    yield opened
    opened.close()


@pytest.fixture
def timeline(app: RulelogApp) -> Timeline:
    return open_timeline(app)


def folded(app: RulelogApp, stop: int | None = None) -> Catalog:
    return Catalog(keep_ended=True).fold(read_log(app, stop=stop))


def test_every_stored_event_and_snapshot_decodes(app: RulelogApp, store_file: Path) -> None:
    stored = list(read_notifications(app))
    assert len(stored) == last_position(app) == HEAD
    assert {n.topic for n in stored} == TOPICS
    for notification in stored:
        event = app.mapper.to_domain_event(notification)
        assert notification.topic == type(event).TOPIC
    with sqlite3.connect(store_file) as conn:
        snapshotted = [
            row[0] for row in conn.execute("SELECT originator_id FROM rulelog_snapshots")
        ]
    conn.close()
    assert len(snapshotted) == 5
    for raw in snapshotted:
        aggregate_id = UUID(bytes=raw)
        # Through the snapshot (as every command reads), and replayed from the events.
        through_snapshot = app.repository.get(aggregate_id)
        replayed = None
        for event in app.events.get(aggregate_id):
            replayed = event.mutate(replayed)
        assert replayed is not None and vars(through_snapshot) == vars(replayed)


def test_the_catalogue_as_written(app: RulelogApp, timeline: Timeline) -> None:
    state = folded(app)
    rules = state.rules
    assert sorted(rules) == [1, 3, 4, 5]  # rule 2 was deleted
    assert (rules[1]["mapping"], rules[1]["backgroundRate"], rules[1]["data_version"]) == (
        "Firefox-121.0-build1",
        25,
        4,
    )
    assert rules[3]["alias"] == "firefox-release" and rules[3]["priority"] == 85
    assert rules[3]["comment"] == "caught up after the import" and rules[3]["data_version"] == 3
    assert (rules[4]["channel"], rules[4]["priority"]) == ("esr", 5)
    assert (rules[5]["alias"], rules[5]["mapping"]) == ("firefox-nightly", NIGHTLY)
    releases = state.releases
    assert sorted(releases) == sorted(
        [
            "Firefox-119.0-build1",
            "Firefox-120.0-build1",
            "Firefox-121.0-build1",
            "Firefox-122.0-build1",
            NIGHTLY,
        ]
    )
    assert releases["Firefox-121.0-build1"]["read_only"] is True
    assert releases["Firefox-119.0-build1"]["data_version"] == 2  # recreated, then replaced
    assert releases[NIGHTLY]["data_version"] == 4  # created, three v2 writes
    assert state.shutoffs == {
        ("Firefox", "beta"): {
            "product": "Firefox",
            "channel": "beta",
            "comment": None,
            "data_version": 1,
        },
        ("Firefox", "aurora"): {
            "product": "Firefox",
            "channel": "aurora",
            "comment": "scheduled stop",
            "data_version": 1,
        },
    }
    assert {k: (v["mapping"], v["data_version"]) for k, v in state.pins.items()} == {
        ("Firefox", "release", "120."): ("Firefox-120.0-build1", 3),
        ("Firefox", "beta", "119."): ("Firefox-119.0-build1", 1),
        ("Firefox", "esr", "119."): ("Firefox-119.0-build1", 1),
    }
    # The stored checkpoint (every 50 events) plus the rest gives the same state.
    assert timeline.checkpoint_at_or_before(HEAD).position == 250
    assert timeline.current().to_data() == Catalog().fold(read_log(app)).to_data()


def test_users_permissions_roles_and_policies(app: RulelogApp) -> None:
    state = folded(app)
    assert {name: sorted(u["permissions"]) for name, u in state.users.items()} == {
        "alice": ["admin"],
        "bob": ["rule"],
        "carol": [],
        "dave": [],
        "erin": ["rule"],
        "robot": ["scheduled_change"],
    }
    bob = app.get_user("bob")
    assert bob.permissions["rule"]["options"] == {"products": ["Firefox", "Thunderbird"]}
    assert bob.permissions["rule"]["data_version"] == 2
    assert set(app.get_user("erin").roles) == {"qa"}
    assert app.get_user("robot").permissions["scheduled_change"]["options"] == {
        "actions": ["enact"]
    }
    assert {k: v["signoffs_required"] for k, v in state.policies["product"].items()} == {
        "Firefox\x1frelease\x1frelman": 2,
        "Firefox\x1faurora\x1frelman": 1,
    }
    assert sorted(app.policies().rows_of("permissions"), key=lambda r: r["product"]) == [
        {"product": "Firefox", "role": "relman", "signoffs_required": 1, "data_version": 1},
        {"product": "Thunderbird", "role": "relman", "signoffs_required": 1, "data_version": 1},
    ]


def test_tokens_authenticate_as_issued(app: RulelogApp) -> None:
    laptop_id, laptop = token_for("laptop")
    old_id, old = token_for("old laptop")
    assert app.authenticate(laptop) == "bob"
    assert app.authenticate(old) is None  # revoked
    assert app.get_token(old_id).revoked and not app.get_token(laptop_id).revoked
    assert [(t["token_id"], t["username"], t["label"], t["revoked"]) for t in list_tokens(app)] == [
        (laptop_id, "bob", "laptop", False),
        (old_id, "alice", "old laptop", True),
    ]


def test_scheduled_changes_of_every_kind(app: RulelogApp, timeline: Timeline) -> None:
    state = folded(app)
    assert {k: sc["status"] for k, sc in state.scheduled.items()} == SCHEDULED
    rules5 = state.scheduled[("rules", 5)]
    assert rules5["signoffs"] == {"bob": "relman", "dave": "relman"}
    assert rules5["required"] == [{"role": "relman", "signoffs_required": 2}]
    assert state.scheduled[("rules", 2)]["condition"] == {
        "telemetry_product": "Firefox",
        "telemetry_channel": "release",
        "telemetry_uptake": 50,
    }
    assert state.scheduled[("rules", 1)]["enacted_by"] == "bob"
    assert state.scheduled[("required_signoffs/product", 3)]["signoffs"] == {
        "bob": "relman",
        "dave": "relman",
    }
    # Through the aggregate, as the commands read it: the override and the rebase.
    nightly = app.get_scheduled_change("rules", 6)
    assert nightly.expectation_overrides == [
        {
            "username": "bob",
            "reason": "122 goes to nightly",
            "failures": ["nightly-de", "nightly-ja"],
        }
    ]
    pin_delete = app.get_scheduled_change("pinnable_releases", 1)
    assert (pin_delete.change_type, pin_delete.base_data_version) == ("delete", 3)
    steps = [step["event"] for step in sc_history(app, timeline, "pinnable_releases", 1)]
    assert steps == ["scheduled", "rebased"]
    steps = [step["event"] for step in sc_history(app, timeline, "rules", 1)]
    assert steps == ["scheduled", "signed-off", "signed-off", "modified", "signed-off", "enacted"]
    steps = [step["event"] for step in sc_history(app, timeline, "rules", 2)]
    assert steps == ["scheduled", "signed-off", "signoff-revoked"]


def test_releases_v1_and_v2(app: RulelogApp, timeline: Timeline) -> None:
    v2 = ReleasesV2(app).read(NIGHTLY)
    assert v2 is not None
    assert v2["data_versions"] == {
        ".": 1,
        "platforms": {NIGHTLY_PLATFORM: {"locales": {"de": 2, "en-US": 1, "ja": 1}}},
    }
    locales = v2["blob"]["platforms"][NIGHTLY_PLATFORM]["locales"]
    assert {k: v["completes"][0]["filesize"] for k, v in locales.items()} == {
        "en-US": 40000,
        "de": 42000,
        "ja": 43000,
    }
    assert [r["event"] for r in release_history(app, timeline, NIGHTLY)] == [
        "created",
        "parts-changed",
        "parts-changed",
        "parts-changed",
    ]
    replaced = app.get_release("Firefox-119.0-build1")
    assert replaced.blob["appv"] == "119.0.1"
    assert [r["event"] for r in release_history(app, timeline, "Firefox-119.0-build1")] == [
        "created",
        "deleted",
        "recreated",
        "blob-replaced",
    ]
    # The release deleted through the app: gone, its usage index retired.
    deleted = app.find(ids.release_id("Firefox-118.0-build1"), Release)
    assert deleted is not None and deleted.deleted
    usage = app.find(ids.release_usage_id("Firefox-121.0-build1"), ReleaseUsage)
    assert usage is not None and usage.refs == {"rule 1", "rule 4"}


def test_expectations_channels_uptake_and_import_marks(app: RulelogApp, timeline: Timeline) -> None:
    state = folded(app)
    assert {
        k: (e["expect"], e["reason"], e["data_version"]) for k, e in state.expectations.items()
    } == {
        "nightly-de": ({"release": NIGHTLY}, "the v2 nightly", 2),
        "nightly-ja": ({"version_at_least": "122.0a1"}, None, 1),
        "esr-no-update": ({"no_update": True}, "back again", 1),
    }
    # Checked by the serving code: both nightly ones pass live and fail on the test
    # view, blamed on the pending change signed off with an override.
    results = {r["name"]: r for r in check_state(app, timeline.current(), channel="nightly")}
    assert {name: (r["live"]["passed"], r["test"]["passed"]) for name, r in results.items()} == {
        "nightly-de": (True, False),
        "nightly-ja": (True, False),
    }
    assert results["nightly-de"]["test"]["responsible"] == [{"kind": "rules", "sc_id": 6}]
    assert app.channel_map().tests == {"release-qa": "release"}
    assert state.test_channels == {"release-qa": "release"} and state.uptake == {
        ("Firefox", "release"): 60.0
    }
    marks = app.find(ids.balrog_import_id(), BalrogImport)
    assert marks is not None and marks.marks["rules"] == 15 and marks.marks["permissions"] == 10
    # The index aggregates: the next ids follow the stored sequences.
    sequence = app.find(ids.sequence_id("sc:rules"), Sequence)
    assert sequence is not None and sequence.value == 6
    kinds = {row["kind"] for row in changes(app, timeline)}
    assert kinds == {
        "api-token",
        "balrog-import",
        "channel",
        "expectation",
        "permission",
        "pin",
        "policy",
        "release",
        "role",
        "rule",
        "sc",
        "shutoff",
        "uptake",
    }


def test_time_travel_and_rebuild(app: RulelogApp, timeline: Timeline) -> None:
    # Balrog's moment "rules_edited" (ms): rule 2 still there, with its comment.
    then = rules_at(timeline, "1700000017000")
    assert [(r["rule_id"], r["comment"]) for r in then["rules"]] == [(1, None), (2, "beta users")]
    assert [r["event"] for r in rule_history(app, timeline, 2)] == ["created", "updated", "deleted"]
    # 17 s into the fixed clock: the v2 nightly has only the locale it was created with.
    moment = datetime(2023, 11, 15, 0, 0, 17, tzinfo=UTC)
    position = timeline.position_at(moment)
    assert position == 135
    old_nightly = release_at(app, timeline, "2023-11-15T00:00:17Z", NIGHTLY)
    assert set(old_nightly["data"]["platforms"][NIGHTLY_PLATFORM]["locales"]) == {"en-US"}
    # Every stored checkpoint decodes to the fold of the log up to it.
    for at in (50, 100, 150, 200, 250):
        stored = timeline.checkpoint_at_or_before(at)
        assert stored.position == at
        assert stored.to_data() == Catalog().fold(read_log(app, stop=at)).to_data()
    past = {at: timeline.state_at(at).to_data() for at in (120, position, HEAD)}
    times = {at: timeline.time_of(at) for at in (1, 120, position, HEAD)}
    assert timeline.rebuild() == HEAD
    # No full checkpoint (fewer than 1,000 events): the delta at 128 (every D = 128).
    assert timeline.checkpoint_at_or_before(HEAD).position == 128
    assert {at: timeline.state_at(at).to_data() for at in past} == past
    assert {at: timeline.time_of(at) for at in times} == times
    assert timeline.position_at(moment) == position
    # The store still takes writes; new ids follow the stored sequences.
    rule = app.create_rule(
        {
            "product": "Firefox",
            "channel": "beta",
            "mapping": "Firefox-122.0-build1",
            "priority": 10,
            "backgroundRate": 100,
            "update_type": "minor",
        },
        "alice",
    )
    assert rule.rule_id == 6


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    return next((v.decode() for k, v in headers if k.lower() == name), None)


@pytest.mark.parametrize("from_checkpoint", [True, False])
def test_update_requests_are_answered(app: RulelogApp, from_checkpoint: bool) -> None:
    with node(app, from_checkpoint=from_checkpoint) as driver:
        answers = driver.answers(
            [
                NIGHTLY_DE,
                RELEASE,
                BETA,
                "/api/v1/emergency_shutoff/Firefox/beta",
                "/api/v1/pins/Firefox/release/120.",
            ]
        )
    status, headers, body = answers[NIGHTLY_DE]
    assert status == 200 and _header(headers, b"rule-id") == "5"
    assert _header(headers, b"x-rulelog-position") == str(HEAD)
    assert b'appVersion="122.0a1"' in body and b'size="42000"' in body  # the v2 part "de"
    assert b"firefox-122.0a1.de.linux-x86_64.complete.mar" in body
    status, headers, body = answers[RELEASE]
    assert status == 200 and _header(headers, b"rule-id") == "1"
    assert b'version="121.0"' in body
    status, _headers, body = answers[BETA]  # the beta shutoff
    assert status == 200 and b"<update " not in body
    assert answers["/api/v1/emergency_shutoff/Firefox/beta"][0] == 200
    status, _headers, body = answers["/api/v1/pins/Firefox/release/120."]
    assert status == 200 and b"Firefox-120.0-build1" in body


def test_a_fresh_server_process_folds_the_whole_log(store_file: Path) -> None:
    """In a fresh interpreter only the classes of the modules imported are known by topic."""
    script = textwrap.dedent(
        """
        import sys
        from starlette.testclient import TestClient
        from rulelog.api.config import open_app
        from rulelog.api.public import PublicSettings, create_public_app

        settings = PublicSettings(follow=False, start_from_checkpoint=False)
        web = create_public_app(settings=settings, store=open_app(sys.argv[1]))
        with TestClient(web) as client:
            answer = client.get(sys.argv[2])
        sys.exit(0 if answer.headers.get("Rule-ID") == "5" else 1)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, f"sqlite:///{store_file}", NIGHTLY_DE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = (result.stdout + result.stderr).splitlines()
    errors = [line for line in output if "TopicError" in line]
    assert result.returncode == 0 and not errors, errors[:3]
