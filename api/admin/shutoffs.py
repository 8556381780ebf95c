"""(being written) The admin routes for shutoffs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
