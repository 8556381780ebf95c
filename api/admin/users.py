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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import JSONResponse, Response

from rulelog.api.admin.deps import Actor, Reader, Service
from rulelog.api.admin.html_answers import NEW_VERSION, html, html_answer, html_json
from rulelog.api.admin.problems import Problem
from rulelog.api.admin.reading import CatalogReader
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
from rulelog.services.application import RulelogApp

router = APIRouter(tags=["users"])

UsernamePath = Path(..., max_length=100, description="unique identifier name of the user")
PermissionPath = Path(
    ...,
    description="permission name",
    json_schema_extra={"enum": PERMISSION_PARAM["enum"]},
)
RolePath = Path(..., description="user role to grant access to")
DataVersionQuery = Query(None, description="data version of object (required).")


@dataclass
class UserRequest:
    """What every ``/users/{username}`` handler is given: the service, the reader, the
    acting user (resolved first: Balrog logs in before it looks at anything else) and
    the user the path names."""

    service: RulelogApp
    reader: CatalogReader
    changed_by: str
    username: str

    def roles(self) -> dict[str, Any]:
        """The roles the named user holds now, by name."""
        with self.reader.current() as model:
            return dict(model.catalog.users.get(self.username, {}).get("roles", {}))


def _user_request(
    service: Service, reader: Reader, changed_by: Actor, username: str = UsernamePath
) -> UserRequest:
    return UserRequest(service, reader, changed_by, username)


OnUser = Annotated[UserRequest, Depends(_user_request)]


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


def _may_view(call: UserRequest) -> None:
    """Balrog's writes read the user's permissions first (``getUserPermissions``): one's
    own, or anyone's with view. The reads' own need is declared in ``api.admin.access``."""
    if call.username != call.changed_by:
        call.service.require(call.changed_by, "permission.view")


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
def get_user(call: OnUser) -> Any:
    """One's own, or anyone's with ``permission``/``view`` (``api.admin.access``)."""
    held = _held(call.reader, call.username)
    if held is None or not held[0]:
        raise Problem(404, f"No permission found for username {call.username}")
    permissions, roles = held
    return JSONResponse({"username": call.username, "permissions": permissions, "roles": roles})


@router.get(
    "/users/{username}/permissions", response_model=UserPermissions, responses=READ_PROBLEMS
)
def get_user_permissions(call: OnUser) -> Any:
    return JSONResponse(_permissions_of(call.reader, call.username))


def _held_permission(call: UserRequest, permission: str) -> dict[str, Any]:
    """The named user's ``permission`` as Balrog shows it; 404 if they do not hold it."""
    found = _permissions_of(call.reader, call.username).get(permission)
    if found is None:
        raise Problem(404, f"Requested user permission {permission} not found for {call.username}")
    return found


@router.get(
    "/users/{username}/permissions/{permission}",
    response_model=UserPermission,
    responses=READ_PROBLEMS,
)
def get_user_permission(call: OnUser, permission: str = PermissionPath) -> Any:
    check_param(PERMISSION_PARAM, permission)
    return JSONResponse(_held_permission(call, permission))


# ------------------------------------------------------------ permissions


def _update(call: UserRequest, permission: str, body: PermissionBody) -> JSONResponse:
    """Balrog's update of an existing permission: data_version first, then the change."""
    if not body.data_version:
        raise Problem(400, "'data_version' is missing from request body")
    options = parse_options(body.options)
    with as_balrog_value_error(), direct_edit():
        user = call.service.change_permission(
            call.username, permission, options, body.data_version, call.changed_by
        )
    return JSONResponse({"new_data_version": user.permissions[permission]["data_version"]})


@router.put(
    "/users/{username}/permissions/{permission}",
    response_model=NewDataVersion,
    status_code=200,
    responses={201: html_answer("Granted", '{"new_data_version": 1}'), **WRITE_PROBLEMS},
)
def put_user_permission(
    call: OnUser, permission: str = PermissionPath, body: PermissionBody = Body(...)
) -> Any:
    """Grant the permission, or update its options if the user holds it already."""
    check_param(PERMISSION_PARAM, permission)
    parse_options(body.options)  # a format check of Balrog's schema: before its login
    _may_view(call)
    if permission in _permissions_of(call.reader, call.username):
        return _update(call, permission, body)
    options = parse_options(body.options)
    with as_balrog_value_error(), direct_edit():
        call.service.grant_permission(call.username, permission, options, call.changed_by)
    return html_json({"new_data_version": 1}, 201)


