"""What a request must be before the studio looks at it: addressed to this server by name
(no DNS rebinding), sent from its own page or no page at all, and small.

A page on another site can make a browser send requests to 127.0.0.1; the ``Host``
header then names the attacker's domain (rebinding) or the ``Origin`` header names the
other site (a cross-site form). Both are refused here, before any route runs, as are
bodies over the cap: a ``Content-Length`` over it at once, a body without one as soon as
its bytes pass it.
"""

from __future__ import annotations

import ipaddress
import socket

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from musicae.studio.settings import BODY_BYTES

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WILDCARD = {"0.0.0.0", "::"}


def is_loopback(host: str) -> bool:
    return host in LOOPBACK


def allowed_hosts(host: str, port: int) -> set[str]:
    """``Host`` header values that name this server: the bound host (any spelling of
    this machine's loopback for a loopback bind), with the port (without it for port 80).

    A wildcard bind (0.0.0.0, ::) also accepts this machine's host names: other machines
    reach it by those or by an address, which is never a rebinding (see ``host_ok``).
    """
    names = {host.lower()} | (LOOPBACK if is_loopback(host) else set())
    if host in WILDCARD:
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    hosts = {f"[{n}]" if ":" in n else n for n in names}
    return {f"{h}:{port}" for h in hosts} | (hosts if port == 80 else set())


def host_ok(value: str, hosts: set[str], wildcard: bool, port: int) -> bool:
    """Whether a ``Host`` header names this server. Under a wildcard bind an IP address
    with our port is fine too: DNS rebinding needs a name."""
    value = value.lower()
    if value in hosts:
        return True
    if not wildcard:
        return False
    name, _, given = value.rpartition(":")
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return given == str(port)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit:,} bytes (the studio's upload cap)")


class Guard:
    """ASGI middleware: refuse foreign ``Host`` and ``Origin`` headers and big bodies with
    a JSON error, before the app sees the request."""

    def __init__(self, app: ASGIApp, host: str, port: int, max_body: int = BODY_BYTES) -> None:
        self.app, self.port, self.max_body = app, port, max_body
        self.hosts = allowed_hosts(host, port)
        self.wildcard = host in WILDCARD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        refusal = self._refusal(headers)
        if refusal is not None:
            return await refusal(scope, receive, send)
        return await self.app(scope, self._capped(receive), send)

    def _refusal(self, headers: Headers) -> JSONResponse | None:
        host = headers.get("host", "")
        if not host_ok(host, self.hosts, self.wildcard, self.port):
            also = ", or an IP address with the port" if self.wildcard else ""
            return _error(400, f"Host {host!r} is not this server (expected one of "
                               f"{', '.join(sorted(self.hosts))}{also})")
        origin = headers.get("origin")
        if origin is not None and origin.lower().removeprefix("http://") != host.lower():
            return _error(403, f"requests from the page {origin!r} are not accepted; "
                               f"use the studio's own page")
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return _error(413, str(BodyTooLarge(self.max_body).detail))
        return None

    def _capped(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        return counted


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
