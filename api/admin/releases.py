"""``/api/releases``: list, read, create, replace, merge into and delete releases, as Balrog.

Reads come from the folded catalogue (rows) and the release aggregate at the
row's version (blobs), so a row and its blob always agree. Writes go through
the domain's release commands; this module adds what Balrog's HTTP layer
decides: its order of checks, its wording of each refusal, 201 versus 200,
and the three-way merge of a write made at an older data_version
(``services/release_writes``). The read-only switch and revisions are in
``release_extras``, included here.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse, Response

from rulelog.api.admin import release_extras
from rulelog.api.admin.deps import Actor, Reader, Service
from rulelog.api.admin.html_answers import NEW_VERSION, html, html_answer, html_json
from rulelog.api.admin.problems import Problem
from rulelog.api.admin.release_blob_errors import blob_errors, shape_errors
from rulelog.api.admin.release_schemas import (
    PartialReleaseBody,
    ReleaseBody,
    ReleaseColumnValues,
    ReleaseList,
    require_fields,
)
from rulelog.api.admin.release_writes import (
    MergeKeys,
    PutLocale,
    name_mismatch,
    no_signoffs,
    parse_json_field,
    read_only_message,
)
from rulelog.api.admin.rules import balrog_distinct
from rulelog.api.admin.schemas import NewDataVersion, ProblemDoc
from rulelog.domain import ids
from rulelog.domain.errors import SignoffRequired
from rulelog.domain.workflow.signoff_rules import reduce_requirements, required_for_releases
from rulelog.projections.release_summaries import release_summary, rules_by_release
from rulelog.services.release_writes import BlobWrite, find_release, write_releases
from rulelog.services.targets import rules_mapping

router = APIRouter(tags=["releases"])

#: Problem responses every write route may give.
WRITE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"model": ProblemDoc},
    401: {"model": ProblemDoc},
    403: {"model": ProblemDoc},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ProblemDoc}}
#: Columns ``GET /releases`` shows, so the ones ``/releases/columns/{column}`` knows.
COLUMNS = ("name", "product", "data_version", "read_only", "rule_ids", "rule_info")


def changed_or_created(changed: str, created: str) -> dict[int | str, dict[str, Any]]:
    """A write's answers: 200 when it changed a release, 201 when it made a new one."""
    return {
        200: html_answer(changed, NEW_VERSION),
        201: html_answer(created, NEW_VERSION),
        **WRITE_PROBLEMS,
    }


def serialize_requirements(reqs: Any) -> dict[str, int]:
    """``{role: signoffs}``, the strictest count per role."""
    return {r.role: r.signoffs_required for r in reduce_requirements(reqs)}


def listing(
    catalog: Any, product: str | None = None, prefix: str | None = None, by_name: bool = False
) -> list[dict]:
    """Release rows as Balrog's ``getReleaseInfo`` gives them.

    In the order Balrog's table scan returns them: as the releases were created
    (``by_name=False``), or by name when only names are read (its primary-key index).
    """
    mapped = rules_by_release(catalog.rules.values())
    policies = list(catalog.policies["product"].values())
    rows = []
    for name in sorted(catalog.releases) if by_name else list(catalog.releases):
        row = catalog.releases[name]
        if (product and row["product"] != product) or (prefix and not name.startswith(prefix)):
            continue
        rules = mapped.get(name, [])
        requirements = required_for_releases([name], rules, policies)
        summary = release_summary(name, row, rules)
        rows.append({**summary, "required_signoffs": serialize_requirements(requirements)})
    return rows


@router.get("/releases", response_model=ReleaseList)
def list_releases(
    reader: Reader,
    product: str | None = Query(None),
    name_prefix: str | None = Query(None),
    names_only: str | None = Query(None, description="Any value: list names only."),
) -> Any:
    with reader.current() as model:
        rows = listing(model.catalog, product, name_prefix, by_name=bool(names_only))
    if names_only:
        return JSONResponse({"names": [r["name"] for r in rows]})
    return JSONResponse({"releases": rows})


@router.post(
    "/releases",
    status_code=201,
    response_class=Response,
    responses={201: html_answer("Created", NEW_VERSION), **WRITE_PROBLEMS},
)
def create_release(service: Service, changed_by: Actor, body: ReleaseBody = Body(...)) -> Any:
    require_fields(body, "name", "product", "blob")
    name = str(body.name)
    if find_release(service, name) is not None:
        raise Problem(
            400,
            f"Release: {name} already exists",
            exception="Database already contains the release",
        )
    blob = parse_json_field(body.blob, "blob")
    _refuse_bad_blob(name, blob, "Couldn't create release")
    release = service.create_release(name, str(body.product), blob, changed_by)
    return html_json({"new_data_version": release.data_version}, 201)


def _refuse_bad_blob(name: str, blob: Any, detail: str) -> None:
    errors = blob_errors(blob)
    if errors:
        raise Problem(400, detail, exception=errors)
    mismatch = name_mismatch(name, blob)
    if mismatch:
        raise Problem(400, detail, exception=[mismatch])


# Registered before /releases/{release}/...: "columns" is not a release name here.
@router.get("/releases/columns/{column}", response_model=ReleaseColumnValues, responses=NOT_FOUND)
def release_column(column: str, reader: Reader) -> Any:
    if column not in COLUMNS:
        raise Problem(404, "Requested column does not exist")
    with reader.current() as model:
        rows = listing(model.catalog)
    values = balrog_distinct(row[column] for row in rows if row[column] is not None)
    return JSONResponse({"count": len(values), column: values})


