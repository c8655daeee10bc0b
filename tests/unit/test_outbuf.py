"""The output buffer: bounded replay, followers pace the producer, the first-attach hold."""

import asyncio
import threading
import time

from hypothesis import given
from hypothesis import strategies as st

from stockade.api.outbuf import Chunk, Follower, OutputBuffer, merge
from stockade.wire.stream import Stream

OUT, ERR = Stream.STDOUT, Stream.STDERR


def _nothing() -> None:
    pass


def _read_all(buffer: OutputBuffer) -> bytes:
    cursor = buffer.attach(_nothing)
    data = b""
    while True:
        batch, done = buffer.read(cursor)
        if not batch:
            buffer.detach(cursor)
            return data
        for chunk in batch:
            data += chunk.data
            buffer.advance(cursor, chunk.end)
        if done:
            return data


def test_without_followers_only_the_last_limit_bytes_are_kept() -> None:
    buffer = OutputBuffer(limit=10, hold_s=0)
    for piece in (b"0123456789", b"abcdef"):
        buffer.append(OUT, piece)
    assert _read_all(buffer) == b"6789abcdef"


def test_before_the_first_follower_nothing_is_dropped_and_the_producer_waits() -> None:
    buffer = OutputBuffer(limit=4, hold_s=30)
    buffer.append(OUT, b"12345")
    stop = threading.Event()
    waited = threading.Thread(target=buffer.wait_for_room, args=(stop, 0.01))
    waited.start()
    waited.join(0.2)
    assert waited.is_alive()  # held for the first reader
    assert _read_all(buffer) == b"12345"
    waited.join(5)
    assert not waited.is_alive()


def test_a_slow_follower_holds_the_producer_back_and_loses_nothing() -> None:
    buffer = OutputBuffer(limit=8, hold_s=0)
    cursor = buffer.attach(_nothing)
    buffer.append(OUT, b"abcdefgh")
    stop = threading.Event()
    waited = threading.Thread(target=buffer.wait_for_room, args=(stop, 0.01))
    waited.start()
    waited.join(0.2)
    assert waited.is_alive()
    batch, _ = buffer.read(cursor)
    buffer.advance(cursor, batch[-1].end)
    waited.join(5)
    assert not waited.is_alive()
    buffer.append(ERR, b"ij")
    assert [(c.stream, c.data) for c in buffer.read(cursor)[0]] == [(ERR, b"ij")]


def test_stop_releases_a_waiting_producer() -> None:
    buffer = OutputBuffer(limit=1, hold_s=0)
    buffer.attach(_nothing)
    buffer.append(OUT, b"xx")
    stop = threading.Event()
    stop.set()
    buffer.wait_for_room(stop)  # returns at once


def test_reading_ends_after_close_once_everything_is_read() -> None:
    buffer = OutputBuffer()
    cursor = buffer.attach(_nothing)
    buffer.append(OUT, b"a")
    buffer.close()
    buffer.append(OUT, b"ignored")
    batch, done = buffer.read(cursor)
    assert [c.data for c in batch] == [b"a"] and not done
    buffer.advance(cursor, batch[-1].end)
    assert buffer.read(cursor) == ([], True)


@given(st.lists(st.tuples(st.sampled_from(Stream), st.binary(min_size=1, max_size=5000)),
                max_size=30),
       st.integers(min_value=1, max_value=20000))
def test_replay_is_the_tail_of_the_output_per_stream_in_order(
        writes: list[tuple[Stream, bytes]], limit: int) -> None:
    buffer = OutputBuffer(limit=limit, hold_s=0)
    for stream, data in writes:
        buffer.append(stream, data)
    whole = b"".join(data for _, data in writes)
    cursor = buffer.attach(_nothing)
    got: list[Chunk] = []
    while (batch := buffer.read(cursor)[0]):
        got.extend(batch)
        buffer.advance(cursor, batch[-1].end)
    replay = b"".join(c.data for c in got)
    assert replay == whole[len(whole) - len(replay):]
    assert len(replay) == min(len(whole), limit)
    tagged = [(stream, offset) for stream, data in writes
              for offset in range(len(data))]
    flat = [(c.stream, i) for c in got for i in range(len(c.data))]
    assert [s for s, _ in flat] == [s for s, _ in tagged[len(tagged) - len(flat):]]


def test_merge_joins_neighbours_of_one_stream_only() -> None:
    chunks = [Chunk(0, OUT, b"a"), Chunk(1, OUT, b"b"), Chunk(2, ERR, b"c"), Chunk(3, OUT, b"d")]
    assert merge(chunks) == [Chunk(0, OUT, b"ab"), Chunk(2, ERR, b"c"), Chunk(3, OUT, b"d")]
    assert merge(chunks[:2], limit=1) == chunks[:2]


def test_an_async_follower_gets_output_from_another_thread() -> None:
    buffer = OutputBuffer()

    def produce() -> None:
        for i in range(50):
            buffer.append(OUT if i % 2 else ERR, str(i).encode())
            time.sleep(0.001)
        buffer.close()

    async def follow() -> list[Chunk]:
        follower = Follower(buffer)
        threading.Thread(target=produce).start()
        try:
            return [chunk async for chunk in follower.chunks()]
        finally:
            follower.close()

    got = asyncio.run(asyncio.wait_for(follow(), 10))
    assert b"".join(c.data for c in got) == b"".join(str(i).encode() for i in range(50))
