"""``/api/v2``: Balrog's admin API v2 (releases split into parts, and pins).

Each route parses and validates its body as Balrog's request validator
(connexion) does -- a rejected body is ``application/problem+json``, before
any login check -- then calls one command of ``domain.release_v2``. Balrog's
own "not found" answers (``problem(404, ...)``) are plain ``application/json``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from rulelog.api.admin.deps import Actor, Reader, Service
from rulelog.api.admin.problems import PROBLEM_JSON, Problem, problem, problem_body
from rulelog.api.admin.releases import listing
from rulelog.api.admin.scheduled_actions import enact, sign_off
from rulelog.api.admin.scheduled_rows import when_millis
from rulelog.domain.catalog.pins import PinnableRelease
from rulelog.domain.catalog.release_parts import BASE, parse_dotted
from rulelog.domain.errors import NotFound
from rulelog.domain.serving.versions import LooseVersion
from rulelog.services.changes import changed_as
from rulelog.services.release_v2 import ReleasesV2

router = APIRouter(prefix="/v2", tags=["releases v2"])


def invalid(detail: str) -> JSONResponse:
    """Connexion's answer to a body its schema refuses."""
    return JSONResponse(problem_body(400, "Bad Request", detail), 400, media_type=PROBLEM_JSON)


def login_first(request: Request) -> None:
    """Balrog checks a v2 write's login before its body (in ``before_request``)."""
    refusal = getattr(request.state, "login_refusal", None)
    if refusal is not None:
        raise refusal.error()


class BodyError(Problem):
    """A body connexion's schema refuses: its 400, as ``application/problem+json``."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, detail, title="Bad Request")

    def response(self) -> JSONResponse:
        return invalid(self.detail)


async def write_body(
    request: Request, schema: dict[str, tuple[type, ...]], required: tuple
) -> dict:
    """A v2 write's body, after its login (``BodyError`` if connexion would refuse it)."""
    login_first(request)
    return await json_body(request, schema, required)


