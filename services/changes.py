"""The one direct-change path every command group shares.

A direct edit of any row (rule, release, shutoff, pin, permission, policy)
finds the row, validates the new one, checks the acting user's permissions,
refuses if signoffs would be needed, checks data_version, plans the change
over the per-kind adapters in ``services.targets``, and folds it into a
pending scheduled change of the same row (Balrog's ``mergeUpdate``).

These are functions of the application (``AppBase``) rather than methods of
one command group, so each group (catalogue, access, workflow) calls them
without inheriting from another; ``CatalogCommands`` exposes them as the
application's ``change``, ``plan_change`` and ``prepare_change``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from eventsourcing.domain import Aggregate

from rulelog.domain import ids
from rulelog.domain.errors import Conflict, Invalid, NotFound
from rulelog.domain.serving.blobs.validation import check_download_domains
from rulelog.domain.workflow.scheduling import CHANGE_TYPES, PendingTarget, ScheduledChange
from rulelog.services.app_base import AppBase
from rulelog.services.targets import ABSENT, Current, Target, target_for

A = TypeVar("A", bound=Aggregate)


def change(
    app: AppBase,
    kind: str,
    change_type: str,
    row: Mapping[str, Any],
    changed_by: str,
    data_version: int | None = None,
) -> Aggregate:
    """Make a direct change; returns the changed aggregate (rule, release, ...)."""
    target = target_for(kind)
    if change_type not in target.change_types:
        raise Invalid(f"change_type: {kind} cannot be changed by {change_type}")

    def attempt() -> Aggregate:
        touched = plan_change(app, target, change_type, row, data_version, changed_by)
        app.save(*touched)
        return touched[0]

    return app.with_retries(attempt)


def changed_as(cls: type[A], changed: Aggregate) -> A:
    """What ``change`` returned, as the class the per-kind command knows it is."""
    assert isinstance(changed, cls)
    return changed


def plan_change(
    app: AppBase,
    target: Target,
    change_type: str,
    row: Mapping[str, Any],
    data_version: int | None,
    changed_by: str,
) -> list[Aggregate]:
    """Check a direct change and plan it, saving nothing: the changed aggregate
    first, then what it touches. Commands that make several changes as one fact
    (``derive_test_channel``, ``copyTo``) plan each and save them together."""
    key, current, new = prepare_change(
        app, target, change_type, row, data_version, changed_by, check_version=False
    )
    app.refuse_if_signoffs_needed(
        f"this {change_type} of {target.describe(str(key or 'new'))}",
        target.required(app, current, new),
    )
    # Balrog's order for a direct change: permission, signoffs, then data_version.
    if change_type != "insert":
        app.check_data_version(target.describe(str(key)), current.data_version or 0, data_version)
    touched = target.plan(app, change_type, current, new, changed_by)
    if key is not None:
        touched += _merge_into_pending(app, target, key, change_type, current, new, changed_by)
    return touched


def _merge_into_pending(
    app: AppBase,
    target: Target,
    key: str,
    change_type: str,
    current: Current,
    new: dict[str, Any] | None,
    changed_by: str,
) -> list[Aggregate]:
    """Balrog's mergeUpdate: fold a direct edit into the row's pending change."""
    lock = app.find(ids.pending_target_id(target.kind, key), PendingTarget)
    if lock is None or lock.sc_id is None or change_type == "insert":
        return []
    sc = app.find(ids.scheduled_change_id(target.kind, lock.sc_id), ScheduledChange)
    assert sc is not None
    if change_type == "delete":
        raise Conflict(
            f"{target.describe(key)} has pending scheduled change {sc.sc_id}: cancel it first",
            sc_id=sc.sc_id,
            reason="scheduled",
        )
    old = current.row or {}
    changed = {c: v for c, v in (new or {}).items() if v != old.get(c)}
    # Even an edit that changes nothing moves the row's data_version (as Balrog's),
    # so the pending change is rebased onto it in every case.
    merged: dict[str, Any] | None = None
    if sc.row is not None:
        for column in changed:
            if sc.row.get(column) != old.get(column):
                raise Conflict(
                    f"cannot merge the change to {column} with scheduled change {sc.sc_id}, "
                    "which changes it too",
                    field=column,
                    sc_id=sc.sc_id,
                    reason="merge",
                )
        merged = {**sc.row, **changed}
    after = getattr(current.aggregate, "data_version", None)
    if not isinstance(after, int) or after == current.data_version:
        after = (current.data_version or 0) + 1
    sc.rebase(merged, base_data_version=after, changed_by=changed_by)
    return [sc]


def prepare_change(
    app: AppBase,
    target: Target,
    change_type: str,
    row: Mapping[str, Any],
    data_version: int | None,
    changed_by: str,
    *,
    check_version: bool = True,
    check_permission: bool = True,
) -> tuple[str | None, Current, dict[str, Any] | None]:
    """Validate a change as if made now, and check its scheduler may make it.

    Saves nothing: callers that schedule several changes as one decision
    (a restore) check them all with this first. ``check_version=False``
    leaves the ``data_version`` check to the caller (a direct change makes
    it after the signoff check, as Balrog does). ``check_permission=False`` only
    validates: a what-if (``services.impact``) that will never be made.
    """
    if change_type not in CHANGE_TYPES or change_type not in target.change_types:
        raise Invalid(
            f"change_type: must be one of {', '.join(target.change_types)}",
            field="change_type",
        )
    key = None if (target.kind == "rules" and change_type == "insert") else target.key(dict(row))
    if key is not None:
        app.read_ahead_for_change(target.kind, key, changed_by)
    current = target.current(app, key) if key is not None else ABSENT
    if change_type == "insert" and current.exists:
        raise Conflict(f"{target.describe(str(key))} already exists")
    if change_type != "insert":
        if not current.exists:
            raise NotFound(f"{target.describe(str(key))} does not exist")
        if check_version:
            app.check_data_version(
                target.describe(str(key)), current.data_version or 0, data_version
            )
    new = None if change_type == "delete" else target.normalize(change_type, dict(row), current)
    if target.kind == "releases" and new is not None and app.domain_allowlist is not None:
        check_download_domains(new["data"], new["product"], app.domain_allowlist)
    if not check_permission:
        return key, current, new
    cur_product, new_product = target.products(current, new)
    app.require(
        changed_by,
        target.change_name(change_type),
        current_product=cur_product,
        new_product=new_product,
    )
    return key, current, new
