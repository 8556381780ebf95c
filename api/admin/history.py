"""(being written) The admin routes for history."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
