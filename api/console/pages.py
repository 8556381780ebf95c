"""Every console router, in the order the OpenAPI document lists them."""

from __future__ import annotations

from fastapi import APIRouter

from rulelog.api.console import channels, history, lists, releases, rules, scheduled, signin

ROUTERS: list[APIRouter] = [
    signin.router,
    rules.router,
    releases.router,
    scheduled.router,
    history.router,
    channels.router,
    lists.router,
]
