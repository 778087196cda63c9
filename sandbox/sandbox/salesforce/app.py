"""Placeholder salesforce stand-in: only the health check. Replaced by the real app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def _health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_app(data_dir: Path, config: dict[str, Any]) -> Starlette:
    """Build the ASGI app; state lives under data_dir."""
    return Starlette(routes=[Route("/__admin/health", _health)])
