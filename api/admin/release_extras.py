"""A release's read-only switch and its revisions (``/api/releases/{release}/...``).

Balrog's read-only switch answers 201 with ``data_version + 1`` computed from
the given one, and setting a flag already set changes nothing and checks
nothing. Revisions are listed newest first, ten a page, in the shape of
Balrog's ``releases_history`` listing; posting a ``change_id`` writes that
revision's blob and product back as a new revision.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse, Response

from rulelog.api.admin.deps import Actor, Reader, Service
from rulelog.api.admin.html_answers import NEW_VERSION, html, html_answer, html_json
from rulelog.api.admin.paging import Page
from rulelog.api.admin.problems import Problem
from rulelog.api.admin.reading import ReadModel
from rulelog.api.admin.release_schemas import (
    ReadOnlyOut,
    ReleaseReadOnlyBody,
    ReleaseRevertBody,
    ReleaseRevisions,
    RequiredSignoffsOut,
    require_fields,
)
from rulelog.api.admin.release_writes import find_release, no_signoffs, read_only_message
from rulelog.api.admin.schemas import ProblemDoc
from rulelog.domain import ids
from rulelog.domain.errors import SignoffRequired
from rulelog.domain.workflow.signoff_rules import Requirement, reduce_requirements
from rulelog.projections.history import events_at
from rulelog.projections.release_revisions import annotate, release_revisions, state_at

#: Included by ``releases.router``, whose tag it takes.
router = APIRouter()

PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemDoc} for code in (400, 401, 403, 404)
}


def _not_found(release: str) -> Problem:
    return Problem(404, f"Release: {release} not found")


def _live_row(model: ReadModel, release: str) -> dict[str, Any]:
    """The release's row in the read model; Balrog's 404 when there is none."""
    row = model.catalog.releases.get(release)
    if row is None:
        raise _not_found(release)
    return row


@router.get(
    "/releases/{release}/read_only",
    response_model=ReadOnlyOut,
    responses={404: {"model": ProblemDoc}},
)
def get_read_only(release: str, reader: Reader) -> Any:
    with reader.current() as model:
        read_only = bool(_live_row(model, release)["read_only"])
    return JSONResponse({"read_only": read_only})


@router.put(
    "/releases/{release}/read_only",
    status_code=201,
    response_class=Response,
    responses={201: html_answer("Changed", NEW_VERSION), **PROBLEMS},
)
def put_read_only(
    release: str,
    service: Service,
    reader: Reader,
    changed_by: Actor,
    body: ReleaseReadOnlyBody = Body(...),
) -> Any:
    """Set (``release_read_only`` set) or clear (its unset, and signoffs) the flag."""
    require_fields(body, "data_version", "read_only")
    existing = find_release(service, release)
    if existing is None:
        raise _not_found(release)
    data_version = int(body.data_version or 0)
    wanted = bool(body.read_only)
    if wanted and existing.read_only:
        return html_json({"new_data_version": data_version}, 201)
    if wanted and data_version == existing.data_version and _has_pending_change(reader, release):
        # Balrog merges the flag into the release's pending scheduled change, whose
        # re-validation then finds the release read-only: the lock is refused.
        service.require(changed_by, "release_read_only.set", current_product=existing.product)
        raise Problem(400, "Read only", exception=read_only_message(release))
    if not wanted and not existing.read_only:
        # Balrog checks (and bumps) even when the release is writable already.
        service.require(changed_by, "release_read_only.unset", current_product=existing.product)
    try:
        changed = service.set_release_read_only(release, data_version, wanted, changed_by)
    except SignoffRequired as error:
        raise no_signoffs(error) from None
    return html_json({"new_data_version": changed.data_version}, 201)


def _has_pending_change(reader: Reader, release: str) -> bool:
    with reader.current() as model:
        return any(
            sc["kind"] == "releases" and sc["status"] == "pending" and sc["target"] == release
            for sc in model.catalog.scheduled.values()
        )


@router.get(
    "/releases/{release}/read_only/product/required_signoffs",
    response_model=RequiredSignoffsOut,
    responses={404: {"model": ProblemDoc}},
)
def read_only_required_signoffs(release: str, reader: Reader) -> Any:
    """What making the release writable needs at most: every policy of its product."""
    with reader.current() as model:
        product = _live_row(model, release)["product"]
        policies = list(model.catalog.policies["product"].values())
    reqs = [
        Requirement(p["role"], int(p["signoffs_required"]))
        for p in policies
        if p["product"] == product
    ]
    signoffs = {r.role: r.signoffs_required for r in reduce_requirements(reqs)}
    return JSONResponse({"required_signoffs": signoffs})


@router.get(
    "/releases/{release}/revisions",
    response_model=ReleaseRevisions,
    responses={400: {"model": ProblemDoc}, 404: html_answer("No such release (text)")},
)
def list_revisions(
    release: str,
    service: Service,
    reader: Reader,
    paging: Page,
) -> Any:
    if find_release(service, release) is None:
        return html("Requested object does not exist", 404)
    with reader.current() as model:
        change_ids = model.change_ids
        revisions = change_ids.rows("releases", release_revisions(service, release))
    shown = annotate(paging.of(revisions))
    return JSONResponse({"count": len(revisions), "revisions": shown})


@router.post(
    "/releases/{release}/revisions",
    responses={
        200: html_answer("Reverted", "Excellent!"),
        **PROBLEMS,
    },
)
def revert_release(
    release: str,
    service: Service,
    reader: Reader,
    changed_by: Actor,
    body: ReleaseRevertBody = Body(None),
) -> Response:
    """Write the blob and product of the revision ``change_id`` back."""
    existing = find_release(service, release)
    if existing is None:
        raise Problem(404, "bad release")
    change_id = body.change_id if body is not None else None
    if not change_id:
        raise Problem(400, "No change_id passed in the request body")
    invalid = Problem(400, f"Invalid change_id : {change_id} passed in the request body")
    if not isinstance(change_id, int) or isinstance(change_id, bool):
        raise invalid
    with reader.current() as model:
        position = model.change_ids.position("releases", change_id)
    state = state_at(service, release, position) if position is not None else None
    if state is None:
        event = events_at(service, [position]).get(position) if position is not None else None
        if (
            event is not None
            and event.topic.startswith("rulelog:release.")
            and event.originator_id != ids.release_id(release)
        ):
            raise Problem(400, "Bad name passed in the request")
        raise invalid
    if existing.read_only:
        raise Problem(400, "Read only", exception=read_only_message(release))
    try:
        service.replace_release_blob(
            release, existing.data_version, state.blob, changed_by, product=state.product
        )
    except SignoffRequired as error:
        raise no_signoffs(error) from None
    return html("Excellent!")