async def json_body(request: Request, schema: dict[str, tuple[type, ...]], required: tuple) -> dict:
    """The JSON object body, checked against a flat schema as connexion would."""
    raw = await request.body()
    if not raw:
        raise BodyError("Request body is required")  # connexion: a required body
    try:
        body = json.loads(raw)
    except ValueError:
        raise BodyError("Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BodyError(f"{body!r} is not of type 'object'")
    for name in required:
        if name not in body:
            raise BodyError(f"'{name}' is a required property")
    names = {bool: "boolean", int: "integer", str: "string", dict: "object"}
    for name, types in schema.items():
        if name not in body:
            continue
        value = body[name]
        bad_bool = isinstance(value, bool) and bool not in types
        if bad_bool or not isinstance(value, types):
            raise BodyError(f"{value!r} is not of type '{names[types[0]]}'")
    return body


def _product_required(policies: list[dict[str, Any]], product: str) -> dict[str, int]:
    """``{role: signoffs}`` over every channel of the product (the strictest per role)."""
    out: dict[str, int] = {}
    for p in policies:
        if p.get("product") == product:
            out[p["role"]] = max(out.get(p["role"], 0), p["signoffs_required"])
    return out


def _missing(title: str, detail: str) -> JSONResponse:
    return problem(404, title, detail)


def _ok(data: Any = None) -> Response:
    if data is None:
        return Response(status_code=200, media_type="application/json")
    return JSONResponse(data)


# ---------------------------------------------------------------- releases


@router.get("/releases")
def list_releases(
    service: Service,
    reader: Reader,
    names_only: str | None = Query(None),
) -> Any:
    """Every release with its rules, signoff requirements and pending changes."""
    with reader.current() as model:
        catalog = model.catalog
        rows = listing(catalog, by_name=True)
        pending = [
            sc
            for (kind, _), sc in sorted(catalog.scheduled.items())
            if kind == "releases" and sc["status"] == "pending"
        ]
        policies = list(catalog.policies["product"].values())
    if names_only:
        return JSONResponse(sorted(r["name"] for r in rows))
    bases = ReleasesV2(service).base_versions(r["name"] for r in rows)
    by_name: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_name[row["name"]] = {
            "name": row["name"],
            "product": row["product"],
            "data_version": bases.get(row["name"], row["data_version"]),
            "read_only": row["read_only"],
            "rule_info": row["rule_info"],
            "scheduled_changes": [],
            "required_signoffs": row["required_signoffs"],
            "product_required_signoffs": _product_required(policies, row["product"]),
        }
    for sc in pending:
        target_row = sc["row"] or {}
        name = sc["target"]
        entry = by_name.setdefault(
            name,
            {
                "name": name,
                "product": None,
                "data_version": None,
                "read_only": None,
                "rule_info": {},
                "scheduled_changes": [],
            },
        )
        entry["scheduled_changes"].append(
            {
                "sc_id": sc["sc_id"],
                "scheduled_by": sc["scheduled_by"],
                "complete": False,
                "change_type": sc["change_type"],
                "sc_data_version": sc["data_version"],
                "name": name,
                "product": target_row.get("product"),
                "read_only": target_row.get("read_only", False),
                "data_version": sc["base_data_version"],
                "when": when_millis((sc["condition"] or {}).get("when")),
                "signoffs": dict(sc["signoffs"]),
            }
        )
    return JSONResponse({"releases": [by_name[n] for n in sorted(by_name)]})


@router.get("/releases/{name}")
def get_release(name: str, service: Service) -> Any:
    found = ReleasesV2(service).read(name)
    if found is None:
        return _missing("Not Found", "Release does not exist")
    return JSONResponse(found)


@router.get("/releases/{name}/data_versions")
def get_data_versions(name: str, service: Service) -> Any:
    release = ReleasesV2(service).find(name)
    if release is None:
        return _missing("Not Found", "Release does not exist")
    return JSONResponse({"data_versions": ReleasesV2.data_versions(release)})


@router.get("/releases/{name}/{path}/data_version")
def get_part_data_version(name: str, path: str, service: Service) -> Any:
    """One part's data_version; ``path`` is dotted (``.platforms.p.locales.l``)."""
    release = ReleasesV2(service).find(name)
    key = "." + ".".join(parse_dotted(path))
    if release is None or key == BASE or key not in release.part_versions:
        return _missing("Not Found", "Release does not exist")
    return JSONResponse({"data_version": release.part_versions[key]})


MODIFY_SCHEMA: dict[str, tuple[type, ...]] = {
    "blob": (dict,),
    "old_data_versions": (dict,),
    "when": (int, type(None)),
    "product": (str,),
}


@router.post("/releases/{name}")
async def update_release(name: str, request: Request, service: Service, changed_by: Actor) -> Any:
    """Merge part of a release (only the parts it changes are checked)."""
    body = await write_body(request, MODIFY_SCHEMA, ("blob", "old_data_versions"))
    v2 = ReleasesV2(service)
    if v2.find(name) is None:
        return _missing("Missing", "Release does not exist")
    answer = await _in_thread(
        v2.update, name, body["blob"], body["old_data_versions"], body.get("when"), changed_by
    )
    return JSONResponse(answer)


@router.put("/releases/{name}")
async def ensure_release(name: str, request: Request, service: Service, changed_by: Actor) -> Any:
    """Make the release exactly the blob given (created if new: ``product`` then)."""
    body = await write_body(request, MODIFY_SCHEMA, ("blob",))
    answer = await _in_thread(
        ReleasesV2(service).ensure,
        name,
        body["blob"],
        body.get("product"),
        body.get("old_data_versions"),
        body.get("when"),
        changed_by,
    )
    return JSONResponse(answer)


@router.delete("/releases/{name}")
def delete_release(name: str, service: Service, changed_by: Actor) -> Any:
    v2 = ReleasesV2(service)
    if v2.find(name) is None and v2.pending(name) is None:
        return _missing("Not Found", "Release does not exist")
    v2.delete(name, changed_by)
    return _ok()


@router.put("/releases/{name}/read_only")
async def set_read_only(name: str, request: Request, service: Service, changed_by: Actor) -> Any:
    body = await write_body(
        request,
        {"read_only": (bool,), "old_data_version": (int,)},
        ("read_only", "old_data_version"),
    )
    v2 = ReleasesV2(service)
    if v2.find(name) is None:
        return _missing("Missing", "Release does not exist")
    answer = await _in_thread(
        v2.set_read_only, name, body["read_only"], body["old_data_version"], changed_by
    )
    return JSONResponse(answer)


def _pending_sc_id(service: Any, name: str) -> int | None:
    sc = ReleasesV2(service).pending(name)
    return sc.sc_id if sc is not None else None


@router.put("/releases/{name}/signoff")
async def signoff(
    name: str, request: Request, service: Service, reader: Reader, changed_by: Actor
) -> Any:
    body = await write_body(request, {"role": (str,)}, ("role",))
    sc_id = _pending_sc_id(service, name)
    if sc_id is None:
        return _missing("Missing", "Release has no scheduled changes")
    with reader.current() as model:
        held = model.catalog.users.get(changed_by, {}).get("roles") or {}
        if body["role"] not in held:
            raise Problem(
                403,
                "Permission Denied",
                exception=f"{changed_by} cannot signoff with role '{body['role']}'",
            )
        sign_off(service, model.catalog, "releases", sc_id, body["role"], changed_by)
    return _ok()


@router.delete("/releases/{name}/signoff")
def revoke_signoff(name: str, service: Service, changed_by: Actor) -> Any:
    sc_id = _pending_sc_id(service, name)
    if sc_id is None:
        return _missing("Missing", "Release has no scheduled changes")
    sc = ReleasesV2(service).pending(name)
    if sc is not None and changed_by in sc.signoffs:
        service.revoke_signoff("releases", sc_id, changed_by)
    return _ok()


@router.post("/releases/{name}/enact")
def enact_changes(name: str, service: Service, reader: Reader, changed_by: Actor) -> Any:
    sc_id = _pending_sc_id(service, name)
    if sc_id is None:
        return _missing("Missing", "Release has no scheduled changes")
    with reader.current() as model:
        enact(service, model.catalog, "releases", sc_id, changed_by)
    return _ok()


@router.put("/releases/{name}/pinnable")
async def set_pinnable(name: str, request: Request, service: Service, changed_by: Actor) -> Any:
    body = await write_body(
        request,
        {"product": (str,), "channel": (str,), "version": (str,), "when": (int, type(None))},
        ("product", "channel", "version"),
    )
    v2 = ReleasesV2(service)
    if v2.find(name) is None:
        return _missing("Not Found", "Release does not exist")
    product, channel, version, when = (
        body["product"],
        body["channel"],
        body["version"],
        body.get("when"),
    )
    try:
        pin = service.get_pin(product, channel, version)
    except NotFound:
        pin = None
    if pin is not None:
        pinned, submitted = _app_version(v2, pin.mapping), _app_version(v2, name)
        if pinned is not None and submitted is not None and pinned > submitted:
            return JSONResponse({"pin_not_set": True, "reason": "existing_pin_is_newer"})
    row = {"product": product, "channel": channel, "version": version, "mapping": name}
    if when is None:
        if pin is None:
            pin = service.create_pin(product, channel, version, name, changed_by)
        else:
            updated = service.change(
                "pinnable_releases", "update", row, changed_by, pin.data_version
            )
            pin = changed_as(PinnableRelease, updated)
        return JSONResponse({BASE: pin.data_version})
    change_type = "insert" if pin is None else "update"
    sc = service.schedule_change(
        "pinnable_releases",
        change_type,
        row,
        {"when": when},
        changed_by,
        None if pin is None else pin.data_version,
    )
    data_version = 1 if pin is None else pin.data_version + 1
    detail = {
        "sc_id": sc.sc_id,
        "change_type": change_type,
        "data_version": data_version,
        "signoffs": {},
        "when": when,
    }
    return JSONResponse({BASE: detail})


def _app_version(v2: ReleasesV2, name: str) -> LooseVersion | None:
    """The blob's application version, as Balrog compares pins (None: not known)."""
    release = v2.find(name)
    version = (release.blob.get("appVersion") or release.blob.get("extv")) if release else None
    if not isinstance(version, str):
        return None
    try:
        return LooseVersion(version)
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------- pins


@router.get("/pins/{product}/{channel}/{version}")
def get_pin(product: str, channel: str, version: str, service: Service) -> Any:
    try:
        pin = service.get_pin(product, channel, version)
    except NotFound:
        return _missing("Not Found", "Pin does not exist")
    return JSONResponse(
        {
            "product": product,
            "channel": channel,
            "version": version,
            "mapping": pin.mapping,
            "data_version": pin.data_version,
        }
    )


async def _in_thread(fn: Any, *args: Any) -> Any:
    """Run a blocking command off the event loop (the async routes read the raw body)."""
    return await run_in_threadpool(fn, *args)
