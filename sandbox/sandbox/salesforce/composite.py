"""`/composite/batch` and `/composite`: several REST calls in one request, run by the same handlers.

Each subrequest is matched against the stand-in's REST routes and answered by their handler, inside the
parent request (its token, one API call in all, as Salesforce counts them):

- `/composite/batch` `{"batchRequests": [{"method", "url": "vXX.X/..."}], "haltOnError"}` (at most 25) answers
  `200 {"hasErrors", "results": [{"statusCode", "result"}]}`; after a failed subrequest with `haltOnError`, the
  rest answer `412 BATCH_PROCESSING_HALTED`.
- `/composite` `{"allOrNone", "compositeRequest": [{"method", "url": "/services/data/vXX.X/...",
  "referenceId", "body"?}]}` (at most 25) answers `200 {"compositeResponse": [{"body", "httpHeaders",
  "httpStatusCode", "referenceId"}]}`; `@{referenceId.path.to[0].value}` in a later url or body is replaced by
  that earlier result's value. After a failure with `allOrNone`, the rest answer `400 PROCESSING_HALTED`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path

from sandbox.salesforce.errors import ApiError

MAX_SUBREQUESTS = 25
_VERSIONED = re.compile(r"^/?(?:services/data/)?v(?P<version>\d{2,3}\.\d)(?P<rest>/.*)$")
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
Handler = Callable[[Any, Request, bytes], Response]


class SubRequests:
    """Dispatches one subrequest to the REST handler whose route matches it."""

    def __init__(self, routes: list[tuple[str, Handler, list[str]]]) -> None:
        self.routes = [(compile_path(path)[0], handler, methods) for path, handler, methods in routes]

    def call(self, sandbox: Any, parent: Request, method: str, url: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        """`(status, decoded body or None, headers)` of one subrequest."""
        parts = urlsplit(url)
        match = _VERSIONED.match(parts.path)
        if match is None:
            return 404, ApiError(404, "NOT_FOUND", "The requested resource does not exist").body(), {}
        rest = match["rest"].rstrip("/") or "/"
        for regex, handler, methods in self.routes:
            found = regex.match(rest)
            if found is None:
                continue
            if method.upper() not in methods:
                return 405, ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method.upper()}' not allowed. "
                                     f"Allowed are {','.join(methods)}").body(), {}
            scope = {
                "type": "http", "method": method.upper(), "path": f"/services/data/v{match['version']}{rest}",
                "query_string": parts.query.encode("latin-1"), "headers": parent.scope.get("headers", []),
                "path_params": {**found.groupdict(), "version": match["version"]}, "app": parent.scope.get("app"),
            }
            payload = b"" if body is None else json.dumps(body).encode("utf-8")
            try:
                response = handler(sandbox, Request(scope), payload)
            except ApiError as exc:
                return exc.status, exc.body(), {}
            content = bytes(response.body)
            decoded = json.loads(content) if content else None
            headers = {k: v for k, v in response.headers.items() if k.lower() in ("etag", "last-modified", "location")}
            return response.status_code, decoded, headers
        return 404, ApiError(404, "NOT_FOUND", "The requested resource does not exist").body(), {}


def _subrequests(payload: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = payload.get(key)
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise ApiError(400, "JSON_PARSER_ERROR", f"{key} is required and must be a list of subrequests")
    if len(items) > MAX_SUBREQUESTS:
        raise ApiError(400, "LIMIT_EXCEEDED", f"Limit exceeded: at most {MAX_SUBREQUESTS} subrequests")
    for item in items:
        if not isinstance(item.get("method"), str) or not isinstance(item.get("url"), str):
            raise ApiError(400, "JSON_PARSER_ERROR", "Each subrequest needs a method and a url")
    return items


def batch(dispatch: SubRequests, sandbox: Any, request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    """The `/composite/batch` body."""
    items = _subrequests(payload, "batchRequests")
    halt = bool(payload.get("haltOnError"))
    results: list[dict[str, Any]] = []
    halted = False
    for item in items:
        if halted:
            results.append({"statusCode": 412, "result": [{"errorCode": "BATCH_PROCESSING_HALTED",
                                                           "message": "Batch processing halted per request"}]})
            continue
        status, body, _ = dispatch.call(sandbox, request, item["method"], item["url"], item.get("richInput"))
        results.append({"statusCode": status, "result": body})
        halted = halt and status >= 400
    return {"hasErrors": any(r["statusCode"] >= 400 for r in results), "results": results}


def _resolve(reference: str, path: str, results: dict[str, Any]) -> Any:
    if reference not in results:
        raise ApiError(400, "INVALID_REFERENCE", f"Invalid reference specified. No value for {reference} found")
    value = results[reference]
    for name, index in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        try:
            value = value[int(index)] if index else value[name]
        except (KeyError, IndexError, TypeError):
            raise ApiError(400, "INVALID_REFERENCE",
                           f"Invalid reference specified. No value for {reference}{path} found") from None
    return value


def _substitute(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return _REFERENCE.sub(lambda m: str(_resolve(m[1], m[2], results)), value)
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    return value


def composite(dispatch: SubRequests, sandbox: Any, request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    """The `/composite` body."""
    items = _subrequests(payload, "compositeRequest")
    all_or_none = bool(payload.get("allOrNone"))
    results: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    failed = False
    for item in items:
        reference = str(item.get("referenceId") or "")
        if failed and all_or_none:
            out.append({"body": [{"errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back "
                                  "since another operation in the same transaction failed."}],
                        "httpHeaders": {}, "httpStatusCode": 400, "referenceId": reference})
            continue
        try:
            url = _substitute(item["url"], results)
            status, body, headers = dispatch.call(sandbox, request, item["method"], url,
                                                  _substitute(item.get("body"), results))
        except ApiError as exc:
            status, body, headers = exc.status, exc.body(), {}
        failed = failed or status >= 400
        if status < 400:
            results[reference] = body
        out.append({"body": body, "httpHeaders": headers, "httpStatusCode": status, "referenceId": reference})
    return {"compositeResponse": out}
