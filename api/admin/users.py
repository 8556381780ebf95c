"""``/api/users``: who holds which permissions and roles, and granting or revoking them.

As in Balrog, a user exists for this API while they hold a permission or a
role (a token alone makes nobody known); reading another user's permissions
needs ``permission``/``view``; a permission is created or updated with
``PUT`` (``options`` a JSON string, ``data_version`` to update) and only
updated with ``POST``. Balrog's handlers check things in an order clients can
observe (who may look before what exists, an existing role before any
permission), so the handlers below keep that order and leave the rest --
option validation, permission checks, signoff policies, data_version -- to
the domain commands.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse, Response

from rulelog.api.admin.deps import Actor, Reader, Service
from rulelog.api.admin.problems import Problem
from rulelog.api.admin.schemas import NewDataVersion
from rulelog.api.admin.users_schemas import (
    PERMISSION_PARAM,
    READ_PROBLEMS,
    ROLE_PARAM,
    WRITE_PROBLEMS,
    PermissionBody,
    UserDetail,
    UserList,
    UserPermission,
    UserPermissions,
    as_balrog_value_error,
    check_param,
    direct_edit,
    parse_options,
    required_data_version,
    shown_options,
)
from rulelog.domain.errors import Invalid, PermissionDenied

router = APIRouter(tags=["users"])

UsernamePath = Path(..., max_length=100, description="unique identifier name of the user")
PermissionPath = Path(
    ...,
    description="permission name",
    json_schema_extra={"enum": PERMISSION_PARAM["enum"]},
)
RolePath = Path(..., description="user role to grant access to")
DataVersionQuery = Query(None, description="data version of object (required).")


# --------------------------------------------------------------- reading


def _held(reader: Reader, username: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(permissions, roles) of a known user, as Balrog shows them; None if unknown."""
    with reader.current() as model:
        held = model.catalog.users.get(username)
        if held is None or not (held["permissions"] or held["roles"]):
            return None
        permissions = {
            name: {"options": shown_options(row["options"]), "data_version": row["data_version"]}
            for name, row in sorted(held["permissions"].items())
        }
        roles = {name: {"data_version": row["data_version"]} for name, row in held["roles"].items()}
        return permissions, dict(sorted(roles.items()))


def _permissions_of(reader: Reader, username: str) -> dict[str, Any]:
    held = _held(reader, username)
    return held[0] if held else {}


def _may_view(service: Service, username: str, changed_by: str) -> None:
    """Balrog's writes read the user's permissions first (``getUserPermissions``): one's
    own, or anyone's with view. The reads' own need is declared in ``api.admin.access``."""
    if username != changed_by:
        service.require(changed_by, "permission.view")


@router.get("/users", response_model=UserList, responses=READ_PROBLEMS)
def list_users(reader: Reader, changed_by: Actor) -> Any:
    """Who holds what; needs ``permission``/``view`` (``api.admin.access``)."""
    with reader.current() as model:
        names = sorted(n for n, h in model.catalog.users.items() if h["permissions"] or h["roles"])
    users = {}
    for name in names:
        held = _held(reader, name)
        if held is not None:
            permissions, roles = held
            rows = [{"role": role, "data_version": r["data_version"]} for role, r in roles.items()]
            users[name] = {"permissions": permissions, "roles": rows}
    return JSONResponse(users)


@router.get("/users/{username}", response_model=UserDetail, responses=READ_PROBLEMS)
def get_user(reader: Reader, changed_by: Actor, username: str = UsernamePath) -> Any:
    """One's own, or anyone's with ``permission``/``view`` (``api.admin.access``)."""
    held = _held(reader, username)
    if held is None or not held[0]:
        raise Problem(404, f"No permission found for username {username}")
    permissions, roles = held
    return JSONResponse({"username": username, "permissions": permissions, "roles": roles})


@router.get(
    "/users/{username}/permissions", response_model=UserPermissions, responses=READ_PROBLEMS
)
def get_user_permissions(reader: Reader, changed_by: Actor, username: str = UsernamePath) -> Any:
    return JSONResponse(_permissions_of(reader, username))


def _not_held(username: str, permission: str) -> Problem:
    return Problem(404, f"Requested user permission {permission} not found for {username}")


@router.get(
    "/users/{username}/permissions/{permission}",
    response_model=UserPermission,
    responses=READ_PROBLEMS,
)
def get_user_permission(
    reader: Reader,
    changed_by: Actor,
    username: str = UsernamePath,
    permission: str = PermissionPath,
) -> Any:
    check_param(PERMISSION_PARAM, permission)
    found = _permissions_of(reader, username).get(permission)
    if found is None:
        raise _not_held(username, permission)
    return JSONResponse(found)


# ------------------------------------------------------------ permissions


def _update(
    service: Service, username: str, permission: str, body: PermissionBody, changed_by: str
) -> JSONResponse:
    """Balrog's update of an existing permission: data_version first, then the change."""
    if not body.data_version:
        raise Problem(400, "'data_version' is missing from request body")
    options = parse_options(body.options)
    with as_balrog_value_error(), direct_edit():
        user = service.change_permission(
            username, permission, options, body.data_version, changed_by
        )
    return JSONResponse({"new_data_version": user.permissions[permission]["data_version"]})


