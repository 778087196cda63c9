"""A forwarding proxy in front of a sandbox that answers scripted requests with a transport fault.

Faults the sandboxes cannot produce themselves, because they happen below HTTP semantics:
- `cut`: the answer's headers promise more bytes than are sent, then the connection closes (the client reads a
  body cut off mid-way: `ChunkedEncodingError`);
- `garbled`: `Content-Encoding: gzip` over bytes that are not gzip (`ContentDecodingError`);
- `drop`: the connection closes before any answer (`ConnectionError`);
- `503`: a plain 503 answer;
- `401`: a 401 answer (the credentials are refused once: the client fetches a new token).

Every other request is forwarded unchanged, `Host` header included, so OAuth signatures and JWT audiences made
for the proxy's URL still verify at the sandbox.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "content-encoding", "keep-alive"}


@dataclass
class FaultProxy:
    """`with FaultProxy(upstream, {"token": [...], "record": [...]}) as proxy:` serves on `proxy.url`.

    A request is a `token` request when its path ends with `/token`, else a `record` request; each kind takes its
    faults from its own list, in order, one per request, until the list is empty.
    """

    upstream: str
    faults: dict[str, list[str]] = field(default_factory=dict)
    injected: Counter = field(default_factory=Counter)
    seen: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._upstream = requests.Session()

    def _next_fault(self, kind: str) -> str:
        with self._lock:
            self.seen[kind] += 1
            queue = self.faults.get(kind) or []
            fault = queue.pop(0) if queue else "ok"
            if fault != "ok":
                self.injected[f"{kind}:{fault}"] += 1
            return fault

    def __enter__(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = "token" if self.path.split("?")[0].endswith("/token") else "record"
                fault = proxy._next_fault(kind)
                if fault == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault in {"503", "401"}:
                    self._answer(int(fault), {"Content-Type": "application/json"}, b'{"error": "injected"}')
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream = proxy._upstream.request(self.command, proxy.upstream + self.path, headers=headers,
                                                   data=body, timeout=60, allow_redirects=False)
                answer = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
                # A 204 has no body to cut or garble: the same success is answered as a 200 with a body.
                status = 200 if upstream.status_code == 204 else upstream.status_code
                if fault == "cut":
                    content = upstream.content or b'{"padding": "' + b"x" * 64 + b'"}'
                    self.send_response(status)
                    for name, value in answer.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(content) + 1000))
                    self.end_headers()
                    self.wfile.write(content[: max(1, len(content) // 2)])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if fault == "garbled":
                    answer["Content-Encoding"] = "gzip"
                    self._answer(status, answer, b"this is not gzip" * 8)
                    return
                self._answer(upstream.status_code, answer, upstream.content)

            def _answer(self, status: int, headers: dict[str, str], content: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._upstream.close()


@dataclass
class ConnectionCounter:
    """A TCP forwarder that counts connections: `with ConnectionCounter(host, port) as counter:` on `counter.port`.

    Used in front of a TLS port to count how many times a client tried (each attempt is a new TLS handshake).
    """

    host: str
    port: int
    connections: int = 0

    def __enter__(self) -> ConnectionCounter:
        import socket

        self._listener = socket.create_server(("127.0.0.1", 0))
        self.listen_port = self._listener.getsockname()[1]
        self._stop = threading.Event()

        def pipe(source: socket.socket, target: socket.socket) -> None:
            try:
                while chunk := source.recv(65536):
                    target.sendall(chunk)
            except OSError:
                pass
            finally:
                for end in (source, target):
                    with contextlib.suppress(OSError):
                        end.shutdown(socket.SHUT_RDWR)

        def serve() -> None:
            while not self._stop.is_set():
                try:
                    client, _ = self._listener.accept()
                except OSError:
                    return
                self.connections += 1
                upstream = socket.create_connection((self.host, self.port))
                threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
                threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()
