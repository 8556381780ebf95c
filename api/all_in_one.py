"""One app for trying rulelog out: update routes, the admin API and the console on one port.

Production keeps the public update server and the admin app apart (their
own processes, networks and scaling); ``rulelog serve all`` (``make run``)
puts both behind one socket so a newcomer can open the console and ask for
updates without two terminals. Requests for update answers and the public
read-only API (``/update/``, ``/json/``, ``/api/v1/``) go to the public app,
everything else (the admin API, ``/ui``, dockerflow) to the admin app; the
public app's lifespan (its index follows the log) runs as it would alone.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["PUBLIC_PREFIXES", "AllInOne", "create_app_from_env"]

#: Paths the public update server answers; the rest is the admin app's.
PUBLIC_PREFIXES = ("/update/", "/json/", "/api/v1/")


class AllInOne:
    """Dispatch by path between the public app and the admin app."""

    def __init__(self, public: ASGIApp, admin: ASGIApp) -> None:
        self.public = public
        self.admin = admin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or scope.get("path", "").startswith(PUBLIC_PREFIXES):
            await self.public(scope, receive, send)
        else:
            await self.admin(scope, receive, send)


def create_app_from_env() -> AllInOne:
    """uvicorn's factory: both apps over the store of ``RULELOG_DATABASE_URL``."""
    from rulelog.api import public
    from rulelog.api.admin import app as admin

    return AllInOne(public.create_app_from_env(), admin.create_app_from_env())
