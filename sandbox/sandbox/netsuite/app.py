"""The NetSuite stand-in as an ASGI app: the real REST paths answered like NetSuite, plus the admin API.

Only assembly here. Per API the same parts as the Salesforce stand-in: `backend.py` (the state, no HTTP),
`routes.py` (the route tables, data), `pipeline.py` and `api.py`/`jobs.py` (the real API: the governed request
pipeline and its wire handlers), `responses.py` and `errors.py` (NetSuite's response and error shapes),
`admin.py` (the `/__admin/` handlers; no auth, never governed, never in the request log).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route

from sandbox.netsuite import admin
from sandbox.netsuite.backend import NetSuiteBackend
from sandbox.netsuite.knobs import KnobError
from sandbox.netsuite.pipeline import ApiPipeline
from sandbox.netsuite.routes import ADMIN_ROUTES, API_PREFIX


async def _knob_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=400)


def create_app(data_dir: Path, config: dict[str, Any]) -> Starlette:
    """Build the NetSuite stand-in; state lives in `data_dir/netsuite.sqlite3` and survives restarts."""
    backend = NetSuiteBackend(data_dir, config)
    routes: list[BaseRoute] = [Route(path, getattr(admin, handler), methods=list(methods))
                               for path, methods, handler in ADMIN_ROUTES]
    # The real API: one ASGI handler (auth, pool, faults, then `routes.API_ROUTES`), mounted as a raw app so a
    # "dropped connection" fault can close the socket.
    routes.append(Mount(API_PREFIX.rstrip("/"), app=ApiPipeline(backend)))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        backend.jobs.start()
        yield
        await backend.jobs.stop()
        backend.store.close()

    app = Starlette(routes=routes, exception_handlers={KnobError: _knob_error}, lifespan=lifespan)
    app.state.sandbox = backend
    return app
