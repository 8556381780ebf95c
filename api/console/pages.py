"""Every console router, in the order the admin app includes them (under ``/ui``)."""

from __future__ import annotations

from fastapi import APIRouter

from rulelog.api.console import (
    channels,
    history,
    oidc_login,
    policies,
    releases,
    rules,
    scheduled,
    shutoffs,
    signin,
    users,
)

ROUTERS: list[APIRouter] = [
    signin.router,
    oidc_login.router,
    rules.router,
    releases.router,
    scheduled.router,
    history.router,
    channels.router,
    shutoffs.router,
    users.router,
    policies.router,
]
