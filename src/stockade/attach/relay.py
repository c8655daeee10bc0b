"""One attacher of one process: its output out, its stdin and control messages in.

The output is read from the process's log file, which its monitor writes whether or not
anyone is attached: an attacher starts at the oldest record kept (or after the cursor it
was given) and follows. After each batch it is sent a cursor, so a client that lost its
connection (a daemon restart) resumes exactly where it was. Once the process has ended and
its monitor has written everything, the exit message follows and the stream closes.

The protocol is in `stockade.wire.stream` and docs/api.md ("Process streams").
"""

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, Literal, Protocol

from stockade.attach.source import Gone, Source
from stockade.attach.stdin import AttachSocket
from stockade.errors import StockadeError
from stockade.runtime import conmon as monitor
from stockade.runtime.logfile import Cursor, Follower, Record
from stockade.wire import stream as wsproto
from stockade.wire.stream import Control, CursorMessage, ProtocolError, Stream

IDLE_S = 0.02  # how long the follower sleeps when the log has nothing new
END_CHECK_S = 0.02  # how often an idle follower asks whether the process has ended (cheap)
BATCH_BYTES = 1 << 16


class Channel(Protocol):
    """The parts of a WebSocket the relay uses (starlette's, in the daemon)."""

    async def send_bytes(self, data: bytes) -> None: ...
    async def send_text(self, data: str) -> None: ...
    async def receive(self) -> Any: ...
    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class Relay:
    """Runs until the process ends and its output is sent, the client leaves, or the
    daemon stops (then the client is told to come back: 1001, going away)."""

    def __init__(self, channel: Channel, source: Source, after: Cursor | Literal["end"] | None,
                 stdin: bool, stopping: threading.Event,
                 release: Callable[[], None] = lambda: None) -> None:
        self._ws = channel
        self._source = source
        self._after = after
        self._stdin = AttachSocket(source.paths.attach_socket) if stdin else None
        self._stopping = stopping
        self._release = release

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_output())
        receiver = asyncio.create_task(self._receive_input())
        try:
            done, pending = await asyncio.wait({sender, receiver},
                                               return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            failures = {task: task.exception() for task in done}
            if isinstance(failures.get(receiver), ProtocolError):
                await _close(self._ws, wsproto.CLOSE_BAD_REQUEST, str(failures[receiver]))
            elif isinstance(failures.get(receiver), StockadeError):
                await _close(self._ws, wsproto.close_code_for(failures[receiver]),  # type: ignore[arg-type]
                             str(failures[receiver]))
            elif any(failures.values()):
                await _close(self._ws, wsproto.CLOSE_INTERNAL, "the process stream failed")
        finally:
            if self._stdin is not None:
                await self._stdin.close()
            self._release()

    # -- out ---------------------------------------------------------------------------

    async def _send_output(self) -> None:
        follower = Follower(self._source.files, self._after)
        try:
            with contextlib.suppress(OSError, RuntimeError):  # the client left
                await self._follow(follower)
        finally:
            follower.close()

    async def _follow(self, follower: Follower) -> None:
        loop = asyncio.get_running_loop()
        next_check = 0.0
        ended: Any = None
        while True:
            records = follower.poll(BATCH_BYTES)
            if records:
                await self._send_records(records, follower.cursor)
                continue
            if ended is not None:  # drained after the end: done
                await self._finish(ended)
                return
            if self._stopping.is_set():
                await _close(self._ws, wsproto.CLOSE_GOING_AWAY,
                             "the daemon is stopping; attach again to follow on")
                return
            if loop.time() >= next_check:
                next_check = loop.time() + END_CHECK_S
                ended = await asyncio.to_thread(self._source.ended)
                if ended is not None:
                    continue  # one more read: what was written before the end
            await asyncio.sleep(IDLE_S)

    async def _send_records(self, records: list[Record], cursor: Cursor | None) -> None:
        for stream, data in _merged(records):
            await self._ws.send_bytes(wsproto.encode_output(stream, data))
        if cursor is not None:
            await self._ws.send_text(wsproto.encode_message(CursorMessage(
                cursor=cursor.encode())))

    async def _finish(self, ended: Any) -> None:
        if isinstance(ended, Gone):
            await _close(self._ws, wsproto.CLOSE_GONE, ended.reason)
            return
        await self._ws.send_text(wsproto.encode_message(ended))
        await _close(self._ws, wsproto.CLOSE_NORMAL, "")

    # -- in ----------------------------------------------------------------------------

    async def _receive_input(self) -> None:
        """Until the client leaves; a protocol violation ends it with ProtocolError."""
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await self._write(message["bytes"])
            elif message.get("text") is not None:
                await self._control(wsproto.parse_control(message["text"]))

    async def _write(self, data: bytes) -> None:
        stdin = self._need_stdin("stdin data")
        with contextlib.suppress(OSError):  # its stdin closed or it ended: dropped, as a pipe
            await stdin.send(data)

    async def _control(self, control: Control) -> None:
        if control.signal is not None:
            with contextlib.suppress(StockadeError):  # it ended meanwhile: nothing to do
                await asyncio.to_thread(self._source.signal, control.signal)
        elif control.resize is not None:
            self._need_stdin("resize")
            rows, cols = control.resize.rows, control.resize.cols
            await asyncio.to_thread(monitor.resize, self._source.paths, rows, cols)
        else:
            await self._need_stdin("eof").eof()

    def _need_stdin(self, what: str) -> AttachSocket:
        if self._stdin is None:
            raise ProtocolError(f"{what} needs the stdin attachment: connect with ?stdin=true")
        return self._stdin


def _merged(records: list[Record]) -> list[tuple[Stream, bytes]]:
    """Consecutive records of one stream as one frame."""
    frames: list[tuple[Stream, bytearray]] = []
    for record in records:
        if frames and frames[-1][0] == record.stream:
            frames[-1][1].extend(record.payload())
        else:
            frames.append((record.stream, bytearray(record.payload())))
    return [(stream, bytes(data)) for stream, data in frames]


async def _close(channel: Channel, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, OSError):  # already closed by the other side
        await channel.close(code, wsproto.close_reason(reason))


