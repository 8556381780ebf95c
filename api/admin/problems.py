"""Errors as Balrog's admin API answers them: RFC 7807 problem documents.

Balrog answers every failure with ``{"type": "about:blank", "title", "detail",
"status"}`` plus, often, an ``exception`` member carrying the specific
message; its clients and UI read those members. Domain errors are mapped
here, once: a stale ``data_version`` is Balrog's 400 ``OutdatedDataError``,
a clash with a scheduled change its ``UpdateMergeError`` or
``ChangeScheduledError``, a missing permission 403, a missing identity 401.
Handlers raise ``Problem`` for route-specific answers.

Who builds the document in Balrog decides its Content-Type, which replaying
clients compare: Balrog's own ``problem()`` says ``application/json``;
connexion's (its request validator, its 404 and 405 pages, and the few views
that import ``connexion.problem``) says ``application/problem+json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import PersistenceError
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from rulelog.api.admin.params import below_minimum
from rulelog.api.auth import AuthError
from rulelog.api.excerpt import clipped
from rulelog.api.logs import get_logger
from rulelog.domain.errors import (
    Conflict,
    Invalid,
    NotFound,
    PermissionDenied,
    RulelogError,
    SignoffRequired,
)
from rulelog.domain.serving.blobs.validation import FORBIDDEN_DOMAIN
from rulelog.projections.read_only import refused

log = get_logger("rulelog.admin")

JSON = "application/json"
#: connexion's ``problem()``; a ``Problem`` raised with ``by_connexion=True`` answers so.
PROBLEM_JSON = "application/problem+json"

NOT_FOUND_PAGE = (
    "The requested URL was not found on the server. If you entered the URL "
    "manually please check your spelling and try again."
)

#: The answer to a change the store's database refuses (a replica, a read-only role).
READ_ONLY = "The database is read-only here: this server can answer reads but make no change."

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    503: "Service Unavailable",
}


def problem_body(
    status: int, title: str | None, detail: str, ext: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = {"type": "about:blank", "title": title, "detail": detail, "status": status}
    return clipped({**body, **(ext or {})})  # never quote more than an excerpt of the input


def problem(
    status: int,
    title: str | None,
    detail: str,
    ext: dict[str, Any] | None = None,
    media_type: str = JSON,
) -> JSONResponse:
    body = problem_body(status, title, detail, ext)
    return JSONResponse(body, status_code=status, media_type=media_type)


class Problem(Exception):
    """Raised by a handler to answer with a specific problem document."""

    #: Set on the one raised for a recorded ``LoginRefusal`` (see ``api.admin.deps``).
    from_login = False

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        exception: Any = None,
        by_connexion: bool = False,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title or TITLES.get(status, "Error")
        self.detail = detail
        self.ext = {"exception": exception} if exception is not None else None
        self.by_connexion = by_connexion

    def response(self) -> JSONResponse:
        connexion = self.by_connexion or _from_validator(self)
        media_type = PROBLEM_JSON if connexion else JSON
        return problem(self.status, self.title, self.detail, self.ext, media_type)


def auth_problem(reason: dict[str, str]) -> JSONResponse:
    """Balrog's 401 for a caller it cannot identify (its ``AuthError`` handler)."""
    exception = f"Permission denied to perform the request. {reason}"
    return problem(401, "Forbidden", "PermissionDeniedError", {"exception": exception})


@dataclass(frozen=True)
class LoginRefusal:
    """Why a caller was not let in, kept in ``request.state`` until a handler needs them.

    Plain values, never the exception itself: a raised exception's traceback
    holds the frames that hold the request and its parsed body, so keeping it
    on the request made a cycle only a full garbage collection frees (issue
    17: unauthenticated requests that each pinned their whole body).
    """

    status: int  #: 401 (no identity) or 403 (an identity not let in, or not allowed)
    code: str
    description: str
    exception: str | None = None  #: Balrog's ``exception`` member of a 403

    @classmethod
    def of(cls, error: AuthError | Problem) -> LoginRefusal:
        if isinstance(error, AuthError):
            return cls(401, error.error["code"], error.error["description"])
        return cls(error.status, error.title, error.detail)

    def error(self) -> Exception:
        """A fresh exception to raise for this refusal."""
        if self.status == 401:
            return AuthError(self.code, self.description)
        raised = Problem(self.status, self.description, title=self.code, exception=self.exception)
        raised.from_login = True
        return raised

    def response(self) -> JSONResponse:
        if self.status == 401:
            return auth_problem({"code": self.code, "description": self.description})
        ext = {"exception": self.exception} if self.exception is not None else None
        return problem(self.status, self.code, self.description, ext)


