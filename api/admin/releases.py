"""(being written) The admin routes for releases."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
