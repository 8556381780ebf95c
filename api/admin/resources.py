"""Every resource router of the admin API, in the order the OpenAPI document lists them."""

from __future__ import annotations

from fastapi import APIRouter

from api.admin import (
    expectations,
    history,
    releases,
    required_signoffs,
    rules,
    scheduled,
    shutoffs,
    timeline,
    users,
)

ROUTERS: list[APIRouter] = [
    history.router,  # /rules/history etc. before /rules/{id_or_alias}
    rules.router,
    releases.router,
    scheduled.router,
    shutoffs.router,
    required_signoffs.router,
    users.router,
    timeline.router,
    expectations.router,
]
