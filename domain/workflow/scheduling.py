"""Scheduled changes: Balrog's change-control workflow as one event stream each.

A ``ScheduledChange`` is created pending, may be modified (which resets every
signoff but the modifier's), signed off and revoked, and ends cancelled or
enacted. Each step records who did it; scheduling, modifying and enacting
also record the signoffs that were *required* at that moment, which Balrog
recomputes on read and so loses.

``data_version`` is Balrog's ``sc_data_version``: it moves with scheduling,
modification, rebasing (a direct edit merged in), cancellation and enactment,
but not with signoffs, which Balrog keeps in a separate table.

A change that *restores* a prior row (``restores``: the row's key and the
``data_version`` it had, as ``rulelog restore`` schedules) is validated as the
stored row it brings back, not as a client's request: it reproduces what was
there, even a row the admin API would no longer accept (a rule without a
mapping). The domain checks the claim against the row's history when the
change is scheduled or modified; a modification that changes the row makes it
an ordinary change again.

``PendingTarget`` makes "at most one pending change per target row" hold under
concurrent writers: it is claimed when a change is scheduled and released when
the change ends, in the same saves.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal

from eventsourcing.domain import Aggregate, event

from rulelog.domain import ids
from rulelog.domain.errors import Conflict, Invalid
from rulelog.domain.upcasting import fields_added

#: Kinds of target Balrog can schedule changes to, named as in its admin API.
KINDS: tuple[str, ...] = (
    "rules",
    "releases",
    "emergency_shutoff",
    "pinnable_releases",
    "required_signoffs/product",
    "required_signoffs/permissions",
    "permissions",
)
CHANGE_TYPES = ("insert", "update", "delete")
ChangeType = Literal["insert", "update", "delete"]
UPTAKE_FIELDS = ("telemetry_product", "telemetry_channel", "telemetry_uptake")


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise Invalid(f"kind: must be one of {', '.join(KINDS)}, got {kind!r}", field="kind")
    return kind


def normalize_condition(
    condition: dict[str, Any], now: datetime, *, uptake_allowed: bool
) -> dict[str, Any]:
    """Exactly one condition: a future ``when`` (ISO 8601 UTC) or, for rules, uptake."""
    when = condition.get("when")
    uptake = {k: condition.get(k) for k in UPTAKE_FIELDS if condition.get(k) is not None}
    unknown = set(condition) - {"when", *UPTAKE_FIELDS}
    if unknown:
        raise Invalid(f"condition: unknown field(s) {', '.join(sorted(unknown))}")
    if when is not None and uptake:
        raise Invalid("condition: give either when or the telemetry fields, not both", field="when")
    if when is not None:
        moment = parse_when(when)
        if moment <= now:
            raise Invalid("when: cannot be scheduled in the past", field="when")
        return {"when": moment.isoformat()}
    if not uptake:
        raise Invalid("condition: a change needs when or the telemetry fields", field="when")
    if not uptake_allowed:
        raise Invalid("condition: only rule changes can be conditioned on uptake", field="when")
    if len(uptake) != len(UPTAKE_FIELDS):
        missing = [k for k in UPTAKE_FIELDS if k not in uptake]
        raise Invalid(f"condition: missing {', '.join(missing)}", field=missing[0])
    value = uptake["telemetry_uptake"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 100:
        raise Invalid("telemetry_uptake: must be a number in (0, 100]", field="telemetry_uptake")
    for key in ("telemetry_product", "telemetry_channel"):
        if not isinstance(uptake[key], str) or not uptake[key]:
            raise Invalid(f"{key}: must be a non-empty string", field=key)
    return uptake


def parse_when(value: Any) -> datetime:
    """``when`` as Balrog takes it (milliseconds since the epoch) or ISO 8601."""

    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise Invalid(f"when: not a time: {value!r}", field="when")


@dataclass(frozen=True)
class Proposal:
    """What a change proposes, as scheduling and modifying it both record it.

    One value, so the command that plans a change hands the aggregate the
    whole plan at once instead of five loose arguments it must keep in step.
    """

    row: dict[str, Any] | None
    base_data_version: int | None
    condition: dict[str, Any]
    required: list[dict[str, Any]]
    #: The prior row this change brings back ({key columns, data_version}), if any.
    restores: dict[str, Any] | None = None

    def as_fields(self) -> dict[str, Any]:
        """The fields of the event that records it (``_Proposal``'s)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Proposal(Aggregate.Event):
    """What scheduling a change and modifying it both record (``restores`` added
    in version 2)."""

    class_version = 2
    row: dict[str, Any] | None
    base_data_version: int | None
    condition: dict[str, Any]
    required: list[dict[str, Any]]
    #: The prior row this change brings back ({key columns, data_version}), if any.
    restores: dict[str, Any] | None
    upcast_v1_v2 = fields_added(restores=None)


class ScheduledChange(Aggregate):
    TOPIC = "rulelog:scheduled-change"

    class Created(_Proposal, Aggregate.Created):
        TOPIC = "rulelog:scheduled-change.scheduled"
        kind: str
        sc_id: int
        change_type: str
        target: str
        scheduled_by: str

    class Modified(_Proposal):
        TOPIC = "rulelog:scheduled-change.modified"
        changed_by: str

    class Rebased(Aggregate.Event):
        """A direct edit of the target, merged into this pending change."""

        TOPIC = "rulelog:scheduled-change.rebased"
        row: dict[str, Any] | None
        base_data_version: int
        changed_by: str

    class SignedOff(Aggregate.Event):
        """A signoff, with the fingerprint of each affected test-channel view it was
        given on (live channel -> hash), so enactment can check it is still that."""

        TOPIC = "rulelog:scheduled-change.signed-off"
        class_version = 2
        username: str
        role: str
        fingerprints: dict[str, str]
        upcast_v1_v2 = fields_added(fingerprints={})

    class ExpectationsOverridden(Aggregate.Event):
        """A signoff given although expectations fail on the test view: who, why, which."""

        TOPIC = "rulelog:scheduled-change.expectations-overridden"
        username: str
        reason: str
        failures: list[str]

    class Enacted(Aggregate.Event):
        """Enactment, with what was checked: per live channel, the fingerprint the
        signoffs were given on, the live view's fingerprint just after, and whether
        changes touching the channel stay pending (a partial state went live)."""

        TOPIC = "rulelog:scheduled-change.enacted"
        class_version = 2
        enacted_by: str
        required: list[dict[str, Any]]
        verification: dict[str, Any]
        upcast_v1_v2 = fields_added(verification={})

    create_id = staticmethod(ids.scheduled_change_id)

    @classmethod
    def schedule(
        cls, kind: str, sc_id: int, change_type: str, target: str, proposal: Proposal, by: str
    ) -> ScheduledChange:
        """A new pending change of ``target``, scheduled ``by`` a user."""
        return cls(kind, sc_id, change_type, target, scheduled_by=by, **proposal.as_fields())

    @event(Created)
    def __init__(
        self,
        kind: str,
        sc_id: int,
        change_type: str,
        target: str,
        scheduled_by: str,
        row: dict[str, Any] | None,
        base_data_version: int | None,
        condition: dict[str, Any],
        required: list[dict[str, Any]],
        restores: dict[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.sc_id = sc_id
        self.change_type = change_type
        self.target = target
        self._hold(Proposal(row, base_data_version, condition, required, restores), scheduled_by)
        self.signoffs: dict[str, str] = {}
        #: username -> {live channel: fingerprint of its test view when they signed}
        self.signoff_fingerprints: dict[str, dict[str, str]] = {}
        self.status = "pending"
        self.data_version = 1
        self.enacted_by: str | None = None
        self.verification: dict[str, Any] = {}

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def when(self) -> datetime | None:
        raw = self.condition.get("when")
        return parse_when(raw) if raw else None

    def require_pending(self) -> None:
        if not self.pending:
            raise Conflict(
                f"scheduled change {self.kind}/{self.sc_id} is {self.status} and cannot change",
                sc_id=self.sc_id,
            )

    def modify(self, proposal: Proposal, changed_by: str) -> None:
        self.require_pending()
        self._modified(changed_by=changed_by, **proposal.as_fields())

    @event(Modified)
    def _modified(
        self,
        row: dict[str, Any] | None,
        base_data_version: int | None,
        condition: dict[str, Any],
        required: list[dict[str, Any]],
        restores: dict[str, Any] | None,
        changed_by: str,
    ) -> None:
        # Balrog: whoever modifies the change now owns it.
        self._hold(Proposal(row, base_data_version, condition, required, restores), changed_by)
        # Everyone else signed off on something else: only the modifier's stays.
        self.signoffs = {u: r for u, r in self.signoffs.items() if u == changed_by}
        self._keep_fingerprints_of_signers()
        self.data_version += 1

    def _hold(self, proposal: Proposal, owner: str) -> None:
        """What scheduling and modifying both leave the change holding."""
        self.row = proposal.row
        self.base_data_version = proposal.base_data_version
        self.condition = proposal.condition
        self.required = proposal.required
        self.restores = proposal.restores
        self.scheduled_by = owner

    def rebase(self, row: dict[str, Any] | None, base_data_version: int, changed_by: str) -> None:
        self.require_pending()
        self._rebased(row=row, base_data_version=base_data_version, changed_by=changed_by)

    @event(Rebased)
    def _rebased(self, row: dict[str, Any] | None, base_data_version: int, changed_by: str) -> None:
        self.row = row
        self.base_data_version = base_data_version
        # As in Balrog's mergeUpdate: the change is now a different change,
        # so only its scheduler's signoff stands.
        self.signoffs = {u: r for u, r in self.signoffs.items() if u == self.scheduled_by}
        self._keep_fingerprints_of_signers()
        self.data_version += 1

    def _keep_fingerprints_of_signers(self) -> None:
        self.signoff_fingerprints = {
            u: f for u, f in self.signoff_fingerprints.items() if u in self.signoffs
        }

    def sign_off(
        self, username: str, role: str, fingerprints: dict[str, str] | None = None
    ) -> None:
        self.require_pending()
        self._signed_off(username=username, role=role, fingerprints=dict(fingerprints or {}))

    @event(SignedOff)
    def _signed_off(self, username: str, role: str, fingerprints: dict[str, str]) -> None:
        self.signoffs[username] = role
        self.signoff_fingerprints[username] = fingerprints

    def override_expectations(self, username: str, reason: str, failures: list[str]) -> None:
        self.require_pending()
        self._overridden(username=username, reason=reason, failures=list(failures))

    @event(ExpectationsOverridden)
    def _overridden(self, username: str, reason: str, failures: list[str]) -> None:
        self.expectation_overrides = [
            *getattr(self, "expectation_overrides", []),
            {"username": username, "reason": reason, "failures": failures},
        ]

    def revoke_signoff(self, username: str, changed_by: str) -> None:
        self.require_pending()
        if username not in self.signoffs:
            raise Invalid(f"{username} has not signed off this change", field="username")
        self._revoked(username=username, changed_by=changed_by)

    @event("SignoffRevoked", topic="rulelog:scheduled-change.signoff-revoked")
    def _revoked(self, username: str, changed_by: str) -> None:
        del self.signoffs[username]
        self.signoff_fingerprints.pop(username, None)

    def cancel(self, changed_by: str) -> None:
        self.require_pending()
        self._cancelled(changed_by=changed_by)

    @event("Cancelled", topic="rulelog:scheduled-change.cancelled")
    def _cancelled(self, changed_by: str) -> None:
        self.status = "cancelled"
        self.data_version += 1

    def enact(
        self,
        enacted_by: str,
        required: list[dict[str, Any]],
        verification: dict[str, Any] | None = None,
    ) -> None:
        self.require_pending()
        self._enacted(enacted_by=enacted_by, required=required, verification=verification or {})

    @event(Enacted)
    def _enacted(
        self, enacted_by: str, required: list[dict[str, Any]], verification: dict[str, Any]
    ) -> None:
        self.verification = verification
        self.status = "enacted"
        self.enacted_by = enacted_by
        self.required = required
        self.data_version += 1


class PendingTarget(Aggregate):
    """The one pending scheduled change of a target row, if any."""

    TOPIC = "rulelog:pending-target"

    create_id = staticmethod(ids.pending_target_id)

    @event("Created", topic="rulelog:pending-target.created")
    def __init__(self, kind: str, target: str, sc_id: int) -> None:
        self.kind = kind
        self.target = target
        self.sc_id: int | None = sc_id

    def claim(self, sc_id: int) -> None:
        if self.sc_id is not None:
            raise Conflict(
                f"{self.kind} {self.target} already has pending scheduled change {self.sc_id}",
                sc_id=self.sc_id,
            )
        self._claimed(sc_id=sc_id)

    @event("Claimed", topic="rulelog:pending-target.claimed")
    def _claimed(self, sc_id: int) -> None:
        self.sc_id = sc_id

    @event("Freed", topic="rulelog:pending-target.freed")
    def free(self) -> None:
        self.sc_id = None
