"""The catalogue of rules, releases, shutoffs and pins, folded from the log.

``Catalog.apply`` knows each domain event that changes what Balrog's APIs
list, and ignores the index aggregates (sequences, alias claims, release
usage) that exist only to keep invariants. Rows are Balrog-shaped dicts with
``data_version``, so every edge that shows them formats them the same way.
Release rows carry ``version`` (the aggregate version) instead of the blob:
the blob is loaded on demand at exactly that version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from rulelog.domain import ids
from rulelog.domain.access.users import User
from rulelog.domain.catalog.channels import ChannelMap
from rulelog.domain.catalog.pins import PinnableRelease
from rulelog.domain.catalog.releases import Release
from rulelog.domain.catalog.rules import Rule
from rulelog.domain.catalog.shutoffs import EmergencyShutoff
from rulelog.domain.workflow.expectations import Expectation
from rulelog.domain.workflow.policies import SignoffPolicies, policy_key
from rulelog.domain.workflow.scheduling import ScheduledChange
from rulelog.domain.workflow.uptake import Uptake
from rulelog.projections.log import LoggedEvent


@dataclass
class _Stream:
    """Where an aggregate's row lives, and the version its data_version counts from."""

    table: str
    key: Any
    base: int


@dataclass
class Catalog:
    """What exists at ``position``: Balrog's tables as of that point in the log."""

    position: int = 0
    rules: dict[int, dict[str, Any]] = field(default_factory=dict)
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)
    shutoffs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    pins: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    #: (kind, sc_id) -> the scheduled change, every status
    scheduled: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    #: username -> {"permissions": {name: {options, data_version}}, "roles": {...}}
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: "product" / "permissions" -> key -> policy row
    policies: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"product": {}, "permissions": {}}
    )
    #: (product, channel) -> latest reported uptake percent
    uptake: dict[tuple[str, str], float] = field(default_factory=dict)
    #: explicitly mapped test channel -> its live channel
    test_channels: dict[str, str] = field(default_factory=dict)
    #: expectation name -> {name, product, channel, url, expect, changed_by, reason, data_version}
    expectations: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Keep cancelled and enacted changes (a full audit listing) or drop them
    #: (what views and checkpoints need: the state stays the size of what is live).
    keep_ended: bool = False
    #: originator id (as its 128-bit integer) -> its row's stream. Integers, not
    #: UUIDs: a checkpoint restores thousands of these, and making a UUID costs
    #: more than decoding the rest of the entry.
    _streams: dict[int, _Stream] = field(default_factory=dict, repr=False)
    #: originator id -> the latest blob of a release whose digest is still owed
    _undigested: dict[int, Any] = field(default_factory=dict, repr=False, compare=False)
    _deferring: bool = field(default=False, repr=False, compare=False)

    def fold(self, events: Iterable[LoggedEvent]) -> Catalog:
        """Apply ``events`` in order; see ``digests_deferred`` for the blob digests."""
        with self.digests_deferred():
            for logged in events:
                self.apply(logged)
        return self

    @contextmanager
    def digests_deferred(self) -> Iterator[Catalog]:
        """Within the block, digest each release's blob once, as it is at the end.

        Hashing a blob costs about as much as decoding it, and a release is often
        rebuilt many times within a stretch of the log: only its last blob's
        digest can be seen. ``settle`` (called on leaving, and by ``to_data``)
        fills in what is owed.
        """
        was, self._deferring = self._deferring, True
        try:
            yield self
        finally:
            self._deferring = was
            if not was:
                self.settle()

    def settle(self) -> None:
        """Fill in the blob digests put aside by ``digests_deferred``."""
        owed, self._undigested = self._undigested, {}
        for originator, blob in owed.items():
            stream = self._streams.get(originator)
            row = self.releases.get(stream.key) if stream is not None else None
            if row is not None:
                row["blob_sha"] = blob_sha(blob)

    def _digest(self, ev: Any) -> str | None:
        """The digest of a release event's blob, or None until ``settle`` if deferred."""
        if not self._deferring:
            return blob_sha(ev.blob)
        if len(self._undigested) >= _MOST_UNDIGESTED:
            self.settle()  # a long fold keeps only so many decoded blobs alive
        # After settling: this event's row is not written yet, so it could not be.
        self._undigested[ev.originator_id.int] = ev.blob
        return None

    def apply(self, logged: LoggedEvent) -> None:
        self.apply_event(logged.position, logged.event)

    def apply_event(self, position: int, event: Any) -> None:
        """``apply`` for a decoded event not wrapped in a ``LoggedEvent`` (a rebuild)."""
        self.position = position
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    # ------------------------------------------------------- checkpoints

    def to_data(self) -> dict[str, Any]:
        """Plain JSON-able data; ``from_data`` gives back an equal catalogue."""
        self.settle()
        return {
            "position": self.position,
            "keep_ended": self.keep_ended,
            "rules": list(self.rules.values()),
            "releases": list(self.releases.values()),
            "shutoffs": list(self.shutoffs.values()),
            "pins": list(self.pins.values()),
            "scheduled": list(self.scheduled.values()),
            "users": self.users,
            "policies": self.policies,
            "uptake": [[p, c, v] for (p, c), v in self.uptake.items()],
            "test_channels": self.test_channels,
            "expectations": list(self.expectations.values()),
            "streams": [
                [i, s.table, list(s.key) if isinstance(s.key, tuple) else s.key, s.base]
                for i, s in self._streams.items()
            ],
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Catalog:
        return cls(
            position=data["position"],
            keep_ended=data["keep_ended"],
            rules={r["rule_id"]: r for r in data["rules"]},
            releases={r["name"]: r for r in data["releases"]},
            shutoffs={(r["product"], r["channel"]): r for r in data["shutoffs"]},
            pins={(r["product"], r["channel"], r["version"]): r for r in data["pins"]},
            scheduled={(r["kind"], r["sc_id"]): r for r in data["scheduled"]},
            users=data["users"],
            policies=data["policies"],
            uptake={(p, c): v for p, c, v in data["uptake"]},
            test_channels=data["test_channels"],
            # Checkpoints written before expectations existed have none.
            expectations={r["name"]: r for r in data.get("expectations", [])},
            _streams={
                # Checkpoints written before streams were keyed by integer have UUID strings.
                (UUID(i).int if isinstance(i, str) else i): _Stream(
                    table, tuple(key) if isinstance(key, list) else key, base
                )
                for i, table, key, base in data["streams"]
            },
        )

    def pending(self) -> list[dict[str, Any]]:
        """Pending scheduled changes in enactment order: ``when``, then sc_id."""
        rows = [sc for sc in self.scheduled.values() if sc["status"] == "pending"]
        return sorted(rows, key=enactment_order)

    def sorted_rules(self) -> list[dict[str, Any]]:
        """Rules in Balrog's listing order: priority descending, then rule_id."""
        return sorted(self.rules.values(), key=lambda r: (-(r["priority"] or 0), r["rule_id"]))

    # --------------------------------------------------------------- folding

    def _table(self, name: str) -> dict[Any, dict[str, Any]]:
        return getattr(self, name)

    def _open(self, ev: Any, table: str, key: Any, row: dict[str, Any]) -> None:
        """A row starts (or starts again): its data_version is 1 at this event."""
        self._streams[ev.originator_id.int] = _Stream(table, key, ev.originator_version - 1)
        self._table(table)[key] = {**row, "data_version": 1}

    def _reopen(self, ev: Any, row: dict[str, Any]) -> None:
        stream = self._streams.get(ev.originator_id.int) or _forgotten_release(ev)
        self._open(ev, stream.table, stream.key, {**self._identity(stream), **row})

    def _identity(self, stream: _Stream) -> dict[str, Any]:
        names = {
            "releases": ("name",),
            "shutoffs": ("product", "channel"),
            "pins": ("product", "channel", "version"),
        }[stream.table]
        key = stream.key if isinstance(stream.key, tuple) else (stream.key,)
        return dict(zip(names, key, strict=True))

    def _change(self, ev: Any, changes: dict[str, Any]) -> None:
        stream = self._streams[ev.originator_id.int]
        row = self._table(stream.table)[stream.key]
        row.update(changes)
        row["data_version"] = ev.originator_version - stream.base

    def _close(self, ev: Any) -> None:
        stream = self._streams[ev.originator_id.int]
        self._table(stream.table).pop(stream.key, None)
        if stream.table in _FORGOTTEN_WHEN_CLOSED:
            # Deleted rules never return and a recreated release names itself
            # (``_forgotten_release``): without their streams, the state and
            # its checkpoints stay the size of what is live, however long the log.
            del self._streams[ev.originator_id.int]


#: Blobs a fold holds back for digesting at most (a stretch of K = 1000 events
#: typically touches well under a hundred releases).
_MOST_UNDIGESTED = 256

#: Tables whose rows' streams are dropped when the row is deleted.
_FORGOTTEN_WHEN_CLOSED = frozenset({"rules", "releases"})


def _forgotten_release(ev: Any) -> _Stream:
    """The stream of a release recreated after its deletion was folded.

    Every stored blob carries its release's name (validated on every create,
    update and import, as Balrog does), and a release's id is derived from
    its name, so the name is recovered and checked rather than remembered.
    """
    name = ev.blob.get("name") if isinstance(ev.blob, dict) else None
    if not isinstance(name, str) or ids.release_id(name) != ev.originator_id:
        raise ValueError(
            f"release {ev.originator_id} recreated with a blob that does not name it: {name!r}"
        )
    return _Stream("releases", name, 0)


def enactment_order(sc: dict[str, Any]) -> tuple[str, str, int]:
    """``when`` first (uptake-gated changes, which have none, after), then kind and sc_id."""
    return (sc["condition"].get("when") or "~", sc["kind"], sc["sc_id"])


def _sc(c: Catalog, ev: Any) -> dict[str, Any]:
    return c.scheduled[c._streams[ev.originator_id.int].key]


def _sc_created(c: Catalog, ev: ScheduledChange.Created) -> None:
    key = (ev.kind, ev.sc_id)
    c._streams[ev.originator_id.int] = _Stream("scheduled", key, 0)
    c.scheduled[key] = {
        "sc_id": ev.sc_id,
        "kind": ev.kind,
        "change_type": ev.change_type,
        "target": ev.target,
        "row": ev.row,
        "base_data_version": ev.base_data_version,
        "condition": ev.condition,
        "scheduled_by": ev.scheduled_by,
        "required": ev.required,
        "signoffs": {},
        "signoff_fingerprints": {},
        "status": "pending",
        "data_version": 1,
        "enacted_by": None,
        "position": c.position,
    }


def _sc_update(c: Catalog, ev: Any, **changes: Any) -> None:
    row = _sc(c, ev)
    row.update(changes)


def _sc_modified(c: Catalog, ev: ScheduledChange.Modified) -> None:
    row = _sc(c, ev)
    row.update(
        row=ev.row,
        base_data_version=ev.base_data_version,
        condition=ev.condition,
        required=ev.required,
        scheduled_by=ev.changed_by,
        data_version=row["data_version"] + 1,
        signoffs={u: r for u, r in row["signoffs"].items() if u == ev.changed_by},
    )
    _keep_signers(row)


def _sc_rebased(c: Catalog, ev: ScheduledChange.Rebased) -> None:
    row = _sc(c, ev)
    row.update(
        row=ev.row,
        base_data_version=ev.base_data_version,
        data_version=row["data_version"] + 1,
        signoffs={u: r for u, r in row["signoffs"].items() if u == row["scheduled_by"]},
    )
    _keep_signers(row)


def _keep_signers(row: dict[str, Any]) -> None:
    row["signoff_fingerprints"] = {
        u: f for u, f in row["signoff_fingerprints"].items() if u in row["signoffs"]
    }


def _sc_signed(c: Catalog, ev: ScheduledChange.SignedOff) -> None:
    row = _sc(c, ev)
    row["signoffs"] = {**row["signoffs"], ev.username: ev.role}
    row["signoff_fingerprints"] = {**row["signoff_fingerprints"], ev.username: ev.fingerprints}


def _sc_revoked(c: Catalog, ev: ScheduledChange.SignoffRevoked) -> None:
    row = _sc(c, ev)
    row["signoffs"] = {u: r for u, r in row["signoffs"].items() if u != ev.username}
    row["signoff_fingerprints"] = {
        u: f for u, f in row["signoff_fingerprints"].items() if u != ev.username
    }


def _sc_ended(c: Catalog, ev: Any, status: str) -> None:
    if not c.keep_ended:
        stream = c._streams.pop(ev.originator_id.int)
        c.scheduled.pop(stream.key, None)
        return
    row = _sc(c, ev)
    row.update(status=status, data_version=row["data_version"] + 1)
    if status == "enacted":
        row.update(enacted_by=ev.enacted_by, required=ev.required, verification=ev.verification)


def _user(c: Catalog, ev: Any) -> dict[str, Any]:
    key = c._streams[ev.originator_id.int].key
    return c.users[key]


def _user_created(c: Catalog, ev: User.Created) -> None:
    c._streams[ev.originator_id.int] = _Stream("users", ev.username, 0)
    c.users[ev.username] = {"permissions": {}, "roles": {}}


def _permission_set(c: Catalog, ev: Any, new: bool) -> None:
    perms = _user(c, ev)["permissions"]
    version = 1 if new else perms[ev.permission]["data_version"] + 1
    perms[ev.permission] = {"options": ev.options, "data_version": version}


def _policy_set(c: Catalog, ev: SignoffPolicies.PolicySet) -> None:
    rows = c.policies[ev.kind]
    key = policy_key(ev.kind, ev.row)
    version = rows[key]["data_version"] + 1 if key in rows else 1
    rows[key] = {**ev.row, "data_version": version}


#: ``json.dumps(blob, sort_keys=True, separators=(",", ":"))``, made once: a fold
#: digests every release event's blob. Blobs come from JSON, so they have no cycles
#: to check for (which the text does not depend on).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), check_circular=False)


def blob_sha(blob: Any) -> str:
    """A stable digest of a blob: views compare releases by content, not by version.

    Recorded signoff fingerprints contain these digests: the text hashed must
    never change (sorted keys, no spaces, ASCII escapes).
    """
    return hashlib.sha256(_CANONICAL.encode(blob).encode()).hexdigest()


def _parts_changed(c: Catalog, ev: Release.PartsChanged) -> None:
    """A v2 write's digest chains the blob's last digest with the parts written.

    The event carries only the parts, and a fold has no blobs in hand; chaining
    gives every fold of the same history the same digest (a deferred digest
    owed for this release is settled first), and it changes whenever the
    release's content may have.
    """
    owed = c._undigested.pop(ev.originator_id.int, None)
    stream = c._streams.get(ev.originator_id.int)
    row = c.releases.get(stream.key) if stream is not None else None
    if row is None:
        return
    if owed is not None:
        row["blob_sha"] = blob_sha(owed)
    change = {"previous": row.get("blob_sha"), "base": ev.base, "parts": ev.parts}
    c._change(
        ev, {"product": ev.product, "version": ev.originator_version, "blob_sha": blob_sha(change)}
    )


def _release_row(c: Catalog, ev: Any) -> dict[str, Any]:
    return {
        "product": ev.product,
        "read_only": ev.read_only,
        "version": ev.originator_version,
        "blob_sha": c._digest(ev),
    }


_HANDLERS: dict[type, Callable[[Catalog, Any], None]] = {
    Rule.Created: lambda c, ev: c._open(
        ev, "rules", ev.rule_id, {"rule_id": ev.rule_id, **ev.fields}
    ),
    Rule.Updated: lambda c, ev: c._change(ev, ev.changes),
    Rule.Deleted: lambda c, ev: c._close(ev),
    Release.Created: lambda c, ev: c._open(
        ev, "releases", ev.name, {"name": ev.name, **_release_row(c, ev)}
    ),
    Release.Recreated: lambda c, ev: c._reopen(ev, _release_row(c, ev)),
    Release.BlobReplaced: lambda c, ev: c._change(
        ev, {"product": ev.product, "version": ev.originator_version, "blob_sha": c._digest(ev)}
    ),
    Release.ReadOnlyChanged: lambda c, ev: c._change(
        ev, {"read_only": ev.read_only, "version": ev.originator_version}
    ),
    Release.Deleted: lambda c, ev: c._close(ev),
    Release.PartsChanged: _parts_changed,
    EmergencyShutoff.Created: lambda c, ev: c._open(
        ev,
        "shutoffs",
        (ev.product, ev.channel),
        {"product": ev.product, "channel": ev.channel, "comment": ev.comment},
    ),
    EmergencyShutoff.Recreated: lambda c, ev: c._reopen(ev, {"comment": ev.comment}),
    EmergencyShutoff.Deleted: lambda c, ev: c._close(ev),
    PinnableRelease.Created: lambda c, ev: c._open(
        ev,
        "pins",
        (ev.product, ev.channel, ev.version),
        {
            "product": ev.product,
            "channel": ev.channel,
            "version": ev.version,
            "mapping": ev.mapping,
        },
    ),
    PinnableRelease.Recreated: lambda c, ev: c._reopen(ev, {"mapping": ev.mapping}),
    PinnableRelease.MappingChanged: lambda c, ev: c._change(ev, {"mapping": ev.mapping}),
    PinnableRelease.Deleted: lambda c, ev: c._close(ev),
    ScheduledChange.Created: _sc_created,
    ScheduledChange.Modified: _sc_modified,
    ScheduledChange.Rebased: _sc_rebased,
    ScheduledChange.SignedOff: _sc_signed,
    ScheduledChange.SignoffRevoked: _sc_revoked,
    ScheduledChange.Cancelled: lambda c, ev: _sc_ended(c, ev, "cancelled"),
    ScheduledChange.Enacted: lambda c, ev: _sc_ended(c, ev, "enacted"),
    User.Created: _user_created,
    User.PermissionGranted: lambda c, ev: _permission_set(c, ev, new=True),
    User.PermissionChanged: lambda c, ev: _permission_set(c, ev, new=False),
    User.PermissionRevoked: lambda c, ev: _user(c, ev)["permissions"].pop(ev.permission),
    User.RoleGranted: lambda c, ev: _user(c, ev)["roles"].__setitem__(ev.role, {"data_version": 1}),
    User.RoleRevoked: lambda c, ev: _user(c, ev)["roles"].pop(ev.role),
    SignoffPolicies.PolicySet: _policy_set,
    SignoffPolicies.PolicyRemoved: lambda c, ev: c.policies[ev.kind].pop(ev.key),
    ChannelMap.Mapped: lambda c, ev: c.test_channels.__setitem__(ev.test, ev.live),
    ChannelMap.Unmapped: lambda c, ev: c.test_channels.pop(ev.test, None),
    Uptake.Created: lambda c, ev: c._streams.__setitem__(
        ev.originator_id.int, _Stream("uptake", (ev.product, ev.channel), 0)
    ),
    Uptake.Reported: lambda c, ev: c.uptake.__setitem__(
        c._streams[ev.originator_id.int].key, ev.percent
    ),
}


def _expectation_row(ev: Any, name: str) -> dict[str, Any]:
    return {
        "name": name,
        **{k: getattr(ev, k) for k in ("product", "channel", "url", "expect", "changed_by")},
        "reason": ev.reason,
    }


def _expectation_added(c: Catalog, ev: Expectation.Created) -> None:
    c._streams[ev.originator_id.int] = _Stream("expectations", ev.name, ev.originator_version - 1)
    c.expectations[ev.name] = {**_expectation_row(ev, ev.name), "data_version": 1}


def _expectation_readded(c: Catalog, ev: Expectation.Readded) -> None:
    stream = c._streams[ev.originator_id.int]
    stream.base = ev.originator_version - 1
    c.expectations[stream.key] = {**_expectation_row(ev, stream.key), "data_version": 1}


_HANDLERS[Expectation.Created] = _expectation_added
_HANDLERS[Expectation.Readded] = _expectation_readded
_HANDLERS[Expectation.Changed] = lambda c, ev: c._change(
    ev, _expectation_row(ev, c._streams[ev.originator_id.int].key)
)
_HANDLERS[Expectation.Removed] = lambda c, ev: c._close(ev)


def folded_topics() -> tuple[str, ...]:
    """The stored topics of every event ``Catalog.apply`` acts on.

    A reader may ask the store for these only: the rest (sequences, alias
    claims, release usage, pending-target locks, rosters) change nothing here.
    """
    return tuple(sorted({cls.TOPIC for cls in _HANDLERS}))