def _forbidden_domain(method: str, path: str) -> JSONResponse:
    """Balrog's answer when a blob names a download host its product may not use."""
    if path.startswith("/api/scheduled_changes/"):  # a scheduled change's ValueError
        return problem(400, "Bad Request", "Unknown error", {"exception": FORBIDDEN_DOMAIN})
    if method == "POST" and path.rstrip("/") == "/api/releases":
        detail = "Couldn't create release"
    elif method == "PUT" and path.count("/") == 3:  # PUT /api/releases/{name}
        detail = "Couldn't update release"
    else:
        detail = f"Couldn't update release: {FORBIDDEN_DOMAIN}"
    return problem(400, "Bad Request", detail, {"exception": [FORBIDDEN_DOMAIN]})


def domain_problem(error: RulelogError, method: str, path: str = "") -> JSONResponse:
    """The answer Balrog gives for the failure ``error`` stands for."""
    message = str(error)
    if isinstance(error, NotFound):
        return problem(404, "Not Found", message, {"exception": message})
    if isinstance(error, PermissionDenied):
        return problem(403, "Forbidden", "Permission Denied", {"exception": message})
    if isinstance(error, SignoffRequired):
        # Balrog's text: a direct edit carries no signoffs at all
        exception = error.context.get("balrog", "No Signoffs given")
        return problem(400, "Bad Request", "Signoff Required", {"exception": exception})
    if isinstance(error, Conflict):
        reason = error.context.get("reason")
        if reason == "outdated":
            exception = (
                f"Couldn't perform the request {method}. Outdated Data Version. "
                "old_data_version doesn't match current data_version"
            )
            return problem(400, "Bad Request", "OutdatedDataError", {"exception": exception})
        if reason == "merge":
            exception = (
                f"Couldn't perform the request {method} due to merge error. "
                "Is there a scheduled change that conflicts with yours?"
            )
            return problem(400, "Bad Request", "UpdateMergeError", {"exception": exception})
        if reason == "scheduled":
            exception = (
                f"Couldn't perform the request {method} due a conflict with a scheduled "
                f"change. {message}"
            )
            return problem(400, "Bad Request", "ChangeScheduledError", {"exception": exception})
        return problem(400, "Bad Request", message, {"exception": message})
    if isinstance(error, Invalid):
        if error.context.get("reason") == "forbidden_domain":
            return _forbidden_domain(method, path)
        # A command may name Balrog's wording: detail ("Read only") and exception.
        detail = error.context.get("detail") or message
        exception = error.context.get("exception", message)
        return problem(400, "Bad Request", detail, {"exception": exception})
    return problem(400, "Bad Request", message, {"exception": message})


