"""How each domain event changes the catalogue (``state.Catalog``).

One handler per event type that changes what Balrog's APIs list, in the table
``HANDLERS``; the index aggregates (sequences, alias claims, release usage,
pending-target locks, rosters) have none. Rows open, change and close through
the catalogue's own ``_open`` / ``_change`` / ``_close``; the scheduled changes,
users, policies and expectations keep rows of their own shape, written here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from rulelog.projections.state import Catalog


@dataclass
class Stream:
    """Where an aggregate's row lives, and the version its data_version counts from."""

    table: str
    key: Any
    base: int


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


#: The events whose blob a fold digests (``Catalog._digest``).
DIGESTED = (Release.Created, Release.Recreated, Release.BlobReplaced)
#: The attribute of such an event carrying its blob's digest already made (by the
#: process that read it: ``log_pipe.slim``), its blob then cut to its name.
PIPED_DIGEST = "rulelog_blob_digest"


def _sc(c: Catalog, ev: Any) -> dict[str, Any]:
    return c.scheduled[c._streams[ev.originator_id.int].key]


def _sc_created(c: Catalog, ev: ScheduledChange.Created) -> None:
    key = (ev.kind, ev.sc_id)
    c._streams[ev.originator_id.int] = Stream("scheduled", key, 0)
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
    c._streams[ev.originator_id.int] = Stream("users", ev.username, 0)
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


HANDLERS: dict[type, Callable[[Catalog, Any], None]] = {
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
    EmergencyShutoff.CommentChanged: lambda c, ev: c._change(ev, {"comment": ev.comment}),
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
        ev.originator_id.int, Stream("uptake", (ev.product, ev.channel), 0)
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
    c._streams[ev.originator_id.int] = Stream("expectations", ev.name, ev.originator_version - 1)
    c.expectations[ev.name] = {**_expectation_row(ev, ev.name), "data_version": 1}


def _expectation_readded(c: Catalog, ev: Expectation.Readded) -> None:
    stream = c._streams[ev.originator_id.int]
    stream.base = ev.originator_version - 1
    c.expectations[stream.key] = {**_expectation_row(ev, stream.key), "data_version": 1}


HANDLERS[Expectation.Created] = _expectation_added
HANDLERS[Expectation.Readded] = _expectation_readded
HANDLERS[Expectation.Changed] = lambda c, ev: c._change(
    ev, _expectation_row(ev, c._streams[ev.originator_id.int].key)
)
HANDLERS[Expectation.Removed] = lambda c, ev: c._close(ev)


def folded_topics() -> tuple[str, ...]:
    """The stored topics of every event ``Catalog.apply`` acts on.

    A reader may ask the store for these only: the rest (sequences, alias
    claims, release usage, pending-target locks, rosters) change nothing here.
    """
    return tuple(sorted({cls.TOPIC for cls in HANDLERS}))
