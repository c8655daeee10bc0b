"""Who is calling: the kernel's word for unix-socket peers, the TLS handshake's for TCP.

uvicorn does not put either into the ASGI scope, so the protocol classes wrap the app per
connection and add `stockade.peer` ({"transport", "uid", "pid", "cert"}) to every scope."""

import asyncio
import socket
import struct
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

PEER_KEY = "stockade.peer"
ASGIApp = Any


def describe(transport: asyncio.BaseTransport) -> dict[str, Any]:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family == socket.AF_UNIX:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _ = struct.unpack("3i", creds)
        return {"transport": "unix", "uid": uid, "pid": pid, "cert": None}
    cert = transport.get_extra_info("peercert")
    subject = None
    if cert:
        fields = dict(item[0] for item in cert.get("subject", ()))
        subject = fields.get("commonName")
    return {"transport": "tls", "uid": None, "pid": None, "cert": subject}


def actor(peer: dict[str, Any] | None, identity: Any = None) -> str:
    """Who made a request, for the audit log: the unix peer's uid and pid, or the TLS
    identity and its role (an access.Identity, when the gate has set one)."""
    if not peer:
        return "unknown"
    if peer["transport"] == "unix":
        return f"uid={peer['uid']} pid={peer['pid']}"
    if identity is not None:
        return f"tls {identity.describe()}"
    return f"tls cert={peer['cert']}" if peer["cert"] else "tls token"


class _WithPeer:
    def __init__(self, app: ASGIApp, peer: dict[str, Any]) -> None:
        self.app = app
        self.peer = peer

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.app({**scope, PEER_KEY: self.peer}, receive, send)


class PeerHttp(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app = _WithPeer(self.app, describe(transport))


class PeerWebSocket(WebSocketsSansIOProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.app = _WithPeer(self.app, describe(transport))