def _document_problem_json(app: Any) -> None:
    """List ``application/problem+json`` beside ``application/json`` for every 4xx in the
    OpenAPI document: which of the two a refusal carries depends on who refuses (above)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for item in build().get("paths", {}).values():
                for operation in item.values():
                    for status, answer in operation.get("responses", {}).items():
                        content = answer.get("content", {})
                        if str(status).startswith("4") and JSON in content:
                            content.setdefault(PROBLEM_JSON, content[JSON])
        return app.openapi_schema

    app.openapi = openapi


def install(app: Any) -> None:
    """Register the handlers that turn every failure into a problem document."""
    _document_problem_json(app)

    @app.exception_handler(Problem)
    async def _problem(request: Request, error: Problem) -> JSONResponse:
        # Only Balrog's request validator answers before its login check.
        refusal: LoginRefusal | None = getattr(request.state, "login_refusal", None)
        if refusal is not None and not error.from_login and not _from_validator(error):
            return refusal.response()
        return error.response()

    @app.exception_handler(RulelogError)
    async def _domain(request: Request, error: RulelogError) -> JSONResponse:
        log.info("admin.refused", error=type(error).__name__, message=str(error))
        return domain_problem(error, request.method, request.url.path)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PersistenceError)
    async def _read_only(request: Request, error: Exception) -> JSONResponse:
        if not refused(error):
            raise error  # the request log's 503, with the problem logged
        log.info("admin.read_only", method=request.method, path=request.url.path)
        return problem(503, TITLES[503], READ_ONLY, {"exception": "DatabaseReadOnly"})

    @app.exception_handler(AuthError)
    async def _auth(request: Request, error: AuthError) -> JSONResponse:
        return auth_problem(error.error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = list(error.errors())
        if any(
            e.get("type") == "int_parsing" and e.get("loc", ())[:1] == ("path",) for e in errors
        ):
            # Balrog's route does not match: connexion's 404 page
            return problem(404, "Not Found", NOT_FOUND_PAGE, media_type=PROBLEM_JSON)
        return problem(400, "Bad Request", _describe(errors), media_type=PROBLEM_JSON)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        title = TITLES.get(error.status_code, "Error")
        detail = error.detail if isinstance(error.detail, str) else title
        if error.status_code == 405 and detail == "Method Not Allowed":
            detail = "The method is not allowed for the requested URL."
        if error.status_code == 404 and detail == "Not Found":
            detail = NOT_FOUND_PAGE
        # connexion answers every HTTP error Flask raises (no route, wrong method)
        return problem(error.status_code, title, detail, media_type=PROBLEM_JSON)


#: How the texts of Balrog's request validator (connexion, jsonschema) read.
_VALIDATOR_TEXTS = (
    "is a required property",
    "is not of type",
    "is not a '",
    "is not one of",
    "is not valid JSON",
    "is less than the minimum",
    "is greater than the maximum",
    "is too long",
    "is too short",
    "does not match",
    "Additional properties",
    "Extra query parameter",
    "Missing query parameter",
    "Wrong type, expected",
)


def _from_validator(error: Problem) -> bool:
    """Whether Balrog's request validator gives this answer (before its login check)."""
    return error.status == 400 and any(t in str(error.detail) for t in _VALIDATOR_TEXTS)


def _describe(errors: Any) -> str:
    """One readable line per validation error: where, and what is wrong.

    A missing query parameter or body property is worded as Balrog's request
    validator words it (only the first is named, as there).
    """
    errors = list(errors)
    for err in errors:
        loc, kind = tuple(err.get("loc", ())), err.get("type")
        if kind == "json_invalid":
            return "Request body is not valid JSON"
        if kind in ("model_attributes_type", "dict_type") and loc == ("body",):
            return f"{err.get('input')!r} is not of type 'object'"
        if kind == "int_parsing" and len(loc) == 2 and loc[0] in ("query", "path"):
            return f"Wrong type, expected 'integer' for {loc[0]} parameter '{loc[1]}'"
        if kind in ("int_parsing", "int_type") and len(loc) == 2 and loc[0] == "body":
            return f"{loc[1]}: {err.get('input')!r} is not of type 'integer'"
        if err.get("type") == "greater_than_equal" and len(loc) == 2:
            value = str(err.get("input", ""))
            bounded = value.lstrip("-").isdigit() and below_minimum(*map(str, loc), int(value))
            if bounded:
                return bounded
        if err.get("type") == "missing" and len(loc) == 2 and loc[0] == "query":
            return f"Missing query parameter '{loc[1]}'"
        if err.get("type") == "missing" and len(loc) == 2 and loc[0] == "body":
            return f"'{loc[1]}' is a required property"
    parts = []
    for err in list(errors)[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"
