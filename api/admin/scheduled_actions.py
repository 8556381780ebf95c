"""Signing off and enacting over HTTP, verified as the CLI and the agent do it.

A signoff records the fingerprints of the test-channel views it is given on
(``api.verification.sign_off_verified``, the CLI's path), and an enactment
checks that every signoff still matches the views now and records what it
checked, with the agent's own checks (``api.agent``): an HTTP enactment is
one more way to make a change go live, not a way around the verification.
Balrog's texts are kept where its clients read them ("No Signoffs given",
"Not enough signoffs for role ...").
"""

from __future__ import annotations

from typing import Any

from rulelog.api.admin.problems import Problem
from rulelog.api.config import settings
from rulelog.api.metrics import metrics
from rulelog.domain.errors import NotFound, PermissionDenied, SignoffRequired
from rulelog.domain.workflow.signoff_rules import reduce_requirements
from rulelog.projections.state import Catalog
from rulelog.services.agent import Agent, check_live
from rulelog.services.verification import ChannelViews, sign_off_verified


def gone(kind: str, sc_id: int) -> Problem:
    """A change Balrog has no row for (never scheduled, or cancelled: deleted)."""
    return Problem(
        404,
        "Scheduled change does not exist",
        title="Not Found",
        exception=f"No scheduled change {sc_id} for {kind}",
    )


def signoff_problem(service: Any, kind: str, sc_id: int) -> Problem:
    """Balrog's ``verify_signoffs`` answer for a change that is not signed off enough."""
    sc = service.get_scheduled_change(kind, sc_id)
    if not sc.signoffs:
        return Problem(400, "Signoff Required", exception="No Signoffs given")
    given: dict[str, int] = {}
    for role in sc.signoffs.values():
        given[role] = given.get(role, 0) + 1
    for req in reduce_requirements(service.required_now(sc)):
        if given.get(req.role, 0) < req.signoffs_required:
            return Problem(
                400, "Signoff Required", exception=f"Not enough signoffs for role '{req.role}'"
            )
    return Problem(400, "Signoff Required", exception="Signoffs are missing")


def sign_off(
    service: Any,
    state: Catalog,
    kind: str,
    sc_id: int,
    role: str,
    user: str,
    override_reason: str | None = None,
) -> None:
    """Sign off with ``role``, recording the test views as seen now (refused while
    expectations fail on them, unless overridden with a reason)."""
    sign_off_verified(service, state, kind, sc_id, role, user, override_reason)


def enact(service: Any, state: Catalog, kind: str, sc_id: int, enacted_by: str) -> list[str]:
    """Enact one change now (whatever its condition), as the agent would enact it.

    Balrog's order of refusals: who may enact (before the change is even looked
    up), then signoffs; then rulelog's
    own check that the signoffs were given on the test views as they are now
    (refused unless ``RULELOG_FINGERPRINT_POLICY=warn``, which records the
    mismatch instead); the domain then refuses a stale change.
    """
    try:
        service.require(enacted_by, "scheduled_change.enact")
    except PermissionDenied:
        # Balrog words this refusal with its message's format arguments unapplied.
        words = ("%s is not allowed to enact scheduled changes", enacted_by)
        raise Problem(403, "Permission Denied", exception=str(words)) from None
    sc = state.scheduled.get((kind, sc_id))
    if sc is None or sc["status"] == "cancelled":
        raise gone(kind, sc_id)
    if sc["status"] != "pending" and sc["change_type"] != "insert":
        # Balrog enacts it again, against the row the first enactment changed.
        raise Problem(
            400,
            "OutdatedDataError",
            exception="Couldn't perform the request POST. Outdated Data Version. "
            "old_data_version doesn't match current data_version",
        )
    if sc["status"] != "pending":
        raise Problem(
            400,
            f"Scheduled change {sc_id} is already {sc['status']}",
            exception=f"Scheduled change {kind}/{sc_id} was enacted already",
        )
    aggregate = service.get_scheduled_change(kind, sc_id)
    if service.missing_signoffs(aggregate):
        raise signoff_problem(service, kind, sc_id)
    views = ChannelViews(state)
    changed = Agent._stale_signoffs(views, [sc])
    if changed and settings().fingerprint_policy == "refuse":
        raise Problem(400, "Signoff Required", exception="; ".join(changed))
    verification = Agent._verification(state, views, sc, [sc], {})
    if changed:
        verification["fingerprint_mismatch"] = changed
    try:
        service.enact_scheduled_change(kind, sc_id, enacted_by, verification)
    except SignoffRequired:
        raise signoff_problem(service, kind, sc_id) from None
    except NotFound:
        raise gone(kind, sc_id) from None
    return views.affected(sc)


def enact_and_check(service: Any, reader: Any, kind: str, sc_id: int, enacted_by: str) -> None:
    """Enact by hand (admin API, console), then check the expectations of the live
    channels it touched, as the agent does after its enactments: failures are logged
    (``expectation.failing_live``) and counted (``rulelog_expectations_failing_live``)."""
    with reader.current() as model:
        channels = enact(service, model.catalog, kind, sc_id, enacted_by)
    with reader.current() as model:
        failing = check_live(service, model.catalog, channels)
    if failing:
        metrics().expectations_failing_live.inc(len(failing))
