"""Turning a page's data into an HTML answer: templates, headers, and error pages.

Every console answer goes through ``page``: the template is rendered with
what every page shows (who is signed in, the time control, the CSRF token),
the CSRF cookie is set when the browser has none, and the answer carries the
console's own Content-Security-Policy (scripts and styles from ``/ui/static``
only, nothing inline), which the request log keeps instead of the API's
``default-src 'none'``.

Errors are pages too: ``install_error_pages`` wraps the admin app's
exception handlers so that, under ``/ui``, a refused command or a bad
request is the page's own message with its 4xx status instead of a problem
document (and never a 500).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from rulelog.api.admin.problems import Problem, domain_problem
from rulelog.api.auth_errors import AuthError
from rulelog.api.console.session import CSRF_COOKIE, PREFIX, ConsoleRefusal, csrf_of
from rulelog.domain.errors import RulelogError

__all__ = ["CSP", "install_error_pages", "page", "redirect"]

HERE = Path(__file__).parent
#: The console's pages load their scripts, styles and icon from /ui/static and post only
#: to themselves; htmx is configured not to inject its own <style> (base.html).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["json"] = lambda value: json.dumps(value, indent=2, sort_keys=True, default=str)


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with the page's context, as the console answers every page."""
    csrf = csrf_of(request)
    context.setdefault("moment", None)
    html = templates.get_template(template).render(
        request=request,
        csrf=csrf,
        user=getattr(request.state, "caller", "") or "",
        path=request.url.path,
        now_url=_now_url(request),
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    _finish(request, response)
    return response


def _now_url(request: Request) -> str:
    """This page live: its query without ``at``/``pos``."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("at", "pos")]
    return request.url.path + ("?" + urlencode(kept) if kept else "")


def redirect(request: Request, to: str) -> Response:
    """After a successful post: 303 to the page that shows its result."""
    response = RedirectResponse(to, status_code=303)
    _finish(request, response)
    return response


def _finish(request: Request, response: Response) -> None:
    response.headers["content-security-policy"] = CSP
    response.headers["x-frame-options"] = "DENY"
    response.headers["referrer-policy"] = "same-origin"
    if request.cookies.get(CSRF_COOKIE) != csrf_of(request):
        response.set_cookie(
            CSRF_COOKIE, csrf_of(request), path=PREFIX, httponly=True, samesite="strict"
        )


def status_and_message(request: Request, error: Exception) -> tuple[int, str]:
    """What a refused request is shown as: its status (a domain refusal's is the admin
    API's for it) and one readable line."""
    if isinstance(error, ConsoleRefusal):
        return error.status, error.message
    if isinstance(error, Problem):
        exception = (error.ext or {}).get("exception")
        return error.status, str(exception or error.detail)
    if isinstance(error, AuthError):
        return 401, f"Not signed in: {error.error.get('description', 'invalid token')}"
    if isinstance(error, RulelogError):
        return domain_problem(error, request.method).status_code, str(error)
    if isinstance(error, RequestValidationError):
        where = [".".join(str(p) for p in e.get("loc", ())) for e in error.errors()]
        return 400, f"Bad request: {', '.join(where) or 'invalid input'}"
    if isinstance(error, StarletteHTTPException):
        return error.status_code, str(error.detail)
    return 400, str(error)


def error_page(request: Request, error: Exception) -> HTMLResponse:
    status, message = status_and_message(request, error)
    return page(request, "error.html", status=status, message=message, code=status)


def install_error_pages(app: FastAPI) -> None:
    """Under ``/ui``: errors as pages; elsewhere the admin API's handlers, unchanged."""
    kinds = (
        ConsoleRefusal,
        Problem,
        RulelogError,
        AuthError,
        RequestValidationError,
        StarletteHTTPException,
    )
    for kind in kinds:
        original = app.exception_handlers.get(kind)

        async def handler(request: Request, error: Exception, original: Any = original) -> Any:
            if request.url.path.startswith(PREFIX + "/") or original is None:
                return error_page(request, error)
            return await original(request, error)

        app.add_exception_handler(kind, handler)
