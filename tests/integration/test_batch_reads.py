"""Batch reads and the version-checked cache (``domain.batch_reads``), on both stores.

A command reads its aggregates in one statement, and the acting user and the
signoff policies come from a cache that the same statement brings up to date:
what another process (another application on the same store) changed before
the command started must be seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from rulelog.domain import ids
from rulelog.domain.access.users import User
from rulelog.domain.errors import Conflict, PermissionDenied, SignoffRequired
from rulelog.domain.workflow.policies import SignoffPolicies
from rulelog.services.application import RulelogApp
from tests.conftest import Store
from tests.samples import empty_blob, plain_rule

RELEASE = empty_blob("R-1")
RULE = plain_rule("R-1")
POLICY = {"product": "Firefox", "channel": "release", "signoffs_required": 1, "role": "relman"}


@pytest.fixture
def seeded(app: RulelogApp) -> RulelogApp:
    app.create_release("R-1", "Firefox", RELEASE, changed_by="alice")
    app.create_rule(RULE, changed_by="alice")
    app.grant_permission("bob", "rule", {"products": ["Firefox"]}, changed_by="alice")
    return app


def state(aggregate: Any) -> dict[str, Any]:
    return dict(vars(aggregate))


@contextmanager
def selects(app: RulelogApp) -> Iterator[list[str]]:
    """The SELECT statements the application sends while the block runs (reads: on
    PostgreSQL an append is a SELECT of the recorder's append function, not counted)."""
    engine = app.recorder.datastore.engine  # type: ignore[attr-defined]
    append = getattr(app.recorder, "append_function", None)
    seen: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        reading = statement.lstrip().upper().startswith("SELECT")
        if reading and (append is None or append not in statement):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def test_a_permission_revoked_elsewhere_is_honoured_by_the_next_command(
    store: Store, seeded: RulelogApp
) -> None:
    seeded.update_rule(1, 1, {"priority": 11}, changed_by="bob")  # bob's user now cached
    assert ids.user_id("bob") in seeded.reader._cache
    other = store.open()  # another process: its writes bypass this app's cache
    granted = other.get_user("bob").permissions["rule"]["data_version"]
    other.revoke_permission("bob", "rule", granted, changed_by="alice")
    with pytest.raises(PermissionDenied):
        seeded.update_rule(1, 2, {"priority": 12}, changed_by="bob")
    assert seeded.get_rule(1).fields["priority"] == 11
    # ... and granted again elsewhere, it is honoured too.
    other.grant_permission("bob", "rule", {"products": ["Firefox"]}, changed_by="alice")
    seeded.update_rule(1, 2, {"priority": 12}, changed_by="bob")
    assert seeded.get_rule(1).fields["priority"] == 12


def test_a_policy_added_elsewhere_is_seen_by_the_next_command(
    store: Store, seeded: RulelogApp
) -> None:
    seeded.grant_role("alice", "relman", changed_by="alice")
    seeded.add_required_signoff("product", {**POLICY, "product": "Thunderbird"}, "alice")
    seeded.update_rule(1, 1, {"priority": 11}, changed_by="alice")  # policies now cached
    assert ids.signoff_policies_id() in seeded.reader._cache
    other = store.open()
    other.add_required_signoff("product", POLICY, changed_by="alice")
    with pytest.raises(SignoffRequired):
        seeded.update_rule(1, 2, {"priority": 12}, changed_by="alice")
    assert seeded.get_rule(1).data_version == 2


def test_a_batch_read_is_what_the_repository_reads(store: Store, seeded: RulelogApp) -> None:
    """Snapshotted aggregates (policies and the release usage index, every 50
    events) and plain ones, cached and not, absent ids left out."""
    app = seeded
    app.grant_role("alice", "relman", changed_by="alice")
    for n in range(55):  # 56 policy events: a snapshot at 50, events after it
        app.add_required_signoff("product", {**POLICY, "channel": f"c{n}"}, changed_by="alice")
    for priority in range(55):
        app.create_rule({**RULE, "priority": 100 + priority}, changed_by="alice")
    wanted = [
        ids.signoff_policies_id(),
        ids.release_usage_id("R-1"),
        ids.user_id("bob"),
        ids.user_id("alice"),
        ids.rule_id(1),
        ids.rule_id(56),
        ids.release_id("R-1"),
        ids.user_id("nobody"),
        ids.rule_id(999),
    ]
    assert len(list(app.snapshots.get(ids.signoff_policies_id()))) >= 1  # type: ignore[union-attr]
    assert len(list(app.snapshots.get(ids.release_usage_id("R-1")))) >= 1  # type: ignore[union-attr]
    for reader_app in (store.open(), app):  # a cold cache, then a warm one
        for _ in range(2):
            found = reader_app.reader.get_many(wanted)
            assert set(found) == set(wanted[:-2])
            for aggregate_id, aggregate in found.items():
                assert state(aggregate) == state(app.repository.get(aggregate_id))
    policies = app.reader.get_many([ids.signoff_policies_id()])[ids.signoff_policies_id()]
    assert isinstance(policies, SignoffPolicies)
    assert len(policies.rows_of("product")) == 55


def test_cached_aggregates_are_handed_out_as_copies(seeded: RulelogApp) -> None:
    bob = ids.user_id("bob")
    first = seeded.reader.get_many([bob])[bob]
    assert isinstance(first, User)
    first.grant("release", {"products": None}, "nobody")  # changed, never saved
    again = seeded.reader.get_many([bob])[bob]
    assert "release" not in again.permissions
    assert again.version == seeded.repository.get(bob).version


def test_a_cached_user_changed_by_this_app_is_read_back_current(seeded: RulelogApp) -> None:
    seeded.update_rule(1, 1, {"priority": 11}, changed_by="bob")
    user = seeded.get_user("bob")
    seeded.revoke_permission("bob", "rule", user.permissions["rule"]["data_version"], "alice")
    with pytest.raises(PermissionDenied):
        seeded.update_rule(1, 2, {"priority": 12}, changed_by="bob")


def test_an_update_reads_once_and_a_retry_reads_again(store: Store, seeded: RulelogApp) -> None:
    """One SELECT for the rule, the user, the policies and the pending lock; after
    a lost write race the next attempt reads afresh (and sees the new version)."""
    with selects(seeded) as seen:
        seeded.update_rule(1, 1, {"priority": 11}, changed_by="bob")
    assert len(seen) == 1, seen

    other = store.open()
    raced: list[int] = []
    real_save = seeded.save

    def racing_save(*aggregates: Any, **kwargs: Any) -> Any:
        if not raced:  # another writer lands between our read and our save, once
            raced.append(other.update_rule(1, 2, {"priority": 13}, "alice").data_version)
        return real_save(*aggregates, **kwargs)

    seeded.save = racing_save  # type: ignore[method-assign]
    # The first attempt's save loses; the retry re-reads, finds data_version 3
    # and reports the conflict instead of saving over the other write.
    with pytest.raises(Conflict, match="data_version 3"):
        seeded.update_rule(1, 2, {"priority": 12}, changed_by="bob")
    assert raced == [3]
    assert seeded.get_rule(1).fields["priority"] == 13
