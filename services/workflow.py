"""Scheduled changes: schedule, modify, cancel, enact; uptake (signoffs: ``services.signoffs``).

Enactment saves the change's ``Enacted`` event and the change itself (the
rule, release, ... events) in one atomic save, runs the underlying change as
its scheduler (as Balrog does) after checking the enacting identity may enact,
and records the signoffs that were required at that moment.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from rulelog.domain import ids
from rulelog.domain.access.permissions import is_allowed
from rulelog.domain.errors import Conflict, Invalid, NotFound, SignoffRequired
from rulelog.domain.sequence import Sequence
from rulelog.domain.workflow.kinds import key_row
from rulelog.domain.workflow.scheduling import (
    PendingTarget,
    Proposal,
    ScheduledChange,
    check_kind,
    normalize_condition,
)
from rulelog.domain.workflow.signoff_rules import (
    Requirement,
    auto_signoff_role,
    is_satisfied,
    missing,
)
from rulelog.domain.workflow.uptake import Uptake, check_percent
from rulelog.services import changes
from rulelog.services.app_base import AppBase, requirements_as_data
from rulelog.services.targets import ABSENT, Current, Target, target_for


def scheduled_change(app: AppBase, kind: str, sc_id: int) -> ScheduledChange:
    """A scheduled change of ``kind`` by its id, in any state (the signoff commands use it)."""
    check_kind(kind)
    sc = app.find(ids.scheduled_change_id(kind, sc_id), ScheduledChange)
    if sc is None:
        raise NotFound(f"scheduled change {kind}/{sc_id} does not exist", sc_id=sc_id)
    return sc


def pending_change(app: AppBase, kind: str, sc_id: int) -> ScheduledChange:
    """A scheduled change that is still pending (``Conflict`` once enacted or cancelled)."""
    sc = scheduled_change(app, kind, sc_id)
    sc.require_pending()
    return sc


class WorkflowCommands(AppBase):
    """Scheduling, modifying, cancelling and enacting changes; uptake (a mixin on ``AppBase``)."""

    # ---------------------------------------------------------------- reads

    def get_scheduled_change(self, kind: str, sc_id: int) -> ScheduledChange:
        return scheduled_change(self, kind, sc_id)

    def _pending_at(self, kind: str, sc_id: int, sc_data_version: int) -> ScheduledChange:
        """A pending change, only if still at ``sc_data_version`` (modify, cancel)."""
        sc = pending_change(self, kind, sc_id)
        self.check_data_version(f"scheduled change {sc_id}", sc.data_version, sc_data_version)
        return sc

    def uptake_of(self, product: str, channel: str) -> float | None:
        uptake = self.find(ids.uptake_id(product, channel), Uptake)
        return uptake.percent if uptake else None

    def is_due(self, sc: ScheduledChange, now: datetime | None = None) -> bool:
        """Time reached, or the latest uptake report reached the threshold."""
        when = sc.when
        if when is not None:
            return when <= (now or self.now())
        percent = self.uptake_of(
            sc.condition["telemetry_product"], sc.condition["telemetry_channel"]
        )
        return percent is not None and percent >= float(sc.condition["telemetry_uptake"])

    def required_now(self, sc: ScheduledChange) -> list[Requirement]:
        target = target_for(sc.kind)
        current = target.current(self, sc.target) if sc.change_type != "insert" else ABSENT
        return target.required(self, current, sc.row)

    def missing_signoffs(self, sc: ScheduledChange) -> dict[str, int]:
        return missing(self.required_now(sc), sc.signoffs)

    # ------------------------------------------------------------- schedule

    def schedule_change(
        self,
        kind: str,
        change_type: str,
        row: Mapping[str, Any],
        condition: Mapping[str, Any],
        changed_by: str,
        data_version: int | None = None,
        restores: Mapping[str, Any] | None = None,
    ) -> ScheduledChange:
        """Schedule an insert, update or delete of a row, conditioned on time or uptake.

        ``restores`` names the prior row this change brings back exactly as it was
        (``rulelog restore``): the row is then validated as a stored row, once the
        row's history confirms it is that row (``Target.check_restores``).
        """
        target = target_for(check_kind(kind))
        if restores is not None:
            target = target.restoring()

        def attempt() -> ScheduledChange:
            key, current, new = changes.prepare_change(
                self, target, change_type, row, data_version, changed_by
            )
            restored = (
                target.check_restores(self, change_type, dict(restores), new)
                if restores is not None
                else None
            )
            proposal, required = self._proposal(target, current, new, condition, restored)
            sequence = self.find(ids.sequence_id(f"sc:{kind}"), Sequence) or Sequence(
                name=f"sc:{kind}"
            )
            sc_id = sequence.allocate()
            touched: list[Aggregate] = [sequence]
            lock_key = key if key is not None else f"new:{sc_id}"
            lock = self.find(ids.pending_target_id(kind, lock_key), PendingTarget)
            if lock is None:
                lock = PendingTarget(kind=kind, target=lock_key, sc_id=sc_id)
            else:
                lock.claim(sc_id)
            sc = ScheduledChange.schedule(kind, sc_id, change_type, lock_key, proposal, changed_by)
            self._auto_signoff(sc, changed_by, required)
            self.save(sc, lock, *touched)
            return sc

        return self.with_retries(attempt)

    def _proposal(
        self,
        target: Target,
        current: Current,
        new: dict[str, Any] | None,
        condition: Mapping[str, Any],
        restores: dict[str, Any] | None,
    ) -> tuple[Proposal, list[Requirement]]:
        """What a new or modified change records of its plan: the row, the row's
        data_version it builds on, its condition, and the signoffs it needs now."""
        cond = normalize_condition(
            dict(condition), self.now(), uptake_allowed=target.uptake_allowed
        )
        required = target.required(self, current, new)
        signoffs = requirements_as_data(required)
        proposal = Proposal(new, current.data_version, cond, signoffs, restores)
        return proposal, required

    def _auto_signoff(
        self, sc: ScheduledChange, username: str, required: list[Requirement]
    ) -> None:
        user = self.user(username)
        role = auto_signoff_role(user.roles if user else (), required)
        if role is not None and sc.signoffs.get(username) != role:
            sc.sign_off(username, role)

    def modify_scheduled_change(
        self,
        kind: str,
        sc_id: int,
        sc_data_version: int,
        changed_by: str,
        row: Mapping[str, Any] | None = None,
        condition: Mapping[str, Any] | None = None,
        data_version: int | None = None,
    ) -> ScheduledChange:
        """Change what a pending change does or when; resets others' signoffs."""
        target = target_for(check_kind(kind))

        def attempt() -> ScheduledChange:
            sc = self._pending_at(kind, sc_id, sc_data_version)
            base_row = dict(sc.row or {})
            if sc.change_type != "insert":
                base_row.update(key_row(kind, sc.target))
            proposed = {**base_row, **(row or {})}
            base_version = data_version if data_version is not None else sc.base_data_version
            restores = self._still_restores(target, sc, proposed)
            _, current, new = changes.prepare_change(
                self,
                target.restoring() if restores else target,
                sc.change_type,
                proposed,
                base_version,
                changed_by,
            )
            when = condition if condition is not None else sc.condition
            proposal, required = self._proposal(target, current, new, when, restores)
            sc.modify(proposal, changed_by)
            self._auto_signoff(sc, changed_by, required)
            self.save(sc)
            return sc

        return self.with_retries(attempt)

    def _still_restores(
        self, target: Target, sc: ScheduledChange, proposed: dict[str, Any]
    ) -> dict[str, Any] | None:
        """A restoring change stays one while its row is still the row it brings back
        (a new condition, say); a modification that changes the row makes it an
        ordinary change, validated as a client's request."""
        if sc.restores is None:
            return None
        restoring = target.restoring()
        try:
            new = restoring.normalize(sc.change_type, dict(proposed), ABSENT)
            return restoring.check_restores(self, sc.change_type, sc.restores, new)
        except Invalid:
            return None

    # ------------------------------------------------------ cancel and enact

    def cancel_scheduled_change(
        self, kind: str, sc_id: int, sc_data_version: int, changed_by: str
    ) -> ScheduledChange:
        target = target_for(check_kind(kind))

        def attempt() -> ScheduledChange:
            sc = self._pending_at(kind, sc_id, sc_data_version)
            current = target.current(self, sc.target) if sc.change_type != "insert" else ABSENT
            cur_product, new_product = target.products(current, sc.row)
            self.require(
                changed_by,
                target.change_name(sc.change_type),
                current_product=cur_product,
                new_product=new_product,
            )
            sc.cancel(changed_by)
            lock = self.find(ids.pending_target_id(kind, sc.target), PendingTarget)
            touched: list[Aggregate] = [sc]
            if lock is not None and lock.sc_id == sc_id:
                lock.free()
                touched.append(lock)
            self.save(*touched)
            return sc

        return self.with_retries(attempt)

    def enact_scheduled_change(
        self,
        kind: str,
        sc_id: int,
        enacted_by: str,
        verification: dict[str, Any] | None = None,
    ) -> ScheduledChange:
        """Enact one change now, whatever its condition (if fully signed off)."""
        return self.enact_together([(kind, sc_id, verification or {})], enacted_by)[0]

    def enact_together(
        self, items: list[tuple[str, int, dict[str, Any]]], enacted_by: str
    ) -> list[ScheduledChange]:
        """Enact several changes in one atomic save, in the order given.

        The agent enacts all due changes of a live channel this way, so that
        clients never see half of what was tested together. Each change builds
        on the ones before it (one unit of work); ``verification`` is recorded
        in each ``Enacted`` event.
        """

        def attempt() -> list[ScheduledChange]:
            self.require(enacted_by, "scheduled_change.enact")
            with self.unit_of_work():
                done: list[ScheduledChange] = []
                touched: list[Aggregate] = []
                for kind, sc_id, verification in items:
                    sc, planned = self._plan_enactment(kind, sc_id, enacted_by, verification)
                    done.append(sc)
                    touched += [sc, *planned]
                unique = list({id(a): a for a in touched}.values())
                self.save(*unique)
            return done

        return self.with_retries(attempt)

    def _plan_enactment(
        self, kind: str, sc_id: int, enacted_by: str, verification: dict[str, Any]
    ) -> tuple[ScheduledChange, list[Aggregate]]:
        target = target_for(check_kind(kind))
        sc = pending_change(self, kind, sc_id)
        if sc.restores is not None:  # verified when scheduled: the row as it was
            target = target.restoring()
        current = target.current(self, sc.target) if sc.change_type != "insert" else ABSENT
        if sc.change_type != "insert":
            if not current.exists:
                raise Conflict(
                    f"scheduled change {sc_id} is stale: {target.describe(sc.target)} "
                    "no longer exists",
                    sc_id=sc_id,
                )
            if current.data_version != sc.base_data_version:
                raise Conflict(
                    f"scheduled change {sc_id} is stale: it was based on data_version "
                    f"{sc.base_data_version}, the row is at {current.data_version}",
                    sc_id=sc_id,
                    stale=True,
                )
        elif current.exists:
            raise Conflict(f"scheduled change {sc_id} is stale: the row exists", sc_id=sc_id)
        required = target.required(self, current, sc.row)
        if not is_satisfied(required, sc.signoffs):
            needed = missing(required, sc.signoffs)
            roles = ", ".join(f"{n} more {r}" for r, n in needed.items()) or "signoffs"
            first_short = next(iter(needed), None)
            raise SignoffRequired(
                f"scheduled change {sc_id} is not fully signed off: needs {roles}",
                sc_id=sc_id,
                # Balrog's wording, which its clients show
                balrog=(
                    "No Signoffs given"
                    if not sc.signoffs
                    else f"Not enough signoffs for role '{first_short}'"
                ),
            )
        row = sc.row
        if sc.change_type == "update" and row is not None:
            row = target.normalize("update", row, current)
        cur_product, new_product = target.products(current, row)
        self.require(
            sc.scheduled_by,
            target.change_name(sc.change_type),
            current_product=cur_product,
            new_product=new_product,
        )
        touched = target.plan(self, sc.change_type, current, row, sc.scheduled_by)
        sc.enact(
            enacted_by=enacted_by,
            required=requirements_as_data(required),
            verification=verification,
        )
        lock = self.find(ids.pending_target_id(kind, sc.target), PendingTarget)
        if lock is not None and lock.sc_id == sc_id:
            lock.free()
            touched.append(lock)
        return sc, touched

    # --------------------------------------------------------------- uptake

    def report_uptake(self, product: str, channel: str, percent: float, changed_by: str) -> Uptake:
        """Record an uptake figure; changes gated on it become due when it is reached.

        Reporting may make changes go live, so it needs what enacting needs:
        the ``scheduled_change`` permission with the ``enact`` action (or admin).
        """
        value = check_percent(percent)
        for name, given in (("product", product), ("channel", channel)):
            if not isinstance(given, str) or not given:
                raise Invalid(f"{name}: must be a non-empty string", field=name)
        if not is_allowed(self.held(changed_by), "scheduled_change", "enact", None):
            self.require(changed_by, "scheduled_change.enact")

        def attempt() -> Uptake:
            uptake = self.find(ids.uptake_id(product, channel), Uptake) or Uptake(
                product=product, channel=channel
            )
            uptake.report(percent=value, changed_by=changed_by)
            self.save(uptake)
            return uptake

        return self.with_retries(attempt)
