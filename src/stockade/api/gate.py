"""What every request passes through: authentication on TCP, a body size limit, the audit
record and the grace-time clock."""

import asyncio
import hmac
import json
import re
from typing import Any, Protocol

from stockade.api import errors
from stockade.api.peer import PEER_KEY, actor

_CONTAINER_PATH = re.compile(r"^/v1/containers/([^/]+)")
_TARGET_PATH = re.compile(r"^/v1/(?:containers|security-groups|images)/([^/]+)")
_UNAUDITED = {"/metrics", "/v1/ping", "/openapi.json", "/docs", "/redoc"}


class Recorder(Protocol):
    def record_request(self, actor: str, action: str, target: str, result: str) -> None: ...

    def touch(self, handle: str) -> None: ...


class _TooLarge(Exception):
    pass


async def _reply(send: Any, status: int, kind: str, message: str) -> None:
    payload = json.dumps(errors.body(kind, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


class Gate:
    def __init__(self, app: Any, recorder: Recorder, max_body: int,
                 token: str | None, client_ca: bool) -> None:
        self.app = app
        self.recorder = recorder
        self.max_body = max_body
        self.token = token
        self.client_ca = client_ca

    def _authorized(self, scope: dict[str, Any]) -> bool:
        peer = scope.get(PEER_KEY) or {}
        if peer.get("transport") != "tls":
            return True  # the unix socket is root-only by its file mode
        if self.client_ca and peer.get("cert"):
            return True
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"").decode(errors="replace")
        return self.token is not None and hmac.compare_digest(given, f"Bearer {self.token}")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if not self._authorized(scope):
            if scope["type"] == "http":
                await _reply(send, 401, "unauthorized", "a client certificate or token is needed")
            else:
                await send({"type": "websocket.close", "code": 4401})
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if scope["type"] == "http" and (not length.isdigit() or int(length) > self.max_body):
            await self._too_large(send)
            return
        outcome: dict[str, str] = {"result": "no response"}
        try:
            await self.app(scope, self._counted(receive), self._watched(send, outcome))
        except _TooLarge:
            await self._too_large(send)
            outcome["result"] = "413"
        await self._account(scope, outcome["result"])

    async def _too_large(self, send: Any) -> None:
        await _reply(send, 413, "too_large", f"request bodies are limited to "
                     f"{self.max_body} bytes")

    def _counted(self, receive: Any) -> Any:
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message: dict[str, Any] = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:  # a chunked body that lied by omission
                raise _TooLarge
            return message
        return counted

    @staticmethod
    def _watched(send: Any, outcome: dict[str, str]) -> Any:
        async def watched(message: dict[str, Any]) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                outcome["result"] = str(message["status"])
            elif kind == "websocket.accept":
                outcome["result"] = "accepted"
            elif kind == "websocket.close" and outcome["result"] == "no response":
                outcome["result"] = f"refused {message.get('code', '')}".strip()
            await send(message)
        return watched

    async def _account(self, scope: dict[str, Any], result: str) -> None:
        path = str(scope.get("path", ""))
        method = "WS" if scope["type"] == "websocket" else str(scope.get("method", ""))
        handle = _CONTAINER_PATH.match(path)
        if handle:
            await asyncio.to_thread(self.recorder.touch, handle.group(1))
        if path in _UNAUDITED:
            return
        target = _TARGET_PATH.match(path)
        await asyncio.to_thread(self.recorder.record_request, actor(scope.get(PEER_KEY)),
                                f"{method} {path}", target.group(1) if target else "", result)
