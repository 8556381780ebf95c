"""(being written) The admin routes for scheduled."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
