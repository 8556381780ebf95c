"""The audit log: one row per domain event between two points in time.

``changes`` starts from the state at ``since`` (one checkpoint load) and
folds the events after it up to ``until``, so every row knows what it
touched as it was before and after the event: a rule's product and channel,
for the filters, are the ones it had on either side of the change. Index
aggregates (sequences, alias claims, release usage, pending-target locks,
role rosters) and the empty creation events of container streams are left
out: they only keep invariants, and the event saved with them says what
happened.

The range is the one ``diff`` compares: the events after the state at
``since``, up to and including the state at ``until``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from rulelog.domain import ids
from rulelog.domain.access.users import RoleRoster, User
from rulelog.domain.catalog.channels import ChannelMap
from rulelog.domain.catalog.pins import PinnableRelease
from rulelog.domain.catalog.release_parts import BASE
from rulelog.domain.catalog.releases import Release, ReleaseUsage
from rulelog.domain.catalog.rules import AliasClaim, Rule
from rulelog.domain.catalog.shutoffs import EmergencyShutoff
from rulelog.domain.errors import Invalid
from rulelog.domain.sequence import Sequence
from rulelog.domain.serving.matching import channel_matches
from rulelog.domain.workflow.kinds import key_row
from rulelog.domain.workflow.policies import SignoffPolicies, policy_key
from rulelog.domain.workflow.scheduling import PendingTarget, ScheduledChange
from rulelog.domain.workflow.uptake import Uptake
from rulelog.projections.history import (
    event_name,
    field_changes,
    flat_sc,
    recorded_times,
    release_columns,
    summarize,
)
from rulelog.projections.log import LoggedEvent, last_position, read_log
from rulelog.projections.state import Catalog
from rulelog.projections.timeline import Timeline

Row = dict[str, Any]

#: Row kinds, and the other names (Balrog's table names) accepted for them.
KINDS: dict[str, tuple[str, ...]] = {
    "rule": ("rules",),
    "release": ("releases",),
    "sc": ("scheduled_change", "scheduled_changes"),
    "shutoff": ("emergency_shutoff", "shutoffs"),
    "pin": ("pinnable_releases", "pins"),
    "permission": ("permissions",),
    "role": ("roles",),
    "policy": ("required_signoffs", "policies"),
    "channel": ("test_channel", "channels"),
    "uptake": (),
}
#: Streams that are indexes or containers, not facts of their own.
SKIPPED: tuple[type, ...] = (
    Sequence.Created,
    Sequence.Advanced,
    AliasClaim.Created,
    AliasClaim.Claimed,
    AliasClaim.Released,
    ReleaseUsage.Created,
    ReleaseUsage.Attached,
    ReleaseUsage.Detached,
    ReleaseUsage.Retired,
    PendingTarget.Created,
    PendingTarget.Claimed,
    PendingTarget.Freed,
    RoleRoster.Created,
    RoleRoster.Joined,
    RoleRoster.Left,
    User.Created,
    ChannelMap.Created,
    SignoffPolicies.Created,
    Uptake.Created,
)
_KIND_OF: dict[str, str] = {
    "rulelog:rule": "rule",
    "rulelog:release": "release",
    "rulelog:scheduled-change": "sc",
    "rulelog:emergency-shutoff": "shutoff",
    "rulelog:pinnable-release": "pin",
    "rulelog:user": "permission",
    "rulelog:signoff-policies": "policy",
    "rulelog:channel-map": "channel",
    "rulelog:uptake": "uptake",
}
#: What a one-line summary names of a row that appears or disappears.
SALIENT: dict[str, tuple[str, ...]] = {
    "rule": ("alias", "product", "channel", "priority", "mapping"),
    "release": ("product", "read_only", "blob_sha"),
    "sc": ("kind", "change_type", "target", "condition.when", "row.channel", "row.priority"),
    "shutoff": ("comment",),
    "pin": ("mapping",),
}
#: Kinds whose target key alone gives the product and channel (``domain.workflow.kinds``).
KEYED_BY_PRODUCT = frozenset({"emergency_shutoff", "pinnable_releases"})


#: Rows that show who holds which permission or role, or who holds a token.
ACCESS_KINDS = frozenset({"permission", "role", "api-token"})


def exposes_access(kind: str, what: str) -> bool:
    """Whether a row (of ``kind``, naming ``what``) shows grants, roles or tokens:
    those kinds, and scheduled changes of permissions (``permissions/<sc_id>``)."""
    return kind in ACCESS_KINDS or (kind == "sc" and what.startswith("permissions/"))


def parse_kinds(kinds: Iterable[str]) -> set[str]:
    """Row kinds by name or Balrog table name; an unknown one is Invalid."""
    names = {alias: kind for kind, aliases in KINDS.items() for alias in (kind, *aliases)}
    chosen: set[str] = set()
    for given in kinds:
        if given not in names:
            raise Invalid(f"kind: must be one of {', '.join(KINDS)}, got {given!r}", field="kind")
        chosen.add(names[given])
    return chosen


def kind_of(logged: LoggedEvent) -> str:
    if isinstance(logged.event, User.RoleGranted | User.RoleRevoked):
        return "role"
    stream = logged.topic.rpartition(".")[0]
    return _KIND_OF.get(stream, stream.removeprefix("rulelog:"))


class _Keys:
    """Aggregate id -> natural key: from the state at the start, and creations since."""

    def __init__(self, app: Application, state: Catalog) -> None:
        self.app = app
        self.keys: dict[UUID, Any] = {}
        self.keys.update((ids.rule_id(k), k) for k in state.rules)
        self.keys.update((ids.release_id(k), k) for k in state.releases)
        self.keys.update((ids.shutoff_id(*k), k) for k in state.shutoffs)
        self.keys.update((ids.pin_id(*k), k) for k in state.pins)
        self.keys.update((ids.scheduled_change_id(*k), k) for k in state.scheduled)
        self.keys.update((ids.user_id(k), k) for k in state.users)
        self.keys.update((ids.uptake_id(*k), k) for k in state.uptake)

    def note(self, event: Any) -> None:
        found: Any = None
        if isinstance(event, Rule.Created):
            found = event.rule_id
        elif isinstance(event, Release.Created):
            found = event.name
        elif isinstance(event, EmergencyShutoff.Created | Uptake.Created):
            found = (event.product, event.channel)
        elif isinstance(event, PinnableRelease.Created):
            found = (event.product, event.channel, event.version)
        elif isinstance(event, ScheduledChange.Created):
            found = (event.kind, event.sc_id)
        elif isinstance(event, User.Created):
            found = event.username
        if found is not None:
            self.keys[event.originator_id] = found

    def of(self, logged: LoggedEvent) -> Any:
        if logged.originator_id not in self.keys:  # created and deleted before the range
            for created in self.app.events.get(logged.originator_id, lte=1):
                self.note(created)
        return self.keys.get(logged.originator_id)


def _row(state: Catalog, kind: str, key: Any, event: Any) -> Row | None:
    """What the event concerns, as the state holds it (None: absent)."""
    found: Any = None
    if kind in ("rule", "release", "shutoff", "pin"):
        table = {"rule": "rules", "release": "releases", "shutoff": "shutoffs", "pin": "pins"}
        found = getattr(state, table[kind]).get(key)
        found = release_columns(found) if kind == "release" else found
    elif kind == "sc":
        return flat_sc(state.scheduled.get(key))
    elif kind == "permission":
        found = state.users.get(key, {}).get("permissions", {}).get(event.permission)
    elif kind == "role":
        found = state.users.get(key, {}).get("roles", {}).get(event.role)
    elif kind == "policy":
        name = policy_key(event.kind, event.row) if hasattr(event, "row") else event.key
        found = state.policies.get(event.kind, {}).get(name)
    elif kind == "channel" and event.test in state.test_channels:
        found = {"test": event.test, "live": state.test_channels[event.test]}
    elif kind == "uptake" and key in state.uptake:
        found = {"percent": state.uptake[key]}
    return dict(found) if found is not None else None


def _what(kind: str, key: Any, event: Any, rows: list[Row]) -> str:
    if kind == "sc":
        return f"{key[0]}/{key[1]}"
    if kind == "permission":
        return f"{key}/{event.permission}"
    if kind == "role":
        return f"{key}/{event.role}"
    if kind == "policy":
        row = event.row if hasattr(event, "row") else (rows[0] if rows else {})
        identity = [str(row[c]) for c in ("product", "channel", "role") if c in row]
        return f"{event.kind}:" + "/".join(identity or [event.key.replace("\x1f", "/")])
    if kind == "channel":
        return str(event.test)
    return "/".join(key) if isinstance(key, tuple) else str(key)


def _summary(kind: str, name: str, before: Row | None, after: Row | None) -> str:
    """One line: the changed fields, or the salient ones of a row that came or went."""
    changes = field_changes(before, after)
    if kind in SALIENT and (before is None or after is None):
        side = "to" if after is not None else "from"
        shown = [f for f in SALIENT[kind] if changes.get(f, {}).get(side) is not None]
        return f"{name}: " + ", ".join(f"{f}={changes[f][side]}" for f in shown)
    return f"{name}: {summarize(changes)}" if changes else name


def _sc_rows(state: Catalog, sc: Row) -> list[Row]:
    """A scheduled change's target as it is, and the row it would write."""
    kind, target = sc["kind"], str(sc["target"])
    current: Any = None
    if kind == "rules" and target.isdigit():
        current = state.rules.get(int(target))
    elif kind == "releases":
        current = state.releases.get(target)
    elif kind in KEYED_BY_PRODUCT:
        current = key_row(kind, target)
    written = {k[4:]: v for k, v in sc.items() if k.startswith("row.")}
    return [r for r in (current, written) if r]


