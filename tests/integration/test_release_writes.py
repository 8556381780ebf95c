"""Release writes as one fact: ``copyTo`` stores every release it touches, or none."""

from __future__ import annotations

from typing import Any

import pytest

from rulelog.domain.catalog.releases import Release
from rulelog.domain.errors import Conflict, Invalid
from rulelog.projections.log import last_position
from rulelog.services.application import RulelogApp
from rulelog.services.release_writes import BlobWrite, find_release, write_releases


def blob(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "schema_version": 1, "hashFunction": "sha512", **extra}


def write_blob(app: RulelogApp, name: str, data_version: int, new: dict[str, Any]) -> Release:
    (written,) = write_releases(app, [BlobWrite(name, data_version, new)], "alice")
    return written


@pytest.fixture
def two(app: RulelogApp) -> RulelogApp:
    for name in ("A", "B"):
        app.create_release(name, "Firefox", blob(name), "alice")
    return app


def test_the_second_release_failing_validation_stores_neither(two: RulelogApp) -> None:
    before = last_position(two)
    writes = [
        BlobWrite("A", 1, blob("A", detailsUrl="d"), "Firefox"),
        BlobWrite("B", 1, blob("B", appVersion=5), "Firefox"),  # not a string: refused
    ]
    with pytest.raises(Invalid):
        write_releases(two, writes, "alice")
    assert last_position(two) == before
    for name in ("A", "B"):
        stored = two.get_release(name)
        assert (stored.data_version, stored.blob) == (1, blob(name))


def test_a_refused_copy_to_creates_no_release(two: RulelogApp) -> None:
    """The release ``copyTo`` would create is not created when a later write fails."""
    before = last_position(two)
    writes = [
        BlobWrite("C", 1, blob("C", detailsUrl="d"), "Firefox", create=("Firefox", blob("C"))),
        BlobWrite("B", 1, blob("B", appVersion=5), "Firefox"),
    ]
    with pytest.raises(Invalid):
        write_releases(two, writes, "alice")
    assert last_position(two) == before
    assert find_release(two, "C") is None


def test_copy_to_writes_and_creates_in_one_save(two: RulelogApp) -> None:
    before = last_position(two)
    writes = [
        BlobWrite("A", 1, blob("A", detailsUrl="d"), "Firefox"),
        BlobWrite("C", 1, blob("C", detailsUrl="d"), "Firefox", create=("Firefox", blob("C"))),
    ]
    written = write_releases(two, writes, "alice")
    assert [(r.name, r.data_version) for r in written] == [("A", 2), ("C", 2)]
    assert two.get_release("C").blob == blob("C", detailsUrl="d")
    # A's write; C's creation, its (new) usage index and its write
    assert last_position(two) == before + 4


def test_a_stale_write_is_merged_or_refused(two: RulelogApp) -> None:
    write_blob(two, "A", 1, blob("A", detailsUrl="d"))
    merged = write_blob(two, "A", 1, blob("A", licenseUrl="l"))
    assert merged.data_version == 3
    assert merged.blob == blob("A", detailsUrl="d", licenseUrl="l")
    with pytest.raises(Conflict) as refused:
        write_blob(two, "A", 1, blob("A", detailsUrl="e"))
    assert refused.value.context.get("reason") == "outdated"