@router.post(
    "/users/{username}/permissions/{permission}",
    response_model=NewDataVersion,
    responses=WRITE_PROBLEMS,
)
def post_user_permission(
    call: OnUser, permission: str = PermissionPath, body: PermissionBody = Body(...)
) -> Any:
    """Update a permission the user holds (never grants one)."""
    check_param(PERMISSION_PARAM, permission)
    parse_options(body.options)
    _may_view(call)
    _held_permission(call, permission)
    return _update(call, permission, body)


def _revoke_route(path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``DELETE`` of a grant: Balrog answers 200 with no body."""
    responses: dict[int | str, dict[str, Any]] = {200: html_answer("Revoked (no body)")}
    return router.delete(path, response_class=Response, responses={**responses, **WRITE_PROBLEMS})


@contextmanager
def _balrog_revoke_refusal(what: str, changed_by: str) -> Iterator[None]:
    """A refused revoke in Balrog's words: the repr of an unformatted message and its
    argument (``PermissionDeniedError("%s is not allowed ...", changed_by)``); clients
    see exactly that text, so it is kept."""
    try:
        yield
    except PermissionDenied as error:
        if error.context.get("action") != "delete":
            raise
        text = str((f"%s is not allowed to revoke {what}", changed_by))
        raise Problem(403, "Permission Denied", exception=text) from error


@_revoke_route("/users/{username}/permissions/{permission}")
def delete_user_permission(
    call: OnUser, permission: str = PermissionPath, data_version: int | None = DataVersionQuery
) -> Response:
    """Revoke a permission; revoking a user's last one revokes their roles too."""
    check_param(PERMISSION_PARAM, permission)
    version = required_data_version(data_version)  # a query check: before the login
    _may_view(call)
    _held_permission(call, permission)
    with (
        _balrog_revoke_refusal("permissions", call.changed_by),
        as_balrog_value_error(),
        direct_edit(),
    ):
        call.service.revoke_permission(call.username, permission, version, call.changed_by)
    return html()


# ------------------------------------------------------------------ roles


@router.put(
    "/users/{username}/roles/{role}",
    response_class=Response,
    status_code=200,
    responses={
        200: html_answer("Already held: nothing changed", NEW_VERSION),
        201: html_answer("Granted", '{"new_data_version": 1}'),
        **WRITE_PROBLEMS,
    },
)
def grant_role(call: OnUser, role: str = RolePath) -> Any:
    """Idempotent, as in Balrog: a role already held answers 200 and changes nothing."""
    check_param(ROLE_PARAM, role)
    held = call.roles().get(role)
    if held is not None:
        return html_json({"new_data_version": held["data_version"]})
    call.service.require(call.changed_by, "role.grant")
    _may_view(call)
    with _unknown_error():
        call.service.grant_role(call.username, role, call.changed_by)
    return html_json({"new_data_version": 1}, 201)


@contextmanager
def _unknown_error() -> Iterator[None]:
    """Balrog lets a role's ValueError (an unknown role, a policy a revoke would leave
    unsatisfiable) reach its generic handler."""
    try:
        yield
    except Invalid as error:
        raise Problem(400, "Unknown error", exception=str(error)) from error


@_revoke_route("/users/{username}/roles/{role}")
def revoke_role(
    call: OnUser, role: str = RolePath, data_version: int | None = DataVersionQuery
) -> Response:
    check_param(ROLE_PARAM, role)
    version = required_data_version(data_version)
    if role not in call.roles():
        raise Problem(
            404,
            "Role not found",
            exception=f"No role '{role}' found for username '{call.username}'",
        )
    with _balrog_revoke_refusal("user roles", call.changed_by), _unknown_error():
        call.service.revoke_role(call.username, role, call.changed_by, data_version=version)
    return html()
