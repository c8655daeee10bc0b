"""Routes for processes: run, list, inspect, signal, and attach over a WebSocket.

The protocol is in `stockade.wire.stream` and docs/api.md ("Process streams"); the relay
itself is `stockade.attach.relay`. Errors are raised as stockade errors (the app maps them
to JSON bodies); on the WebSocket they close the connection with a 4xxx code and a
one-line reason.
"""

import asyncio
import contextlib
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response, WebSocket

from stockade.api import access
from stockade.api.access import IDENTITY_KEY
from stockade.api.routes.deps import OwnedHandle
from stockade.attach.relay import Relay
from stockade.attach.table import ProcessTable
from stockade.errors import StockadeError
from stockade.runtime.logfile import Cursor
from stockade.wire import stream as wsproto
from stockade.wire.process import ProcessInfo, ProcessRequest, SignalRequest

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
async def attach(websocket: WebSocket, handle: str, process_id: str, stdin: bool = False,
                 after: str | None = None) -> None:
    """Its output from the oldest kept (after the cursor `after`, or from now with
    `after=end`), followed live; stdin and control messages in."""
    daemon = websocket.app.state.daemon
    table: ProcessTable = daemon.processes
    identity = websocket.scope.get(IDENTITY_KEY) or access.ROOT
    token = None
    try:
        cursor: Cursor | Literal["end"] | None = "end" if after == "end" else \
            Cursor.decode(after) if after is not None else None
        await asyncio.to_thread(access.check_visible, daemon.engine, identity, handle)
        source = await asyncio.to_thread(table.source, handle, process_id)
        if stdin:
            token = table.claim_stdin(handle, process_id)
    except StockadeError as exc:
        await websocket.accept()
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.close(wsproto.close_code_for(exc), wsproto.close_reason(str(exc)))
        return
    claimed = token

    def release() -> None:
        if claimed is not None:
            table.release_stdin(handle, process_id, claimed)

    await websocket.accept()
    with table.following(handle, process_id):
        await Relay(websocket, source, cursor, stdin, daemon.stopping, release).run()
