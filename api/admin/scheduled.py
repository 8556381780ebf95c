"""``/api/scheduled_changes/<kind>``: Balrog's scheduled-change routes, for every kind.

Balrog has one view module per kind, all calling the same helpers; here one
set of handlers is registered per kind (rules, releases, permissions, the
two kinds of required signoffs, emergency shutoffs, pins) over the domain's
one generic workflow. What differs per kind -- the body checks, the row
columns -- is in ``scheduled_bodies`` and ``scheduled_rows``; signing off and
enacting go through the verified paths of ``scheduled_actions``.

No ``from __future__ import annotations`` here: handlers are made in a loop,
and FastAPI must see their parameter types as objects, not as names.
"""

import difflib
import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from rulelog.api.admin.deps import Actor, Reader, Service
from rulelog.api.admin.paging import Page
from rulelog.api.admin.params import below_minimum
from rulelog.api.admin.problems import Problem
from rulelog.api.admin.release_blob_errors import blob_errors
from rulelog.api.admin.rules import strict_query
from rulelog.api.admin.scheduled_actions import enact_and_check, gone, sign_off
from rulelog.api.admin.scheduled_bodies import NOUNS, check_required, creation, modification
from rulelog.api.admin.scheduled_rows import (
    EPOCH,
    add_failing_expectations,
    listed,
    matches,
    revision_row,
    shown,
    visible,
)
from rulelog.api.admin.scheduled_schemas import (
    BODIES,
    Empty,
    RevertBody,
    SCCreated,
    SCList,
    SCModified,
    SCOne,
    SCRevisions,
    SignoffBody,
)
from rulelog.api.admin.schemas import ProblemDoc
from rulelog.api.admin.timeline import Past
from rulelog.domain import ids
from rulelog.domain.errors import Conflict, Invalid, NotFound
from rulelog.domain.workflow.scheduling import KINDS, PendingTarget
from rulelog.projections.change_ids import sc_table
from rulelog.services.policy_holders import check_enough_holders
from rulelog.services.targets import rules_mapping, target_for
from rulelog.services.verification import verify_scheduler_signoffs

router = APIRouter(tags=["scheduled changes"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDoc} for status in (400, 401, 403, 404)
}
#: Routes answering text (Balrog's "Success", a diff): the problems stay JSON.
TEXT_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"description": "Done", "content": {"text/html": {"schema": {"type": "string"}}}},
    **PROBLEMS,
}
COMPLETED = "Scheduled change already completed. Cannot {} now."


def _now_ms(service: Any) -> int:
    return (service.now() - EPOCH) // timedelta(milliseconds=1)


def _rule_filters(rule_id: str | None = Query(None, description="Only this rule's")) -> dict:
    """``rule_id`` checked as Balrog's validator does: an integer, at least 1."""
    if not rule_id:
        return {}
    try:
        value = int(rule_id)
    except ValueError:
        raise Problem(400, "Wrong type, expected 'integer' for query parameter 'rule_id'") from None
    bounded = below_minimum("query", "rule_id", value)
    if bounded:
        raise Problem(400, bounded)
    return {"rule_id": value}


def _release_filters(name: str | None = Query(None, description="Only this release's")) -> dict:
    return {"name": name} if name else {}


def _product_policy_filters(
    product: str | None = Query(None), channel: str | None = Query(None)
) -> dict:
    return {k: v for k, v in (("product", product), ("channel", channel)) if v}


def _permissions_policy_filters(
    product: str | None = Query(None), channel: str | None = Query(None)
) -> dict:
    """Balrog fails on ``channel`` here (its table has none); it is ignored instead."""
    return {"product": product} if product else {}


def _no_filters() -> dict:
    return {}


#: Routes Balrog's v1 spec lacks for a kind (it answers 405 or 404 there).
ABSENT: dict[str, tuple[str, ...]] = {"emergency_shutoff": ("get_one", "revisions", "revert")}

#: Balrog's ``sc_id`` path parameter: an integer, at least 0.
ScId = Annotated[int, Path(ge=0)]

#: The listing's filters, as Balrog's spec names them (``all`` besides).
LIST_QUERY: dict[str, tuple[str, ...]] = {
    "rules": ("rule_id",),
    "releases": ("name",),
    "required_signoffs/product": ("product", "channel"),
    "required_signoffs/permissions": ("product", "channel"),
}

FILTERS = {
    "rules": _rule_filters,
    "releases": _release_filters,
    "required_signoffs/product": _product_policy_filters,
    "required_signoffs/permissions": _permissions_policy_filters,
}