def _row_and_blob(service: Any, reader: Any, name: str) -> tuple[dict, dict] | None:
    """The release's row and its blob at exactly that row's version."""
    with reader.current() as model:
        found = model.catalog.releases.get(name)
        row = dict(found) if found is not None else None
    if row is None:
        return None
    release = service.repository.get(ids.release_id(name), version=row["version"])
    return row, release.blob


@router.get(
    "/releases/{release}",
    responses={200: {"description": "The blob; X-Data-Version header"}, **NOT_FOUND},
)
def get_release(
    release: str,
    service: Service,
    reader: Reader,
    pretty: str | None = Query(None, description="Any value: indent the JSON."),
) -> Response:
    found = _row_and_blob(service, reader, release)
    if found is None:
        raise Problem(404, f"Release name: {release} not found", by_connexion=True)
    row, blob = found
    if pretty:
        text = json.dumps(blob, indent=4, separators=(",", ": "), sort_keys=True)
    else:
        text = json.dumps(blob, sort_keys=True)
    headers = {"X-Data-Version": str(row["data_version"])}
    return Response(text, media_type="application/json", headers=headers)


@router.put(
    "/releases/{release}",
    responses={
        200: {"model": NewDataVersion, "description": "Replaced"},
        201: html_answer("Created (empty body)"),
        **WRITE_PROBLEMS,
    },
)
def put_release(
    release: str, service: Service, changed_by: Actor, body: ReleaseBody = Body(...)
) -> Response:
    """Create the release, or replace its blob (and product) whole."""
    require_fields(body, "name", "product", "blob")
    blob = parse_json_field(body.blob, "blob")
    product = str(body.product)
    existing = find_release(service, release)
    if existing is None:
        _refuse_bad_blob(release, blob, "Couldn't update release")
        service.create_release(release, product, blob, changed_by)
        return html(status=201)
    if not body.data_version:
        raise Problem(400, "data_version field is missing")
    shape = shape_errors(blob)
    if shape:
        raise Problem(400, "Couldn't update release", exception=shape)
    if existing.read_only:
        raise Problem(
            403,
            "Couldn't update release. Release is marked read only",
            exception=[read_only_message(release)],
        )
    _refuse_bad_blob(release, blob, "Couldn't update release")
    service.require(
        changed_by, "release.modify", current_product=existing.product, new_product=product
    )
    try:
        write = BlobWrite(release, body.data_version, blob, product)
        (written,) = write_releases(service, [write], changed_by)
    except SignoffRequired as error:
        raise no_signoffs(error) from None
    return JSONResponse({"new_data_version": written.data_version})


@router.post(
    "/releases/{release}",
    response_class=Response,
    responses=changed_or_created("Merged", "The release was created"),
)
def post_release(
    release: str, service: Service, changed_by: Actor, body: PartialReleaseBody = Body(...)
) -> Response:
    """Merge the given keys into the blob (creating the release if missing)."""
    require_fields(body, "product", "data")
    status, data_version = MergeKeys(service, release, body, changed_by).run()
    return html_json({"new_data_version": data_version}, status)


@router.delete(
    "/releases/{release}",
    response_class=Response,
    responses={200: html_answer("Deleted (empty body)"), **WRITE_PROBLEMS, **NOT_FOUND},
)
def delete_release(
    release: str,
    service: Service,
    changed_by: Actor,
    data_version: int | None = Query(None, ge=1, description="Required."),
) -> Response:
    if data_version is None:
        raise Problem(400, "Missing query parameter 'data_version'")
    existing = find_release(service, release)
    if existing is None:
        raise Problem(404, f"Release: {release} not found")
    if rules_mapping(service, release):
        raise Problem(
            400,
            "Unknown error",
            exception=f"{release} has rules pointing to it. Hence it cannot be deleted.",
        )
    if existing.read_only:
        raise Problem(
            403,
            f"Couldn't delete {release}. Release is marked read only",
            exception=[read_only_message(release)],
        )
    service.require(changed_by, "release.delete", current_product=existing.product)
    try:
        service.delete_release(release, data_version, changed_by)
    except SignoffRequired as error:
        raise no_signoffs(error) from None
    return html()


@router.get(
    "/releases/{release}/builds/{platform}/{locale}",
    responses={200: {"description": "The locale's data; X-Data-Version header"}, **NOT_FOUND},
)
def get_locale(release: str, platform: str, locale: str, service: Service, reader: Reader) -> Any:
    found = _row_and_blob(service, reader, release)
    entry = None
    if found is not None:
        platforms = found[1].get("platforms")
        target = platforms.get(platform) if isinstance(platforms, dict) else None
        locales = target.get("locales") if isinstance(target, dict) else None
        entry = locales.get(locale) if isinstance(locales, dict) else None
    if found is None or entry is None:
        missing = f"Couldn't find locale identified by: {release}, {platform}, {locale}"
        raise Problem(404, json.dumps([missing]), by_connexion=True)
    headers = {"X-Data-Version": str(found[0]["data_version"])}
    return Response(json.dumps(entry), media_type="application/json", headers=headers)


@router.put(
    "/releases/{release}/builds/{platform}/{locale}",
    response_class=Response,
    responses=changed_or_created("The locale was updated", "The locale (or release) is new"),
)
def put_locale(
    release: str,
    platform: str,
    locale: str,
    service: Service,
    changed_by: Actor,
    body: PartialReleaseBody = Body(...),
) -> Response:
    """One locale's build data (balrogscript's upload), creating the release if missing."""
    require_fields(body, "product", "data")
    change = PutLocale(service, release, platform, locale, body, changed_by)
    status, data_version = change.run()
    return html_json({"new_data_version": data_version}, status)


router.include_router(release_extras.router)
