"""Every resource router of the admin API, in the order the OpenAPI document lists them."""

from __future__ import annotations

from fastapi import APIRouter

from rulelog.api.admin import (
    expectations,
    history,
    impact,
    releases,
    releases_v2,
    required_signoffs,
    rules,
    scheduled,
    shutoffs,
    timeline,
    users,
)

ROUTERS: list[APIRouter] = [
    releases_v2.router,  # /v2/... before any v1 route could take its path
    history.router,  # /rules/history etc. before /rules/{id_or_alias}
    rules.router,
    releases.router,
    scheduled.router,
    shutoffs.router,
    required_signoffs.router,
    users.router,
    timeline.router,
    expectations.router,
    impact.router,
]
