"""A page of events crosses the rebuild's pipe (``projections.pipe_pages``) and
loads into events equal to those sent: marshalled where its fields are builtin
data, pickled where they are not; the end and an error's text as they are."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from rulelog.domain.catalog.rules import Rule
from rulelog.domain.workflow.scheduling import ScheduledChange
from rulelog.projections.pipe_pages import pack, unpack


def event(kind: type, **fields: Any) -> Any:
    made = object.__new__(kind)
    object.__setattr__(made, "__dict__", {"originator_id": uuid4(), "timestamp": None, **fields})
    return made


def page_of_builtin_fields() -> list[tuple[int, Any, int]]:
    return [
        (1, event(Rule.Updated, originator_version=2, changes={"priority": 90}, changed_by="a"), 7),
        (2, None, 8),
        (3, event(Rule.Deleted, originator_version=3, changed_by="b"), 9),
        (4, event(Rule.Updated, originator_version=4, changes={"alias": None}, changed_by="c"), 9),
    ]


def fields(page: Any) -> list[Any]:
    return [(p, None if e is None else (type(e), dict(vars(e))), m) for p, e, m in page]


def test_a_page_of_builtin_fields_is_marshalled_and_loads_into_equal_events() -> None:
    page = page_of_builtin_fields()
    sent = copy.deepcopy(fields(page))
    data = pack(page)
    assert data[:1] == b"m"
    loaded = unpack(data)
    assert isinstance(loaded, list)
    assert fields(loaded) == sent
    for (_, before, _), (_, after, _) in zip(sent, loaded, strict=True):
        if before is not None:
            assert isinstance(after.originator_id, UUID)
            assert after.originator_id.int == before[1]["originator_id"].int
            assert hash(after.originator_id) == hash(before[1]["originator_id"])
            assert str(after.originator_id) == str(before[1]["originator_id"])


def test_a_page_with_a_field_marshal_cannot_write_is_pickled_and_loads_the_same() -> None:
    when = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    page = [
        *page_of_builtin_fields(),
        (5, event(ScheduledChange.Cancelled, originator_version=2, when=when, ids={uuid4()}), 10),
    ]
    sent = copy.deepcopy(fields(page))
    data = pack(page)
    assert data[:1] == b"p"
    assert fields(unpack(data)) == sent


def test_the_end_and_an_error_cross_as_they_are() -> None:
    assert unpack(pack(None)) is None
    assert unpack(pack("Traceback ...\nValueError: no")) == "Traceback ...\nValueError: no"
