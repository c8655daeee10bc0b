"""Routes for processes: run, list, inspect, signal, and attach over a WebSocket.

The protocol is in `stockade.wire.stream` and docs/api.md ("Process streams"). Errors are
raised as stockade errors (the app maps them to JSON bodies); on the WebSocket they close
the connection with a 4xxx code and a one-line reason.
"""

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, WebSocket
from starlette.websockets import WebSocketDisconnect

from stockade.api import access
from stockade.api.access import IDENTITY_KEY
from stockade.api.outbuf import Follower
from stockade.api.process import Process
from stockade.api.proctable import INIT_ID, ProcessTable, TableSettings
from stockade.api.routes.deps import OwnedHandle
from stockade.errors import StockadeError
from stockade.wire import stream as wsproto
from stockade.wire.process import ProcessInfo, ProcessRequest, SignalRequest
from stockade.wire.stream import Control, ProtocolError

__all__ = ["INIT_ID", "ProcessTable", "TableSettings", "router"]

router = APIRouter(tags=["processes"])
_BASE = "/v1/containers/{handle}/processes"


def _table(request: Request) -> ProcessTable:
    table: ProcessTable = request.app.state.processes
    return table


Table = Annotated[ProcessTable, Depends(_table)]


@router.post(_BASE, status_code=201)
def run_process(handle: OwnedHandle, body: ProcessRequest, table: Table) -> ProcessInfo:
    """Start a process; attach to its id for its output, stdin and exit code."""
    return table.spawn(handle, body)


@router.get(_BASE)
def list_processes(handle: OwnedHandle, table: Table) -> list[ProcessInfo]:
    """Running processes and those that ended recently; `init` when created attached."""
    return table.list(handle)


@router.get(_BASE + "/{process_id}")
def get_process(handle: OwnedHandle, process_id: str, table: Table) -> ProcessInfo:
    return table.info(handle, process_id)


@router.post(_BASE + "/{process_id}/signal", status_code=204, response_class=Response)
def signal_process(handle: OwnedHandle, process_id: str, body: SignalRequest, table: Table) -> None:
    table.signal(handle, process_id, body.signal)


@router.websocket(_BASE + "/{process_id}/attach")
async def attach(websocket: WebSocket, handle: str, process_id: str,
                 stdin: bool = False) -> None:
    """Replay the kept output, follow it live, forward stdin and control messages."""
    table: ProcessTable = websocket.app.state.processes
    identity = websocket.scope.get(IDENTITY_KEY) or access.ROOT
    try:
        await asyncio.to_thread(access.check_visible, websocket.app.state.engine, identity,
                                handle)
        process = await asyncio.to_thread(table.get, handle, process_id)
        session = Session(websocket, process, stdin)  # following before the handshake ends
    except StockadeError as exc:
        await websocket.accept()
        await _close(websocket, wsproto.close_code_for(exc), str(exc))
        return
    try:
        await websocket.accept()
        await session.run()
    finally:
        session.release()


class Session:
    """One attacher: output out, stdin and control messages in."""

    def __init__(self, websocket: WebSocket, process: Process, stdin: bool) -> None:
        self._ws = websocket
        self._process = process
        self._token = process.claim_stdin() if stdin else None
        self._follower = Follower(process.output)

    def release(self) -> None:
        self._follower.close()
        if self._token is not None:
            self._process.release_stdin(self._token)

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_output())
        receiver = asyncio.create_task(self._receive_input())
        done, pending = await asyncio.wait({sender, receiver},
                                           return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        failures = {task: task.exception() for task in done}
        if isinstance(failures.get(receiver), ProtocolError):
            await _close(self._ws, wsproto.CLOSE_BAD_REQUEST, str(failures[receiver]))
        elif any(failures.values()):
            await _close(self._ws, wsproto.CLOSE_INTERNAL, "the process stream failed")

    async def _send_output(self) -> None:
        """Everything kept and new, then how the process ended (or that it is gone)."""
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):  # client left
            async for chunk in self._follower.chunks():
                await self._ws.send_bytes(wsproto.encode_output(chunk.stream, chunk.data))
            ended = self._process.exit_message()
            if ended is None:
                await _close(self._ws, wsproto.CLOSE_GONE,
                             f"process {self._process.id} is gone: its container was "
                             "destroyed or the daemon is stopping")
                return
            await self._ws.send_text(wsproto.encode_message(ended))
            await _close(self._ws, wsproto.CLOSE_NORMAL, "")

    async def _receive_input(self) -> None:
        """Until the client leaves; a protocol violation ends it with ProtocolError."""
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                self._need_stdin("stdin data")
                await asyncio.to_thread(self._process.write_stdin, message["bytes"])
            elif message.get("text") is not None:
                await self._control(wsproto.parse_control(message["text"]))

    async def _control(self, control: Control) -> None:
        if control.signal is not None:
            with contextlib.suppress(StockadeError):  # it ended meanwhile: nothing to do
                await asyncio.to_thread(self._process.signal, control.signal)
        elif control.resize is not None:
            self._need_stdin("resize")
            await asyncio.to_thread(self._process.resize, control.resize)
        else:
            self._need_stdin("eof")
            await asyncio.to_thread(self._process.close_stdin)

    def _need_stdin(self, what: str) -> None:
        if self._token is None:
            raise ProtocolError(f"{what} needs the stdin attachment: connect with ?stdin=true")


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, OSError):  # already closed by the other side
        await websocket.close(code, wsproto.close_reason(reason))
