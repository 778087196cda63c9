"""The NetSuite stand-in's route tables: data. `API_ROUTES` names the `RecordApi.route_<handler>` of each real
path and method (matched on the raw path, each segment decoded); `admin_routes` lists the `/__admin/` routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

if TYPE_CHECKING:
    from sandbox.netsuite.app import NetSuiteSandbox

API_PREFIX = "/services/rest/"
RECORD_PREFIX = "/services/rest/record/v1/"
SUITEQL_PATH = "/services/rest/query/v1/suiteql"


@dataclass(frozen=True)
class ApiRoute:
    """One row of the route table: path segments after `/services/rest/` (`{name}` captures one segment)."""

    method: str
    pattern: tuple[str, ...]
    handler: str  # `RecordApi.route_<handler>`

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.pattern):
            return None
        captured = {}
        for want, got in zip(self.pattern, segments, strict=True):
            if want.startswith("{"):
                if not got:
                    return None
                captured[want[1:-1]] = got
            elif want != got:
                return None
        return captured


def _route(method: str, path: str, handler: str) -> ApiRoute:
    return ApiRoute(method, tuple(path.split("/")), handler)


# The route table of the real API: data, matched in order. A path that fits a pattern but not with this method
# is 405; a path that fits none is 404.
API_ROUTES: tuple[ApiRoute, ...] = (
    _route("POST", "query/v1/suiteql", "suiteql"),
    _route("GET", "record/v1/{type}", "list"),
    _route("POST", "record/v1/{type}", "create"),
    _route("GET", "record/v1/{type}/{key}", "get"),
    _route("PUT", "record/v1/{type}/{key}", "upsert"),
    _route("PATCH", "record/v1/{type}/{key}", "update"),
    _route("DELETE", "record/v1/{type}/{key}", "delete"),
    # Oracle, "Transforming Records": POST record/v1/salesOrder/3/!transform/invoice (sandbox/netsuite/order_life.py)
    _route("POST", "record/v1/{type}/{key}/!transform/{target}", "transform"),
    # Issue 15: REST batch (`PUT record/v1/{type}` with a collection body + `Prefer: respond-async`) and the
    # asynchronous job routes (`async/v1/job/...`, sandbox/netsuite/jobs.py) add their rows here.
)


def path_segments(request: Request) -> list[str]:
    """The path after `/services/rest/` split on the raw (still percent-encoded) `/`, each segment decoded.

    Splitting the decoded path would cut an external id holding `/` (sent as `%2F`) in two, and `#`/`?`
    (sent as `%23`/`%3F`) must come back as themselves, not as a fragment or a query.
    """
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if raw else request.url.path
    path = path.split("?", 1)[0]
    if not path.startswith(API_PREFIX):
        return []
    return [unquote(segment) for segment in path[len(API_PREFIX):].split("/")]




def admin_routes(sandbox: NetSuiteSandbox) -> list[BaseRoute]:
    """The admin surface: the shared part (health, reset, knobs, stats, requests) and this API's own routes."""
    return [
        Route("/__admin/health", sandbox.admin_health),
        Route("/__admin/reset", sandbox.admin_reset, methods=["POST"]),
        Route("/__admin/knobs", sandbox.admin_knobs, methods=["GET", "POST"]),
        Route("/__admin/stats", sandbox.admin_stats),
        Route("/__admin/requests", sandbox.admin_requests),
        # this API's own admin routes
        Route("/__admin/records/{rtype}", sandbox.admin_records),
        Route("/__admin/records/{rtype}", sandbox.admin_create_records, methods=["POST"]),
        Route("/__admin/records/{rtype}/{key:path}", sandbox.admin_record),
        Route("/__admin/records/{rtype}/{key:path}", sandbox.admin_edit_record, methods=["PATCH"]),
        Route("/__admin/records/{rtype}/{key:path}", sandbox.admin_delete_record, methods=["DELETE"]),
        Route("/__admin/salesorder/{key}/{action}", sandbox.admin_order_transition, methods=["POST"]),
        Route("/__admin/invoice/{key}/pay", sandbox.admin_pay_invoice, methods=["POST"]),
        Route("/__admin/accounts", sandbox.admin_accounts),
        Route("/__admin/m2m-clients", sandbox.admin_m2m_clients, methods=["POST"]),
        Route("/__admin/jobs", sandbox.jobs.admin_jobs),
    ]
