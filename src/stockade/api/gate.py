"""What every request passes through: who is asking (and whether TCP callers proved it),
their request rate and open streams, a body size limit, the audit record and the
grace-time clock."""

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from stockade.api import errors
from stockade.api.access import IDENTITY_KEY, Identities, Identity
from stockade.api.peer import PEER_KEY, actor
from stockade.wire import stream as wsproto

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


class RateLimiter:
    """A token bucket per identity: `burst` requests at once, then `rate` a second.
    Runs on the event loop alone, so it needs no lock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, at)

    def allow(self, name: str, rate: float, burst: int) -> bool:
        now = self._clock()
        tokens, at = self._buckets.get(name, (float(burst), now))
        tokens = min(float(burst), tokens + (now - at) * rate)
        allowed = tokens >= 1
        self._buckets[name] = (tokens - 1 if allowed else tokens, now)
        return allowed


class Gate:
    def __init__(self, app: Any, recorder: Recorder, max_body: int,
                 identities: Identities, max_archive: int | None = None) -> None:
        self.app = app
        self.recorder = recorder
        self.max_body = max_body
        self.max_archive = max_archive or max_body
        self.identities = identities
        self.rates = RateLimiter()
        self.streams: Counter[str] = Counter()  # open WebSocket streams per identity

    def _identify(self, scope: dict[str, Any]) -> Identity | None:
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"").decode(errors="replace")
        return self.identities.identify(scope.get(PEER_KEY), given)

    def _over_limit(self, identity: Identity, websocket: bool) -> str | None:
        limits = identity.limits
        if limits is None:
            return None
        if limits.requests_per_second is not None and not self.rates.allow(
                identity.name, limits.requests_per_second, limits.burst):
            return (f"{identity.describe()} is over its request rate "
                    f"({limits.requests_per_second:g}/s, burst {limits.burst}): "
                    f"limit requests_per_second")
        if websocket and limits.process_streams is not None \
                and self.streams[identity.name] >= limits.process_streams:
            return (f"{identity.describe()} has {self.streams[identity.name]} process streams "
                    f"open: limit process_streams is {limits.process_streams}")
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        websocket = scope["type"] == "websocket"
        identity = self._identify(scope)
        if identity is None:
            if not websocket:
                await _reply(send, 401, "unauthorized", "a client certificate or token is needed")
            else:
                await send({"type": "websocket.close", "code": 4401})
            return
        scope = {**scope, IDENTITY_KEY: identity}
        over = self._over_limit(identity, websocket)
        if over is not None:
            if not websocket:
                await _reply(send, 429, "too_many", over)
            else:  # accepted first, so the client reads the code and reason (as process
                # streams close with theirs); closing before accept is a bare HTTP 403
                await receive()
                await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": 4429,
                            "reason": wsproto.close_reason(over)})
            await self._account(scope, "429")
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"0")
        limit = self._body_limit(scope)
        if not websocket and (not length.isdigit() or int(length) > limit):
            await self._too_large(send, limit)
            return
        outcome: dict[str, str] = {"result": "no response"}
        if websocket:
            self.streams[identity.name] += 1
        try:
            await self.app(scope, self._counted(receive, limit), self._watched(send, outcome))
        except _TooLarge:
            await self._too_large(send, limit)
            outcome["result"] = "413"
        finally:
            if websocket:
                self.streams[identity.name] -= 1
        await self._account(scope, outcome["result"])

    def _body_limit(self, scope: dict[str, Any]) -> int:
        """An archive copied into a container may be large; every other body is small."""
        if scope.get("method") == "PUT" and str(scope.get("path", "")).endswith("/archive"):
            return self.max_archive
        return self.max_body

    async def _too_large(self, send: Any, limit: int) -> None:
        await _reply(send, 413, "too_large", f"request bodies are limited to {limit} bytes")

    def _counted(self, receive: Any, limit: int) -> Any:
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message: dict[str, Any] = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:  # a chunked body that lied by omission
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
        # only a request that was answered counts as use: a refused one (another identity's
        # 404, a 429) must not keep someone's container from its grace time
        if handle and (result.startswith("2") or result == "accepted"):
            await asyncio.to_thread(self.recorder.touch, handle.group(1))
        if path in _UNAUDITED:
            return
        target = _TARGET_PATH.match(path)
        await asyncio.to_thread(self.recorder.record_request,
                                actor(scope.get(PEER_KEY), scope.get(IDENTITY_KEY)),
                                f"{method} {path}", target.group(1) if target else "", result)