def _scheduling_problem(error: Exception, kind: str, change_type: Any) -> Exception:
    """Balrog's answers to what its database layer refuses when a change is scheduled."""
    if isinstance(error, Conflict):
        context = error.context
        if "sc_id" in context and not context.get("reason") and not context.get("stale"):
            return Problem(
                400,
                "ChangeScheduledError",
                exception="Couldn't perform the request POST due a conflict with a scheduled "
                "change. Cannot schedule a change for a row with one already scheduled",
            )
        if change_type == "insert" and str(error).endswith("already exists"):
            duplicate = "Cannot schedule change for duplicate PK"
            return Problem(400, "Unknown error", exception=duplicate)
    if isinstance(error, NotFound) and change_type in ("update", "delete"):
        return Problem(
            400,
            "Unknown error",
            exception="Cannot create scheduled change with data_version for non-existent row",
        )
    return error


def _check_release_plan(service: Any, change_type: Any, row: dict[str, Any]) -> None:
    """What Balrog's release table refuses when the change is scheduled, not enacted."""
    data = row.get("data")
    if change_type in ("insert", "update") and data is not None:
        errors = blob_errors(data)
        if errors:
            raise Problem(400, "Invalid Blob", exception=errors)
    name = row.get("name")
    if change_type == "delete" and isinstance(name, str) and rules_mapping(service, name):
        raise Problem(
            400,
            "Unknown error",
            exception=f"{name} has rules pointing to it. Hence it cannot be deleted.",
        )