@router.put(
    "/users/{username}/permissions/{permission}",
    response_model=NewDataVersion,
    status_code=200,
    responses={201: {"model": NewDataVersion, "description": "Granted"}, **WRITE_PROBLEMS},
)
def put_user_permission(
    service: Service,
    reader: Reader,
    changed_by: Actor,
    username: str = UsernamePath,
    permission: str = PermissionPath,
    body: PermissionBody = Body(...),
) -> Any:
    """Grant the permission, or update its options if the user holds it already."""
    check_param(PERMISSION_PARAM, permission)
    parse_options(body.options)  # a format check of Balrog's schema: before its login
    _may_view(service, username, changed_by)
    if permission in _permissions_of(reader, username):
        return _update(service, username, permission, body, changed_by)
    options = parse_options(body.options)
    with as_balrog_value_error(), direct_edit():
        service.grant_permission(username, permission, options, changed_by)
    return JSONResponse({"new_data_version": 1}, status_code=201)


@router.post(
    "/users/{username}/permissions/{permission}",
    response_model=NewDataVersion,
    responses=WRITE_PROBLEMS,
)
def post_user_permission(
    service: Service,
    reader: Reader,
    changed_by: Actor,
    username: str = UsernamePath,
    permission: str = PermissionPath,
    body: PermissionBody = Body(...),
) -> Any:
    """Update a permission the user holds (never grants one)."""
    check_param(PERMISSION_PARAM, permission)
    parse_options(body.options)
    _may_view(service, username, changed_by)
    if permission not in _permissions_of(reader, username):
        raise _not_held(username, permission)
    return _update(service, username, permission, body, changed_by)


def _balrog_revoke_refusal(what: str, changed_by: str) -> Problem:
    """Balrog words these two refusals as the repr of an unformatted message and its
    argument (``PermissionDeniedError("%s is not allowed ...", changed_by)``); clients
    see exactly that text, so it is kept."""
    text = str((f"%s is not allowed to revoke {what}", changed_by))
    return Problem(403, "Permission Denied", exception=text)


@router.delete(
    "/users/{username}/permissions/{permission}",
    response_class=Response,
    responses={200: {"description": "Revoked (no body)"}, **WRITE_PROBLEMS},
)
def delete_user_permission(
    service: Service,
    reader: Reader,
    changed_by: Actor,
    username: str = UsernamePath,
    permission: str = PermissionPath,
    data_version: int | None = DataVersionQuery,
) -> Response:
    """Revoke a permission; revoking a user's last one revokes their roles too."""
    check_param(PERMISSION_PARAM, permission)
    version = required_data_version(data_version)  # a query check: before the login
    _may_view(service, username, changed_by)
    if permission not in _permissions_of(reader, username):
        raise _not_held(username, permission)
    try:
        with as_balrog_value_error(), direct_edit():
            service.revoke_permission(username, permission, version, changed_by)
    except PermissionDenied as error:
        if error.context.get("action") != "delete":
            raise
        raise _balrog_revoke_refusal("permissions", changed_by) from error
    return Response(status_code=200)


# ------------------------------------------------------------------ roles


@router.put(
    "/users/{username}/roles/{role}",
    response_model=NewDataVersion,
    status_code=200,
    responses={
        200: {"model": NewDataVersion, "description": "Already held: nothing changed"},
        201: {"model": NewDataVersion, "description": "Granted"},
        **WRITE_PROBLEMS,
    },
)
def grant_role(
    service: Service,
    reader: Reader,
    changed_by: Actor,
    username: str = UsernamePath,
    role: str = RolePath,
) -> Any:
    """Idempotent, as in Balrog: a role already held answers 200 and changes nothing."""
    check_param(ROLE_PARAM, role)
    with reader.current() as model:
        held = model.catalog.users.get(username, {}).get("roles", {}).get(role)
        if held is not None:
            return JSONResponse({"new_data_version": held["data_version"]})
    service.require(changed_by, "role.grant")
    _may_view(service, username, changed_by)
    try:
        service.grant_role(username, role, changed_by)
    except Invalid as error:  # Balrog lets this ValueError reach its generic handler
        raise Problem(400, "Unknown error", exception=str(error)) from error
    return JSONResponse({"new_data_version": 1}, status_code=201)


@router.delete(
    "/users/{username}/roles/{role}",
    response_class=Response,
    responses={200: {"description": "Revoked (no body)"}, **WRITE_PROBLEMS},
)
def revoke_role(
    service: Service,
    reader: Reader,
    changed_by: Actor,
    username: str = UsernamePath,
    role: str = RolePath,
    data_version: int | None = DataVersionQuery,
) -> Response:
    check_param(ROLE_PARAM, role)
    version = required_data_version(data_version)
    with reader.current() as model:
        held = model.catalog.users.get(username, {}).get("roles", {})
        if role not in held:
            raise Problem(
                404,
                "Role not found",
                exception=f"No role '{role}' found for username '{username}'",
            )
    try:
        service.revoke_role(username, role, changed_by, data_version=version)
    except PermissionDenied as error:
        if error.context.get("action") != "delete":
            raise
        raise _balrog_revoke_refusal("user roles", changed_by) from error
    except Invalid as error:  # the policies a revoke would leave unsatisfiable
        raise Problem(400, "Unknown error", exception=str(error)) from error
    return Response(status_code=200)
