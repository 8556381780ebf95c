"""The shared life cycle of rows that are deleted and created again
(``domain.catalog.recreatable``): data_version restarts, the stream goes on,
and replaying the events gives the same row."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.domain import Aggregate

from rulelog.domain.catalog.pins import PinnableRelease
from rulelog.domain.catalog.releases import Release
from rulelog.domain.catalog.rules import Rule
from rulelog.domain.catalog.shutoffs import EmergencyShutoff
from rulelog.domain.errors import Invalid, NotFound

BLOB = {"name": "r", "schema_version": 1}


def replayed(aggregate: Aggregate, events: list[Any]) -> Aggregate:
    """The aggregate rebuilt from its events, as a repository would."""
    rebuilt = None
    for ev in events:
        rebuilt = ev.mutate(rebuilt)
    assert rebuilt is not None and rebuilt.version == aggregate.version
    return rebuilt


@pytest.mark.parametrize(
    ("aggregate", "recreated", "missing"),
    [
        (
            lambda: Release(name="r", product="P", blob=BLOB, read_only=False, changed_by="a"),
            {"product": "Q", "blob": {**BLOB, "x": 1}, "read_only": True},
            "release r does not exist",
        ),
        (
            lambda: EmergencyShutoff(product="P", channel="c", comment=None, changed_by="a"),
            {"comment": "again"},
            "no emergency shutoff for P on c",
        ),
        (
            lambda: PinnableRelease(
                product="P", channel="c", version="120.", mapping="m", changed_by="a"
            ),
            {"mapping": "n"},
            "no pin 120. for P on c",
        ),
    ],
)
def test_delete_and_recreate(aggregate: Any, recreated: dict[str, Any], missing: str) -> None:
    row = aggregate()
    row.delete("b")
    assert row.deleted and row.data_version == 2
    with pytest.raises(NotFound, match=missing):
        row.require_live()
    with pytest.raises(NotFound):
        row.delete("b")
    row.recreate(changed_by="c", **recreated)
    assert not row.deleted and row.data_version == 1 and row.version == 3
    for name, value in recreated.items():
        assert getattr(row, name) == value
    events = row.collect_events()
    assert [type(e).__name__ for e in events] == ["Created", "Deleted", "Recreated"]
    assert replayed(row, events).__dict__ == row.__dict__


def test_a_recreated_release_starts_its_parts_again() -> None:
    release = Release(name="r", product="P", blob=BLOB, read_only=False, changed_by="a")
    release.replace_blob(product="P", blob={**BLOB, "y": 2}, changed_by="a")
    release.delete("b")
    release.recreate(changed_by="c", product="P", blob=BLOB, read_only=False)
    assert (
        release.part_versions
        == Release(name="s", product="P", blob=BLOB, read_only=False, changed_by="a").part_versions
    )


def test_a_read_only_release_is_not_deleted() -> None:
    release = Release(name="r", product="P", blob=BLOB, read_only=True, changed_by="a")
    with pytest.raises(Invalid, match="read-only"):
        release.delete("b")


def test_a_deleted_rule_counts_from_its_creation() -> None:
    rule = Rule.create(1, {"priority": 1, "backgroundRate": 100, "update_type": "minor"}, "a")
    rule.delete("b")
    assert rule.deleted and rule.data_version == rule.version == 2
    with pytest.raises(NotFound, match="rule 1 does not exist"):
        rule.require_live()
