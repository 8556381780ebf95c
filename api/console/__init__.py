"""The web console: server-rendered pages for release managers under ``/ui``.

Served by the admin app (same process, store, authentication and
permissions): each write calls the very service functions the admin API
calls, so the console can do nothing the API would refuse. Pages are Jinja2
templates; the little JavaScript there is (``static/console.js`` and htmx,
vendored in ``static/``) only makes them quicker to use, and every page
works without it. ``?at=T`` shows any page as of a past moment, read-only
(``moment``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from rulelog.api.console.render import install_error_pages
from rulelog.api.console.session import PREFIX, CookieAuth

__all__ = ["PREFIX", "install", "routers"]


def routers() -> list[APIRouter]:
    """Every console router, mounted under ``PREFIX`` (imported here: pages load lazily)."""
    from rulelog.api.console import pages

    return pages.ROUTERS


def install(app: FastAPI) -> None:
    """Static files, the cookie sign-in and error pages; the routers are included by the
    admin app with its others (``api.admin.access`` declares what each needs)."""
    static = StaticFiles(directory=Path(__file__).parent / "static")
    app.mount(PREFIX + "/static", static, name="console-static")
    app.add_middleware(CookieAuth)
    install_error_pages(app)
