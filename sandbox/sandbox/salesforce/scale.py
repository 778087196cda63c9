"""Real-org limits the stand-in enforces: URI length, slow queries, query cursor lifetime and count.

- URI limit (always on, like the real API): a request whose URI (path and query string, as sent) is longer than
  16,384 bytes is answered `414 URI Too Long`; URI plus headers over 16,384 bytes, `431 Request Header Fields
  Too Large`. Every request's URI and header sizes go into a request log (`GET /__admin/requests`), with the
  SOQL (`q`) of query calls, so tests can count what a run cost.
- `query_timeout_rows` (knob): a REST query, or a Bulk 2.0 job, matching more rows than this fails as a slow
  query does: REST answers `400 QUERY_TIMEOUT`, the Bulk job ends `Failed` with a timeout message.
- `cursor_ttl_seconds` (knob, default 900): a query locator not used for this long is gone
  (`400 INVALID_QUERY_LOCATOR`); `max_open_cursors` (knob, default unlimited; real orgs allow 10 per user):
  opening one more releases the oldest.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qs

from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.knobs import ASGIApp, Knobs, Receive, Scope, Send
from sandbox.salesforce.values import now_ms

#: Salesforce's limit on the URI, and on URI plus headers, of one REST call (bytes).
URI_LIMIT = 16_384
REQUEST_LOG_SIZE = 5000
QUERY_TIMEOUT_MESSAGE = "Your query request was running for too long."
BULK_TIMEOUT_MESSAGE = "InternalServerError : Query timed out (QUERY_TIMEOUT): the query ran for too long"


class RequestLog:
    """The last requests' method, path, URI and header sizes and status (bounded, thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.max_uri_bytes = 0
        self.over_limit = 0

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.entries.append(entry)
            self.max_uri_bytes = max(self.max_uri_bytes, entry["uri_bytes"])
            self.over_limit += entry["uri_bytes"] > URI_LIMIT

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()
            self.max_uri_bytes = 0
            self.over_limit = 0

    def public(self) -> dict[str, Any]:
        with self._lock:
            return {"uri_limit": URI_LIMIT, "max_uri_bytes": self.max_uri_bytes, "over_limit": self.over_limit,
                    "requests": list(self.entries)}


class UriLimitMiddleware:
    """414/431 past Salesforce's request-size limits, and the request log, on the real API paths."""

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__admin"):
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        uri_bytes = len(raw_path) + (len(query) + 1 if query else 0)
        header_bytes = sum(len(k) + len(v) + 4 for k, v in scope.get("headers") or [])
        soql = parse_qs(query.decode("latin-1")).get("q")
        entry = {"method": scope["method"], "path": scope["path"], "q": soql[0] if soql else None,
                 "uri_bytes": uri_bytes, "header_bytes": header_bytes, "status": None}
        self.log.add(entry)
        if uri_bytes > URI_LIMIT:
            entry["status"] = 414
            await _plain(send, 414, b"414 URI Too Long")
            return
        if uri_bytes + header_bytes > URI_LIMIT:
            entry["status"] = 431
            await _plain(send, 431, b"431 Request Header Fields Too Large")
            return

        async def noting(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        await self.app(scope, receive, noting)


async def _plain(send: Send, status: int, body: bytes) -> None:
    # The edge answers these before the API sees the request: plain text, no Salesforce error body.
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def check_query_timeout(knobs: Knobs, matched_rows: int) -> None:
    """400 QUERY_TIMEOUT when a REST query matches more rows than `query_timeout_rows`."""
    if knobs.query_timeout_rows is not None and matched_rows > knobs.query_timeout_rows:
        raise ApiError(400, "QUERY_TIMEOUT", QUERY_TIMEOUT_MESSAGE)


def bulk_timeout_message(knobs: Knobs, matched_rows: int) -> str | None:
    """The `errorMessage` a Bulk job matching more rows than `query_timeout_rows` fails with, else None."""
    if knobs.query_timeout_rows is not None and matched_rows > knobs.query_timeout_rows:
        return BULK_TIMEOUT_MESSAGE
    return None


def release_cursors(conn: Any, knobs: Knobs) -> None:
    """Before a new cursor opens: drop idle ones, and the oldest past `max_open_cursors - 1`."""
    stale = conn.execute("SELECT locator FROM cursors WHERE used_ms < ?",
                         (now_ms() - int(knobs.cursor_ttl_seconds) * 1000,)).fetchall()
    victims = [row[0] for row in stale]
    if knobs.max_open_cursors:
        alive = conn.execute("SELECT locator FROM cursors WHERE used_ms >= ? ORDER BY rowid",
                             (now_ms() - int(knobs.cursor_ttl_seconds) * 1000,)).fetchall()
        victims += [row[0] for row in alive[: max(0, len(alive) - int(knobs.max_open_cursors) + 1)]]
    for locator in victims:
        drop_cursor(conn, locator)


def drop_cursor(conn: Any, locator: str) -> None:
    found = conn.execute("SELECT first_seq, total FROM cursors WHERE locator = ?", (locator,)).fetchone()
    if found is not None:
        conn.execute("DELETE FROM cursor_rows WHERE seq >= ? AND seq < ?", (found[0], found[0] + found[1]))
        conn.execute("DELETE FROM cursors WHERE locator = ?", (locator,))


def cursor_expired(knobs: Knobs, used_ms: int) -> bool:
    """Whether a cursor last used at `used_ms` has outlived `cursor_ttl_seconds`."""
    return now_ms() - used_ms > int(knobs.cursor_ttl_seconds) * 1000
