"""Models and Balrog-compatible input checks for users, permissions and roles.

Balrog takes a permission's ``options`` as a JSON *string* (its UI sends
``options_as_json`` and ``options``), answers some refusals with the
``str(e.args)`` of a Python ``ValueError`` as ``detail``, and lets connexion
refuse bad path and query parameters first. Clients and recorded sessions see
those exact texts, so the helpers here reproduce them; the meaning of every
value is still decided by the domain.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from jsonschema import Draft4Validator
from pydantic import BaseModel, ConfigDict, Field, RootModel

from rulelog.api.admin.params import BOUNDED
from rulelog.api.admin.problems import Problem
from rulelog.api.admin.schemas import ProblemDoc
from rulelog.domain import bounded_json
from rulelog.domain.errors import Invalid, SignoffRequired

#: Every problem a write route of this API can answer with (documented once).
WRITE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"model": ProblemDoc, "description": "Bad input, stale data_version or signoff needed"},
    401: {"model": ProblemDoc, "description": "No valid token"},
    403: {"model": ProblemDoc, "description": "Not allowed"},
    404: {"model": ProblemDoc, "description": "No such object"},
}
READ_PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: WRITE_PROBLEMS[code] for code in (400, 401, 403, 404)
}

#: Balrog's ``permissionParam`` and ``roleParam`` as connexion checks them
#: (``required`` removed, as connexion does before validating).
PERMISSION_PARAM: dict[str, Any] = {
    "name": "permission",
    "in": "path",
    "description": "permission name",
    "type": "string",
    "enum": [
        "admin",
        "emergency_shutoff",
        "rule",
        "release",
        "release_read_only",
        "release_locale",
        "required_signoff",
        "permission",
        "scheduled_change",
        "pinnable_release",
    ],
    "maxLength": 50,
}
ROLE_PARAM: dict[str, Any] = {
    "name": "role",
    "in": "path",
    "description": "user role to grant access to",
    "type": "string",
    "format": "ascii",
    "maxLength": 50,
}
#: Balrog's ``dataVersionParam``, defined once with the other bounded parameters.
DATA_VERSION_PARAM: dict[str, Any] = BOUNDED[("query", "data_version")]


class UserPermission(BaseModel):
    """One permission a user holds (``UserPermissionsModel``)."""

    options: dict[str, Any] | None = None
    data_version: int


class UserPermissions(RootModel[dict[str, UserPermission]]):
    """Permission name -> options and data_version (``UserPermissionsGET``)."""


class RoleVersion(BaseModel):
    data_version: int


class RoleRow(BaseModel):
    role: str
    data_version: int


class UserDetail(BaseModel):
    username: str
    permissions: dict[str, UserPermission] = Field(default_factory=dict)
    roles: dict[str, RoleVersion] = Field(default_factory=dict)


class UserEntry(BaseModel):
    """A user in ``GET /users``: roles as a list, as Balrog's query returns them."""

    permissions: dict[str, UserPermission] = Field(default_factory=dict)
    roles: list[RoleRow] = Field(default_factory=list)


class UserList(RootModel[dict[str, UserEntry]]):
    """Username -> what they hold."""


class PermissionBody(BaseModel):
    """``userPermissionFormDataParam``: options as a JSON string, data_version to update.

    Other members (Balrog's UI sends ``options_as_json``, ``permission``,
    ``username``) are accepted and ignored, as Balrog's schema allows them.
    """

    model_config = ConfigDict(extra="allow")
    options: str | None = Field(
        None, description='JSON text, e.g. {"products": ["Firefox"], "actions": ["create"]}'
    )
    data_version: int | None = Field(None, ge=1)


def param_error(schema: dict[str, Any], value: Any) -> str | None:
    """connexion's message for a parameter its spec refuses (jsonschema's full text)."""
    for error in Draft4Validator(schema).iter_errors(value):
        return str(error)
    return None


def check_param(schema: dict[str, Any], value: Any) -> None:
    message = param_error(schema, value)
    if message is not None:
        raise Problem(400, message)


def required_data_version(value: int | None) -> int:
    """``dataVersionParam``: a required query integer >= 1, refused as connexion does."""
    if value is None:
        raise Problem(400, "Missing query parameter 'data_version'")
    check_param(DATA_VERSION_PARAM, value)
    return value


def parse_options(raw: str | None) -> dict[str, Any] | None:
    """Balrog's reading of ``options``: empty or ``{}`` mean none, else a JSON object."""
    if not raw:
        return None
    try:
        options = bounded_json.loads(raw)
    except ValueError as error:
        reason = error.args[0] if error.args else str(error)
        raise Problem(
            400, f"Not a valid json. Error: {reason}. options: {raw!r} is not a 'JSONStringField'"
        ) from error
    if isinstance(options, dict) and not options:
        return None
    return options


def value_error_detail(message: str) -> str:
    """How Balrog words a caught ``ValueError``: the repr of its args tuple."""
    return str((message,))


@contextmanager
def as_balrog_value_error() -> Iterator[None]:
    """Refusals Balrog's handler catches as ``ValueError``: ``detail`` is ``str(e.args)``."""
    try:
        yield
    except Invalid as error:
        raise Problem(400, value_error_detail(str(error))) from error


@contextmanager
def direct_edit() -> Iterator[None]:
    """A direct edit that needs signoffs: Balrog's ``verify_signoffs`` without any given."""
    try:
        yield
    except SignoffRequired as error:
        raise Problem(400, "Signoff Required", exception="No Signoffs given") from error


def shown_options(options: dict[str, Any] | None) -> dict[str, Any] | None:
    """Stored options as Balrog shows them: no restriction is ``null``, not ``{}``."""
    return options or None
