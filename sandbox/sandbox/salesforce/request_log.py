"""The request log: every call to the real API paths (never `/__admin/`), newest last, for tests and benchmarks.

Each entry is `{"method", "path", "q", "status"}` (`q`: the SOQL of a `/query` or `/queryAll` call, else
null), so a test can count what a run cost: "one query per object, no describe". Read with
`GET /__admin/requests`; cleared by `POST /__admin/reset`; the last `LIMIT` entries are kept.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any
from urllib.parse import parse_qs

from sandbox.salesforce.knobs import ASGIApp, Message, Receive, Scope, Send

LIMIT = 10000


class RequestLog:
    """A bounded, thread-safe list of the API calls served."""

    def __init__(self) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=LIMIT)
        self._lock = threading.Lock()

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class RequestLogMiddleware:
    """Logs each real-path request with the status it was answered with (faults included)."""

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__admin"):
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        entry: dict[str, Any] = {"method": scope["method"], "path": scope["path"],
                                 "q": (query.get("q") or [None])[0], "status": None}

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            self.log.add(entry)
