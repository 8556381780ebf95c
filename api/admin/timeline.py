"""(being written) The admin routes for timeline."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
