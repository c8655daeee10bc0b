"""The body of `GET /v1/containers/{handle}/logs`: NDJSON `LogRecord` lines.

What is written so far is read in blocks (runtime/logfile.py) in a worker thread, about
`CHUNK_BYTES` of lines per chunk, so memory stays bounded whatever the log's size. With
`follow` the log is then polled every `POLL_S` on the event loop (each poll reads at most
`CHUNK_BYTES` in a worker thread and returns; no thread waits for a follower), until the
container's main process has ended and the log is drained, or the client goes away (the
server cancels the body then)."""

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from stockade.runtime.logfile import (
    Cursor,
    Follower,
    LogFiles,
    Record,
    last_cursor,
    read_with_cursors,
)
from stockade.wire.logs import LogRecord, StreamName
from stockade.wire.stream import Stream

POLL_S = 0.05
ENDED_CHECK_S = 0.25  # how often an idle follower asks whether the container has ended
CHUNK_BYTES = 1 << 16
# with follow and until: once the clock is this far past `until` and the log is drained,
# no record stamped before it can still come
UNTIL_GRACE_NS = 200_000_000


@dataclass(frozen=True)
class LogQuery:
    follow: bool = False
    tail: int | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    after: Cursor | None = None
    streams: frozenset[Stream] = frozenset(Stream)

    def wanted(self, record: Record) -> bool:
        """The time filter (the log readers apply the stream filter)."""
        return (self.since_ns is None or record.time_ns >= self.since_ns) and \
            (self.until_ns is None or record.time_ns <= self.until_ns)


def to_wire(record: Record, cursor: Cursor) -> LogRecord:
    payload = record.payload()
    stream: StreamName = "stdout" if record.stream is Stream.STDOUT else "stderr"
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        return LogRecord(time=record.time, stream=stream, cursor=cursor.encode(),
                         data_b64=base64.b64encode(payload).decode("ascii"))
    return LogRecord(time=record.time, stream=stream, data=text, cursor=cursor.encode())


def _line(record: Record, cursor: Cursor) -> bytes:
    return to_wire(record, cursor).model_dump_json(exclude_none=True).encode() + b"\n"


def _history(files: LogFiles, query: LogQuery) -> Generator[tuple[bytes, Cursor], None, None]:
    """What the log holds now, as chunks of lines, each with the cursor after its last."""
    lines: list[bytes] = []
    size = 0
    last: Cursor | None = None
    for record, last in read_with_cursors(
            files, tail=query.tail, since_ns=query.since_ns, until_ns=query.until_ns,
            after=query.after, streams=query.streams):
        lines.append(_line(record, last))
        size += len(lines[-1])
        if size >= CHUNK_BYTES:
            yield b"".join(lines), last
            lines, size = [], 0
    if lines and last is not None:
        yield b"".join(lines), last


async def body(files: LogFiles, query: LogQuery,
               has_ended: Callable[[], bool]) -> AsyncIterator[bytes]:
    """The response body: the records kept, then (with follow) new ones as they come."""
    # where following begins if the history shows nothing: the end before it was read
    resume = await run_in_threadpool(last_cursor, files) if query.follow else None
    history = _history(files, query)
    try:
        async for chunk, cursor in iterate_in_threadpool(history):
            yield chunk
            resume = cursor
    finally:
        history.close()
    if not query.follow:
        return
    start = resume if resume is not None else query.after
    follower = await run_in_threadpool(Follower, files, start, query.streams)
    try:
        async for chunk in _follow(follower, query, has_ended):
            yield chunk
    finally:
        follower.close()


async def _follow(follower: Follower, query: LogQuery,
                  has_ended: Callable[[], bool]) -> AsyncIterator[bytes]:
    ended = False
    next_check = 0.0
    while True:
        batch = await run_in_threadpool(follower.poll_with_cursors, CHUNK_BYTES)
        lines: list[bytes] = []
        for record, cursor in batch:
            if query.until_ns is not None and record.time_ns > query.until_ns:
                if lines:
                    yield b"".join(lines)
                return
            if query.wanted(record):
                lines.append(_line(record, cursor))
        if lines:
            yield b"".join(lines)
        if not follower.caught_up:
            continue
        if ended:
            return  # drained after the end
        if query.until_ns is not None and time.time_ns() > query.until_ns + UNTIL_GRACE_NS:
            return
        if time.monotonic() >= next_check:
            next_check = time.monotonic() + ENDED_CHECK_S
            if await run_in_threadpool(has_ended):
                ended = True
                continue  # one more poll: what was written before the end
        await asyncio.sleep(POLL_S)
