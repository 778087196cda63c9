"""A local HTTP server that records every connection and request it receives, for tests proving what a
connector sent where (or that it sent nothing at all).

A connection counts even when it carries no HTTP (a TLS ClientHello sent to this plain-HTTP port), so "nothing
reached this host" is a check on `connections`, not only on parsed requests. Answers come from a callable given
the captured request; the default answers 200 `{}`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


Answer = tuple[int, dict[str, str], bytes]


@dataclass
class CaptureServer:
    """`with CaptureServer(respond) as server:` serves on `server.url` until the block ends."""

    respond: Callable[[Captured], Answer] = field(default=lambda request: (200, {}, b"{}"))
    host: str = "127.0.0.1"
    requests: list[Captured] = field(default_factory=list)
    connections: int = 0

    def __enter__(self) -> CaptureServer:
        capture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                capture.connections += 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Captured(self.command, self.path, dict(self.headers), self.rfile.read(length))
                capture.requests.append(request)
                status, headers, body = capture.respond(request)
                self.send_response(status)
                headers = {"Content-Type": "application/json", **headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if headers.get("Connection") == "close":  # e.g. after a body shorter than its Content-Length
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"
