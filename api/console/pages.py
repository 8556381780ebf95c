"""Every console router, in the order the OpenAPI document lists them."""

from __future__ import annotations

from fastapi import APIRouter

from rulelog.api.console import rules, signin

ROUTERS: list[APIRouter] = [signin.router, rules.router]
