"""(being written) The admin routes for users."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
