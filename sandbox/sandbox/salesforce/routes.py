"""The Salesforce stand-in's route table: data, one row per path and method.

Admin rows (`/__admin/...`) go to `admin.py`, wire rows to `responses.py`; `api()` adds the version check,
bearer token, quota and Salesforce headers to every `/services/data` handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.salesforce import admin as adm
from sandbox.salesforce import bulk_v1, composite
from sandbox.salesforce import responses as wire
from sandbox.salesforce.responses import Handler, api

if TYPE_CHECKING:
    from sandbox.salesforce.backend import Sandbox

ADMIN_ROUTES: list[tuple[str, adm.AdminHandler, list[str], int]] = [
    ("/__admin/reset", adm.admin_reset, ["POST"], 200),
    ("/__admin/stats", adm.admin_stats, ["GET"], 200),
    ("/__admin/knobs", adm.admin_knobs, ["GET", "POST"], 200),
    ("/__admin/requests", adm.admin_requests, ["GET"], 200),
    # this API's own admin routes
    ("/__admin/expire_sessions", adm.admin_expire_sessions, ["POST"], 200),
    ("/__admin/metadata", adm.admin_metadata, ["GET"], 200),
    ("/__admin/metadata/{object}", adm.admin_metadata, ["POST"], 200),
    ("/__admin/share_modstamp/{object}", adm.admin_share_modstamp, ["POST"], 200),
    ("/__admin/records/{object}", adm.admin_list, ["GET"], 200),
    ("/__admin/records/{object}", adm.admin_create, ["POST"], 201),
    ("/__admin/records/{object}/{id}", adm.admin_update, ["PATCH"], 200),
    ("/__admin/records/{object}/{id}", adm.admin_delete, ["DELETE"], 200),
    ("/__admin/records/{object}/{id}/undelete", adm.admin_undelete, ["POST"], 200),
    ("/__admin/records/{object}/{id}/purge", adm.admin_purge, ["POST"], 200),
]

# Paths under /services/data/v{version}; composite requests re-enter this table for their subrequests.
REST_ROUTES: list[tuple[str, Handler, list[str]]] = [
    ("/sobjects", wire.describe_global, ["GET"]),
    ("/sobjects/{object}/describe", wire.describe_object, ["GET"]),
    ("/sobjects/{object}/{id}", wire.get_record, ["GET"]),
    ("/query", wire.query, ["GET"]),
    ("/queryAll", wire.query_all, ["GET"]),
    ("/query/{locator}", wire.query_more, ["GET"]),
    ("/queryAll/{locator}", wire.query_more, ["GET"]),
    ("/limits", wire.limits, ["GET"]),
    ("/jobs/query", wire.bulk_create, ["POST"]),
    ("/jobs/query", wire.bulk_list, ["GET"]),
    ("/jobs/query/{job_id}", wire.bulk_job, ["GET", "PATCH", "DELETE"]),
    ("/jobs/query/{job_id}/results", wire.bulk_results, ["GET"]),
    ("/composite/sobjects", wire.collection_write, ["POST", "PATCH"]),
    ("/composite/sobjects/{object}/{field}", wire.collection_write, ["PATCH"]),
    ("/jobs/ingest", wire.ingest_create, ["POST"]),
    ("/jobs/ingest/{job_id}", wire.ingest_job, ["GET", "PATCH"]),
    ("/jobs/ingest/{job_id}/batches", wire.ingest_upload, ["PUT"]),
    ("/jobs/ingest/{job_id}/successfulResults", wire.ingest_results, ["GET"]),
    ("/jobs/ingest/{job_id}/failedResults", wire.ingest_results, ["GET"]),
]


def routes() -> list[Route]:
    data = "/services/data/v{version}"
    table: list[Route] = [Route("/__admin/health", adm.health)]
    table += [Route(path, adm.admin(handler, status), methods=methods)
              for path, handler, methods, status in ADMIN_ROUTES]
    table += [
        Route("/services/oauth2/token", wire.token_endpoint, methods=["POST"]),
        Route("/services/data", api(wire.versions, authenticated=False)),
        Route("/services/data/", api(wire.versions, authenticated=False)),
    ]
    rest = list(REST_ROUTES)
    dispatch = composite.SubRequests(rest)

    def composite_batch(sandbox: Sandbox, request: Request, body: bytes) -> Response:
        return wire.sf_json(composite.batch(dispatch, sandbox, request, wire._json_body(body)))

    def composite_request(sandbox: Sandbox, request: Request, body: bytes) -> Response:
        return wire.sf_json(composite.composite(dispatch, sandbox, request, wire._json_body(body)))

    rest += [("/composite/batch", composite_batch, ["POST"]), ("/composite", composite_request, ["POST"])]
    for path, handler, methods in rest:
        # Clients differ on trailing slashes (simple-salesforce adds them); Salesforce accepts both.
        table.append(Route(data + path, api(handler), methods=methods))
        table.append(Route(data + path + "/", api(handler), methods=methods))
    table += bulk_v1.routes(lambda response: wire._decorate(response, None))
    table.append(Route("/services/{rest:path}", api(wire.unknown_resource, authenticated=False),
                       methods=["GET", "POST", "PATCH", "PUT", "DELETE"]))
    return table
