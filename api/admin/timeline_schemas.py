"""Response and request models of the ``/timeline`` and ``/uptake`` routes.

The answers are the ones the CLI prints with ``--json`` (the projection
functions' dicts), so these models document those dicts for the OpenAPI
document; handlers return the dicts themselves. Rows of Balrog's tables
(rules, releases, shutoffs, pins) stay open objects: their columns are
Balrog's, documented with the resource routes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rulelog.api.admin.schemas import Strict

Row = dict[str, Any]
#: ``{field: {"from": old, "to": new}}`` for every field that differs.
FieldChanges = dict[str, dict[str, Any]]


class Stamp(BaseModel):
    """Where an answer was computed: a log position and its recorded time (ISO 8601 UTC)."""

    position: int
    time: str | None


class OverlayRef(BaseModel):
    """A pending scheduled change a test channel's view applies on top of the live rules."""

    kind: str
    sc_id: int
    change_type: str
    target: str


class RulesAt(Stamp):
    """The rules in force: all of them, or one channel's view (then with ``channel``,
    ``live_channel`` and the ``overlays`` a test channel's derived view applies)."""

    rules: list[Row]
    channel: str | None = None
    live_channel: str | None = None
    answered_by: str | None = Field(None, description="live, derived or hand-kept")
    overlays: list[OverlayRef] | None = None


class ReleaseAt(Stamp):
    """A release and its blob, as they stood at that position."""

    name: str
    product: str
    read_only: bool
    data_version: int
    data: Row


class ChangeRow(BaseModel):
    """One row of the audit log: one domain event, what it touched before and after."""

    position: int
    time: str | None
    actor: str | None
    kind: str = Field(description="rule, release, sc, shutoff, pin, permission, role, ...")
    event: str
    what: str
    summary: str
    products: list[str]
    channels: list[str] = Field(description="'*' stands for a row without a channel")
    changes: FieldChanges
    scheduled_change: str | None = Field(
        None, description="The scheduled change (kind/sc_id) this event enacted, if any."
    )


class TableDiff(BaseModel):
    """Rows added, removed and changed (``changed``: key, data_versions, field changes)."""

    added: list[Row]
    removed: list[Row]
    changed: list[Row]


class StatesDiff(BaseModel):
    """What changed between the states at two times (of one channel's view, if given)."""

    model_config = ConfigDict(populate_by_name=True)
    from_: Stamp = Field(alias="from")
    to: Stamp
    channel: str | None
    rules: TableDiff
    releases: TableDiff
    shutoffs: TableDiff
    pins: TableDiff


class PendingChange(BaseModel):
    """A pending scheduled change: what it changes and its signoffs against those required."""

    kind: str
    sc_id: int
    change_type: str
    target: str
    condition: Row
    scheduled_by: str
    changes: FieldChanges
    signoffs: dict[str, str]
    required: list[Row]
    signed_off: bool
    missing: dict[str, int]


class LiveTestDiff(Stamp):
    """A live channel against one of its test channels: differences, each with the
    pending change(s) that cause it (``by``), and any left ``unexplained``."""

    live: str
    test: str
    live_fingerprint: str
    test_fingerprint: str
    pending: list[PendingChange]
    differences: dict[str, TableDiff]
    unexplained: dict[str, list[Row]]


class ChannelSync(BaseModel):
    channel: str
    test_channels: list[str]
    in_sync: bool
    ready: bool = Field(description="Every pending change is fully signed off.")
    live_fingerprint: str
    test_fingerprint: str
    pending: list[PendingChange]


class SyncStatus(Stamp):
    """For each live channel: its test channels and the pending changes between them."""

    channels: list[ChannelSync]


class TestChannelRow(BaseModel):
    """A test channel: its live channel, and whether it is derived or hand-kept."""

    __test__ = False  # not a pytest class

    channel: str
    live_channel: str
    mode: str = Field(description="derived, or hand-kept (answered as Balrog answers it)")
    mapped: bool = Field(description="Mapped explicitly (`rulelog channels map`).")
    hand_kept_by: list[int] = Field(
        description="Live rules naming the channel on their own (ignored once it is mapped)."
    )


class TestChannels(Stamp):
    """Every test channel at that time, like ``rulelog channels list``."""

    __test__ = False

    test_channels: list[TestChannelRow]


class Origin(BaseModel):
    """The event that put something in place: who, when."""

    position: int
    time: str | None
    actor: str | None
    event: str


class ExplainedResponse(BaseModel):
    status: int
    headers: dict[str, str]
    body: str
    problem: Any = None


class MatchedRule(BaseModel):
    rule: Row
    why: str
    put_in_place_by: Origin | None


class ExplainedRelease(BaseModel):
    name: str
    data_version: int | None
    version: int | None
    scheduled: bool
    put_in_place_by: Origin | None


class Explanation(Stamp):
    """The exact answer an update request got (or would have got) at that time, and why."""

    url: str
    channel: str
    live_channel: str
    test_channel: bool
    answered_by: str = Field(
        description="live (a live channel's rules), derived (a test channel's derived view) "
        "or hand-kept (live rules naming the test channel on its own, matched as in Balrog)"
    )
    hand_kept_by: list[int] = Field(description="The rules keeping the test channel hand-kept.")
    response: ExplainedResponse
    matched_rules: list[MatchedRule]
    release: ExplainedRelease | None
    overlays: list[Row]
    emergency_shutoff: Row | None
    pin: Row | None


class RestoreBody(BaseModel):
    """Schedule the rule changes that make ``channel``'s live rules what they were at ``to``."""

    model_config = Strict
    channel: str = Field(min_length=1, description="A live channel.")
    to: str = Field(description="ISO 8601 UTC, epoch milliseconds or position:N.")
    delay: int = Field(5, ge=1, description="Schedule the changes this many minutes from now.")
    dry_run: bool = Field(False, description="Validate and show the changes; schedule nothing.")


class RestoreChange(BaseModel):
    sc_id: int | None
    change_type: str
    rule_id: int | None = Field(description="None: a deleted rule comes back with a new id.")
    data_version: int | None
    changes: FieldChanges
    signoffs: dict[str, str] | None = None
    required: list[Row] | None = None
    signed_off: bool | None = None
    missing: dict[str, int] | None = None


class RestoreResult(BaseModel):
    channel: str
    to: Stamp
    when: str
    dry_run: bool
    changes: list[RestoreChange]


class UptakeBody(BaseModel):
    """An uptake report: changes gated on uptake become due once it reaches their threshold."""

    model_config = Strict
    product: str = Field(min_length=1)
    channel: str = Field(min_length=1)
    percent: float = Field(description="Between 0 and 100.")


class UptakeOut(BaseModel):
    product: str
    channel: str
    percent: float
