"""The NetSuite stand-in's route tables: data. `API_ROUTES` names the `RecordApi.route_<handler>` of each real
path and method (matched on the raw path, each segment decoded); `ADMIN_ROUTES` names the `admin.<handler>` of each
`/__admin/` route. No handler is imported here, so the tables import nothing of the stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from starlette.requests import Request

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


# The admin surface, data: (path, methods, handler in admin.py). The shared part first (health, reset, knobs, stats,
# requests, as on the Salesforce stand-in), then this API's own routes. The admin client
# (`sandbox.client.NetSuiteClient`) has a method for every row (tests/sandbox_netsuite/test_admin_client.py).
ADMIN_ROUTES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("/__admin/health", ("GET",), "health"),
    ("/__admin/reset", ("POST",), "reset"),
    ("/__admin/knobs", ("GET", "POST"), "knobs"),
    ("/__admin/stats", ("GET",), "stats"),
    ("/__admin/requests", ("GET",), "requests"),
    # this API's own admin routes
    ("/__admin/records/{rtype}", ("GET",), "records"),
    ("/__admin/records/{rtype}", ("POST",), "create_records"),
    ("/__admin/records/{rtype}/{key:path}", ("GET",), "record"),
    ("/__admin/records/{rtype}/{key:path}", ("PATCH",), "edit_record"),
    ("/__admin/records/{rtype}/{key:path}", ("DELETE",), "delete_record"),
    ("/__admin/salesorder/{key}/{action}", ("POST",), "order_transition"),
    ("/__admin/invoice/{key}/pay", ("POST",), "pay_invoice"),
    ("/__admin/accounts", ("GET",), "accounts"),
    ("/__admin/m2m-clients", ("POST",), "m2m_clients"),
    ("/__admin/jobs", ("GET",), "jobs"),
)
