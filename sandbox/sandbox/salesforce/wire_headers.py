"""Response header names as Salesforce spells them on HTTP/1.1 (`Content-Type`, `Sforce-Locator`, ...).

Starlette lowercases every header name; HTTP says names are case-insensitive, but some clients look one up
by its exact spelling (Airbyte's CDK reads `Content-Type` from a plain dict). This ASGI middleware rewrites
each name to Salesforce's spelling as documented (`Sforce-Limit-Info`, `Sforce-Locator`,
`Sforce-NumberOfRecords`, `Content-Type`, `Last-Modified`, ...): known exceptions from a table, every other
name in dash-separated title case. It also writes the `Date` header itself (uvicorn's own would be lowercase,
so the server is run with uvicorn's disabled: see `SENDS_DATE_HEADER`).
"""

from __future__ import annotations

from email.utils import formatdate

from sandbox.salesforce.knobs import ASGIApp, Message, Receive, Scope, Send

#: Set on the app's state: the server must not add its own (lowercase) `date` header.
SENDS_DATE_HEADER = "sends_date_header"
_SPELLINGS = {
    b"etag": b"ETag",
    b"www-authenticate": b"WWW-Authenticate",
    b"sforce-numberofrecords": b"Sforce-NumberOfRecords",
    b"x-sfdc-request-id": b"X-SFDC-Request-Id",
    b"x-xss-protection": b"X-XSS-Protection",
}


def spelled(name: bytes) -> bytes:
    """`sforce-limit-info` → `Sforce-Limit-Info` (exceptions from the table)."""
    lower = name.lower()
    return _SPELLINGS.get(lower) or b"-".join(part[:1].upper() + part[1:] for part in lower.split(b"-"))


class SalesforceHeaderNames:
    """Rewrites response header names and adds `Date`, on every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_spelled(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(spelled(name), value) for name, value in message.get("headers", [])]
                if not any(name == b"Date" for name, _ in headers):
                    headers.insert(0, (b"Date", formatdate(usegmt=True).encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_spelled)
