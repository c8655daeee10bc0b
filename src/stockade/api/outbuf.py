"""A process's recent output, kept for any number of followers.

The pump thread appends; followers (WebSocket attachers on the event loop) read from their
own cursor. While followers are attached the pump waits for the slowest one, so nothing is
lost to them and a process cannot outrun its readers by more than the limit. With nobody
attached the process never blocks: only the last `limit` bytes are kept for late attachers.
Right after start the pump also waits (up to `hold_s`) for a first follower, so a client
that starts a process and then attaches sees all of its output.
"""

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from stockade.wire.stream import Stream

MERGE_BYTES = 4096  # small writes (a tty echoes byte by byte) share one chunk
BATCH_BYTES = 1 << 16  # what one read hands a follower at most, merged by stream


@dataclass(frozen=True)
class Chunk:
    offset: int  # position of data[0] in the process's whole output
    stream: Stream
    data: bytes

    @property
    def end(self) -> int:
        return self.offset + len(self.data)

    def tail(self, position: int) -> "Chunk":
        """This chunk from `position` on."""
        skip = max(0, position - self.offset)
        return Chunk(self.offset + skip, self.stream, self.data[skip:]) if skip else self


class Cursor:
    """One follower's position; the buffer keeps what it has not read."""

    def __init__(self, position: int, wake: Callable[[], None]) -> None:
        self.position = position
        self.wake = wake


def merge(chunks: list[Chunk], limit: int = BATCH_BYTES) -> list[Chunk]:
    """Adjacent chunks of one stream as one, each at most `limit` bytes."""
    merged: list[Chunk] = []
    for chunk in chunks:
        last = merged[-1] if merged else None
        if last and last.stream == chunk.stream and last.end == chunk.offset \
                and len(last.data) + len(chunk.data) <= limit:
            merged[-1] = Chunk(last.offset, last.stream, last.data + chunk.data)
        else:
            merged.append(chunk)
    return merged


class OutputBuffer:
    """Thread-safe; see the module docstring for who waits for whom."""

    def __init__(self, limit: int = 1 << 20, hold_s: float = 5.0) -> None:
        self.limit = limit
        self._cond = threading.Condition()
        self._chunks: deque[Chunk] = deque()
        self._start = 0
        self._end = 0
        self._closed = False
        self._cursors: list[Cursor] = []
        self._hold_until = time.monotonic() + hold_s
        self._followed = False

    # -- the producer -----------------------------------------------------------------

    def _floor(self) -> int:
        """Output before this position may be dropped."""
        if self._cursors:
            return min(cursor.position for cursor in self._cursors)
        if not self._followed and time.monotonic() < self._hold_until:
            return self._start
        return self._end

    def _has_room(self) -> bool:
        return self._end - self._floor() < self.limit

    def wait_for_room(self, stop: threading.Event, tick: float = 0.2) -> None:
        """Block the producer while the slowest follower is `limit` behind (or until stop)."""
        with self._cond:
            while not self._closed and not stop.is_set() and not self._has_room():
                self._cond.wait(tick)

    def append(self, stream: Stream, data: bytes) -> None:
        if not data:
            return
        with self._cond:
            if self._closed:
                return
            last = self._chunks[-1] if self._chunks else None
            if last and last.stream == stream and len(last.data) + len(data) <= MERGE_BYTES:
                self._chunks[-1] = Chunk(last.offset, stream, last.data + data)
            else:
                self._chunks.append(Chunk(self._end, stream, data))
            self._end += len(data)
            self._trim()
            cursors = list(self._cursors)
        for cursor in cursors:
            cursor.wake()

    def _trim(self) -> None:
        floor = self._floor()
        excess = self._end - self._start - self.limit
        while excess > 0 and self._chunks and self._chunks[0].offset < floor:
            first = self._chunks[0]
            drop = min(len(first.data), excess, floor - first.offset)
            if drop == len(first.data):
                self._chunks.popleft()
            else:
                self._chunks[0] = first.tail(first.offset + drop)
            self._start += drop
            excess -= drop

    def close(self) -> None:
        """No more output; followers finish once they have read the rest."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            cursors = list(self._cursors)
        for cursor in cursors:
            cursor.wake()

    # -- followers -----------------------------------------------------------------------

    def attach(self, wake: Callable[[], None]) -> Cursor:
        """A cursor at the oldest output still kept; `wake` is called on news."""
        with self._cond:
            cursor = Cursor(self._start, wake)
            self._cursors.append(cursor)
            self._followed = True
            return cursor

    def detach(self, cursor: Cursor) -> None:
        with self._cond:
            if cursor in self._cursors:
                self._cursors.remove(cursor)
            self._trim()
            self._cond.notify_all()

    def read(self, cursor: Cursor) -> tuple[list[Chunk], bool]:
        """Output after the cursor (up to a batch) and whether no more will come."""
        with self._cond:
            position = max(cursor.position, self._start)
            pending: list[Chunk] = []
            for chunk in reversed(self._chunks):
                if chunk.end <= position:
                    break
                pending.append(chunk)
            pending.reverse()
            batch: list[Chunk] = []
            size = 0
            for chunk in pending:
                piece = chunk.tail(position)
                batch.append(piece)
                size += len(piece.data)
                if size >= BATCH_BYTES:
                    break
            return merge(batch), self._closed and not batch

    def advance(self, cursor: Cursor, position: int) -> None:
        """The follower has passed `position` on; the producer may go on."""
        with self._cond:
            cursor.position = position
            self._trim()
            self._cond.notify_all()


class Follower:
    """An event-loop reader of one buffer; create it on the loop it will be read on."""

    def __init__(self, buffer: OutputBuffer) -> None:
        self._buffer = buffer
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._cursor = buffer.attach(self._wake)

    def _wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody to tell
            self._loop.call_soon_threadsafe(self._ready.set)

    async def chunks(self) -> AsyncIterator[Chunk]:
        """Every chunk until the buffer is closed and read; the cursor moves on only once
        the consumer has taken a chunk, so a slow consumer holds the producer back."""
        while True:
            self._ready.clear()
            batch, done = self._buffer.read(self._cursor)
            if done:
                return
            for chunk in batch:
                yield chunk
                self._buffer.advance(self._cursor, chunk.end)
            if not batch:
                await self._ready.wait()

    def close(self) -> None:
        self._buffer.detach(self._cursor)