def _attributes(kind: str, key: Any, event: Any, rows: list[Row]) -> tuple[set[str], set[Any]]:
    """The products and channels (None: any channel) a row has; empty if it has none."""
    if kind in ("shutoff", "pin", "uptake"):
        return {key[0]}, {key[1]}
    if kind == "channel":
        return set(), {event.test, *(r["live"] for r in rows)}
    if kind == "policy" and hasattr(event, "row"):
        rows = [event.row]
    if kind in ("permission", "role"):
        return set(), set()
    products = {r["product"] for r in rows if r.get("product")}
    channels = {r.get("channel") for r in rows if "channel" in r}
    return products, channels


def _matches(
    products: set[str], channels: set[Any], product: str | None, channel: str | None
) -> bool:
    """The filters constrain only rows that have a product or a channel."""
    if product is not None and products and product not in products:
        return False
    return channel is None or not channels or any(channel_matches(c, channel) for c in channels)


def changes(
    app: Application,
    timeline: Timeline,
    since: str | None = None,
    until: str | None = None,
    *,
    product: str | None = None,
    channel: str | None = None,
    by: str | None = None,
    kinds: Iterable[str] = (),
    with_access: bool = True,
) -> list[Row]:
    """The audit log from the state at ``since`` to the state at ``until``.

    ``with_access=False`` leaves out the rows about permissions, roles and
    tokens (``exposes_access``), for a reader who may not see who holds what.

    ``product`` and ``channel`` filter the rows that have a product or a
    channel (a rule: before or after the change; a scheduled change: its
    target and the row it writes); rows that have none are kept.
    """
    wanted = parse_kinds(kinds)
    timeline.catch_up()
    start = timeline.resolve(since) if since is not None else 0
    stop = timeline.resolve(until) if until is not None else last_position(app)
    if stop < start:
        raise Invalid(f"until: position {stop} is before since (position {start})", field="until")
    state = timeline.state_at(start)
    keys = _Keys(app, state)
    events = list(read_log(app, start=start + 1, stop=stop)) if stop > start else []
    times = recorded_times(timeline, [e.position for e in events])
    enacted: tuple[int, str] | None = None
    rows: list[Row] = []
    for logged in events:
        keys.note(logged.event)
        if isinstance(logged.event, SKIPPED):
            state.apply(logged)
            continue
        kind, key, ev = kind_of(logged), keys.of(logged), logged.event
        before = _row(state, kind, key, ev)
        state.apply(logged)
        after = _row(state, kind, key, ev)
        if isinstance(ev, ScheduledChange.Enacted | ScheduledChange.Cancelled) and before:
            # Ended changes leave the state; show the end as a change of status.
            after = {**before, "status": event_name(logged.topic), "data_version": None}
        present = [r for r in (before, after) if r]
        related = _sc_rows(state, after or before or {}) if kind == "sc" else present
        what = _what(kind, key, ev, present)
        if isinstance(ev, ScheduledChange.Enacted):
            enacted = (logged.position, what)
        products, channels = _attributes(kind, key, ev, related)
        if (wanted and kind not in wanted) or (by is not None and logged.actor != by):
            continue
        if not with_access and exposes_access(kind, what):
            continue
        if not _matches(products, channels, product, channel):
            continue
        row: Row = {
            "position": logged.position,
            "time": times.get(logged.position),
            "actor": logged.actor,
            "kind": kind,
            "event": event_name(logged.topic),
            "what": what,
            "summary": _summary(kind, event_name(logged.topic), before, after),
            "products": sorted(products),
            "channels": sorted("*" if c is None else c for c in channels),
            "changes": field_changes(before, after),
        }
        if isinstance(ev, Release.PartsChanged):
            # A v2 write names its parts: which locales changed, not just "the blob".
            parts = ([BASE] if ev.base is not None else []) + sorted(ev.parts)
            row["parts"] = parts
            row["summary"] = f"{event_name(logged.topic)}: {', '.join(parts)}"
        if enacted is not None and enacted[0] == logged.position - 1 and kind != "sc":
            row["scheduled_change"] = enacted[1]
        rows.append(row)
    return rows
