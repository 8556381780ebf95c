"""(being written) The admin routes for required_signoffs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
