"""The planner web page at /, served from files shipped in the package (works offline)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