class _Releases:
    """The release names, read on first use (Balrog's lookups follow its login check)."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self._names: set[str] | None = None

    def __contains__(self, name: object) -> bool:
        if self._names is None:
            with self._reader.current() as model:
                self._names = set(model.catalog.releases)
        return name in self._names


def _pending_sc(service: Any, kind: str, change_type: Any, row: dict[str, Any]) -> int | None:
    """The pending change already scheduled for the row an update or delete names."""
    if change_type not in ("update", "delete"):
        return None
    try:
        key = target_for(kind).key(dict(row))
    except (Invalid, KeyError, TypeError, ValueError):
        return None
    lock = service.find(ids.pending_target_id(kind, key), PendingTarget)
    return None if lock is None else lock.sc_id


def _check_policy_plan(service: Any, kind: str, change_type: Any, row: dict[str, Any]) -> None:
    """Balrog validates a scheduled policy as it would the policy itself: enough holders."""
    if not kind.startswith("required_signoffs/") or change_type not in ("insert", "update"):
        return
    role, count = row.get("role"), row.get("signoffs_required")
    if not isinstance(role, str) or not isinstance(count, int):
        return
    try:
        check_enough_holders(service, kind.split("/", 1)[1], row)
    except Invalid as error:
        raise Problem(400, "Unknown error", exception=str(error)) from None


def _register(kind: str) -> None:
    base = f"/scheduled_changes/{kind}"
    body_model = BODIES[kind]
    filters = FILTERS.get(kind, _no_filters)
    noun = NOUNS[kind][1]

    def list_changes(
        reader: Reader,
        service: Service,
        where: dict = Depends(filters),
        show_all: str | None = Query(None, alias="all", description="Include enacted ones"),
        expectations: str | None = Query(
            None,
            description="Any value (rulelog): each pending change also lists the "
            "expectations it makes fail on its test view (`expectations_failing`).",
        ),
    ) -> Any:
        with reader.current() as model:
            catalog = model.catalog
            found = listed(catalog, kind, show_all is not None)
            rows = [shown(service, catalog, sc) for sc in found if matches(sc, where)]
            if expectations is not None:
                add_failing_expectations(service, catalog, kind, rows)
        return JSONResponse({"count": len(rows), "scheduled_changes": rows})

    def create(
        service: Service,
        reader: Reader,
        timeline: Past,
        changed_by: Actor,
        body: body_model = Body(...),  # type: ignore[valid-type]
        change_type: str | None = Query(None, description="If the body has none (rules)"),
    ) -> Any:
        given = body.given()
        releases = _Releases(reader)  # read when first needed: after the body's own checks
        plan = creation(kind, given, change_type, _now_ms(service), releases)
        duplicate = plan.change_type == "insert" and plan.row.get("name") in releases
        pending = _pending_sc(service, kind, plan.change_type, plan.row)
        if pending is not None and plan.change_type == "delete":
            # Balrog checks no data_version on a scheduled delete before this clash.
            clash = Conflict("a change is scheduled already", sc_id=pending)
            raise _scheduling_problem(clash, kind, plan.change_type)
        if kind == "releases" and not duplicate and pending is None:
            # Balrog refuses a duplicate or a second pending change before the blob.
            _check_release_plan(service, plan.change_type, plan.row)
        _check_policy_plan(service, kind, plan.change_type, plan.row)
        try:
            sc = service.schedule_change(
                kind, plan.change_type, plan.row, plan.condition, changed_by, plan.data_version
            )
        except (Conflict, NotFound) as error:
            raise _scheduling_problem(error, kind, plan.change_type) from error
        # The scheduler's automatic signoff is on the test views with the change in them.
        [sc] = verify_scheduler_signoffs(service, timeline, [sc])
        return JSONResponse({"sc_id": sc.sc_id, "signoffs": dict(sc.signoffs)})

    def get_one(sc_id: ScId, reader: Reader, service: Service) -> Any:
        with reader.current() as model:
            sc = visible(model.catalog, kind, sc_id)
            if sc is None:
                raise Problem(404, "Scheduled change does not exist", title="Bad Request")
            row = shown(service, model.catalog, sc)
        return JSONResponse({"scheduled_change": row})

    def modify(
        sc_id: ScId,
        service: Service,
        reader: Reader,
        changed_by: Actor,
        body: body_model = Body(...),  # type: ignore[valid-type]
    ) -> Any:
        given = body.given()
        check_required(given, ("sc_data_version",))
        with reader.current() as model:
            sc = visible(model.catalog, kind, sc_id)
            releases = set(model.catalog.releases)
        if sc is None:
            raise Problem(
                404,
                "Unknown sc_id",
                title="Not Found",
                exception=f"No scheduled change for {noun} found for given sc_id",
            )
        plan = modification(
            kind, sc["change_type"], given, sc["condition"], _now_ms(service), releases
        )
        if sc["status"] != "pending":
            raise Problem(400, "Unknown error", exception=COMPLETED.format("update"))
        changed = service.modify_scheduled_change(
            kind,
            sc_id,
            given["sc_data_version"],
            changed_by,
            row=plan.row or None,
            condition=plan.condition,
            data_version=plan.data_version,
        )
        return JSONResponse(
            {"new_data_version": changed.data_version, "signoffs": dict(changed.signoffs)}
        )

    def cancel(
        sc_id: ScId,
        service: Service,
        reader: Reader,
        changed_by: Actor,
        data_version: int | None = Query(None, description="The change's sc_data_version"),
    ) -> Any:
        if data_version is None:
            raise Problem(400, "Missing query parameter 'data_version'")
        with reader.current() as model:
            sc = visible(model.catalog, kind, sc_id)
        if sc is None:
            raise Problem(404, "Scheduled change does not exist", title="Bad Request")
        if not data_version:
            raise Problem(400, "data_version is missing")
        if sc["status"] != "pending":
            raise Problem(400, "Unknown error", exception=COMPLETED.format("delete"))
        service.cancel_scheduled_change(kind, sc_id, data_version, changed_by)
        return JSONResponse({})

    def revisions(
        sc_id: ScId,
        reader: Reader,
        paging: Page,
    ) -> Any:
        with reader.current() as model:
            if visible(model.catalog, kind, sc_id) is None:
                raise Problem(404, "Scheduled change does not exist", title="Not Found")
            found = model.sc_revisions.of(kind, sc_id)
            rows = [revision_row(r) for r in paging.of(found)]
            rows = model.change_ids.rows(sc_table(kind), rows)
        return JSONResponse({"revisions": rows, "count": len(found)})

    def revert(
        sc_id: ScId,
        service: Service,
        reader: Reader,
        changed_by: Actor,
        body: RevertBody | None = Body(None),
    ) -> Any:
        if body is not None and "change_id" not in body.model_fields_set:
            raise Problem(400, "'change_id' is a required property")  # before any lookup
        with reader.current() as model:
            sc = visible(model.catalog, kind, sc_id)
            if sc is None:
                raise Problem(404, "given sc_id was not found in the database", title="Not Found")
            change_id = body.change_id if body is not None else None
            if not change_id:
                raise Problem(400, "No change_id passed in the request body")
            position = model.change_ids.position(sc_table(kind), change_id)
            revision = model.sc_revisions.change(position) if position is not None else None
        if revision is None or revision.state["kind"] != kind:
            raise Problem(400, f"Invalid change_id : {change_id} passed in the request body")
        if revision.state["sc_id"] != sc_id:
            raise Problem(400, "Bad sc_id passed in the request")
        if sc["status"] != "pending":
            raise Problem(400, "Unknown error", exception=COMPLETED.format("update"))
        service.modify_scheduled_change(
            kind,
            sc_id,
            sc["data_version"],
            changed_by,
            row=revision.state["row"],
            condition=revision.state["condition"],
            data_version=revision.state["base_data_version"],
        )
        return HTMLResponse("Success")

    def signoff(
        sc_id: ScId,
        service: Service,
        reader: Reader,
        changed_by: Actor,
        body: SignoffBody = Body(...),
    ) -> Any:
        check_required(body.model_dump(exclude_unset=True), ("role",))
        if not isinstance(body.role, str):
            raise Problem(400, "role: None is not of type 'string'")
        with reader.current() as model:
            held = model.catalog.users.get(changed_by, {}).get("roles") or {}
            if body.role not in held:
                # Balrog checks the role before it looks at the change at all.
                raise Problem(
                    403,
                    "Permission Denied",
                    exception=f"{changed_by} cannot signoff with role '{body.role}'",
                )
            sign_off(
                service, model.catalog, kind, sc_id, body.role, changed_by, body.override_reason
            )
        return JSONResponse({})

    def revoke(
        sc_id: ScId,
        service: Service,
        reader: Reader,
        changed_by: Actor,
        username: str | None = Query(None, description="Whose signoff (default: yours)"),
    ) -> Any:
        whose = username or changed_by
        with reader.current() as model:
            sc = model.catalog.scheduled.get((kind, sc_id))
        if sc is None or whose not in sc["signoffs"]:
            return JSONResponse({"error": f"{changed_by} has no signoff to revoke"})
        service.revoke_signoff(kind, sc_id, changed_by, whose)
        return JSONResponse({})

    def enact_change(sc_id: ScId, service: Service, reader: Reader, changed_by: Actor) -> Any:
        enact_and_check(service, reader, kind, sc_id, changed_by)
        return JSONResponse({})

    what = f"scheduled changes of {kind}"
    one = f"{base}/{{sc_id}}"
    routes: list[tuple[str, Any, list[str], Any, Any, str]] = [
        (base, list_changes, ["GET"], SCList, JSONResponse, f"List the pending {what}"),
        (base, create, ["POST"], SCCreated, JSONResponse, f"Schedule a change ({kind})"),
        (one, get_one, ["GET"], SCOne, JSONResponse, "One scheduled change"),
        (one, modify, ["POST"], SCModified, JSONResponse, "Modify a pending change"),
        (one, cancel, ["DELETE"], Empty, JSONResponse, "Cancel a pending change"),
        (f"{one}/revisions", revisions, ["GET"], SCRevisions, JSONResponse, "Its revisions"),
        (f"{one}/revisions", revert, ["POST"], None, JSONResponse, "Go back to a revision"),
        (f"{one}/signoffs", signoff, ["POST"], Empty, JSONResponse, "Sign off"),
        (f"{one}/signoffs", revoke, ["DELETE"], Empty, JSONResponse, "Revoke a signoff"),
        (f"{one}/enact", enact_change, ["POST"], Empty, JSONResponse, "Enact it now"),
    ]
    # Balrog validates strictly: a query parameter its spec does not name is a 400.
    allowed = {
        "list_changes": ("all", "expectations", *LIST_QUERY.get(kind, ())),
        "create": ("change_type",),
        "cancel": ("data_version",),
        "revisions": ("page", "limit"),
        "revoke": ("username",),
    }
    for path, endpoint, methods, model_out, response_class, summary in routes:
        if endpoint.__name__ in ABSENT.get(kind, ()):
            continue
        name = f"{endpoint.__name__}_{kind.replace('/', '_')}"
        router.add_api_route(
            path,
            endpoint,
            dependencies=[Depends(strict_query(*allowed.get(endpoint.__name__, ())))],
            methods=methods,
            response_model=model_out,
            response_class=response_class,
            responses=TEXT_ANSWER if model_out is None else PROBLEMS,
            summary=summary,
            name=name,
            operation_id=name,
        )


for _kind in KINDS:
    _register(_kind)


@router.get(
    "/scheduled_change/diff/release/{sc_id}",
    response_model=None,
    responses={
        200: {
            "description": "A unified diff",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **PROBLEMS,
    },
    summary="A scheduled release change's blob against the release's current blob",
)
def release_diff(sc_id: ScId, reader: Reader, service: Service) -> Response:
    with reader.current() as model:
        sc = visible(model.catalog, "releases", sc_id)
        if sc is None:
            raise gone("releases", sc_id)
        live = model.catalog.releases.get(sc["target"])
    if live is None:
        raise Problem(400, "Bad sc_id", exception="the release does not exist (yet)")
    current = target_for("releases").current(service, sc["target"])
    if not current.exists:
        raise Problem(400, "Bad sc_id", exception="the release does not exist (yet)")
    previous = json.dumps((current.row or {}).get("data"), indent=2, sort_keys=True)
    scheduled = json.dumps((sc.get("row") or {}).get("data"), indent=2, sort_keys=True)
    lines = difflib.unified_diff(
        previous.splitlines(),
        scheduled.splitlines(),
        fromfile=f"Current Version (Data Version {current.data_version})",
        tofile=f"Scheduled Update (sc_id {sc_id})",
        lineterm="",
    )
    return PlainTextResponse("\n".join(lines))
