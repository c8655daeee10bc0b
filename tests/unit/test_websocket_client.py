"""The standard library WebSocket client (client/websocket.py): against the `websockets`
library's own server (an independent implementation of RFC 6455) on a unix socket, and
raw frames over a socket pair for what a server could send."""

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.sync.server import ServerConnection, unix_serve

from stockade.client.websocket import (
    CLOSE_ABNORMAL,
    MAX_MESSAGE,
    Closed,
    Refused,
    WebSocket,
    open_websocket,
)

Handler = Callable[[ServerConnection], None]


@contextlib.contextmanager
def server(tmp_path: Path, handler: Handler, **options: object) -> Iterator[Path]:
    path = tmp_path / "ws.sock"
    with unix_serve(handler, str(path), **options) as serving:
        thread = threading.Thread(target=serving.serve_forever, daemon=True)
        thread.start()
        try:
            yield path
        finally:
            serving.shutdown()
            thread.join(10)


def connect(path: Path, target: str = "/x", headers: list[str] | None = None) -> WebSocket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    return open_websocket(sock, target, headers or [])


def test_messages_both_ways_with_headers_and_query(tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    def echo(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen["path"] = ws.request.path
        seen["auth"] = ws.request.headers.get("Authorization")
        for message in ws:
            ws.send(message)

    big = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit: the 64-bit length form
    with server(tmp_path, echo, max_size=None) as path, \
            connect(path, "/a?b=c", ["Authorization: Bearer t"]) as ws:
        for message in ("text", "ü" * 200, b"", b"\x00\xff" * 40000, big):
            ws.send(message)
            assert ws.recv() == message
    assert seen == {"path": "/a?b=c", "auth": "Bearer t"}


def test_fragmented_messages_and_pings_from_the_server(tmp_path: Path) -> None:
    answered = threading.Event()

    def handler(ws: ServerConnection) -> None:
        ws.send([b"frag", b"mented"])  # one message in two frames
        pong = ws.ping(b"are you there")
        ws.send(["te", "xt"])
        answered.set() if pong.wait(5) else None
        ws.close(4404, "no such container")

    with server(tmp_path, handler) as path, connect(path) as ws:
        assert ws.recv() == b"fragmented"
        assert ws.recv() == "text"
        with pytest.raises(Closed) as closed:
            ws.recv()
    assert (closed.value.code, closed.value.reason) == (4404, "no such container")
    assert answered.is_set()


def test_a_refused_handshake_carries_the_answer(tmp_path: Path) -> None:
    def refuse(conn: ServerConnection, request: object) -> object:
        return conn.respond(403, '{"error": "forbidden"}')

    with server(tmp_path, lambda ws: None, process_request=refuse) as path, \
            pytest.raises(Refused) as refused:
        connect(path)
    assert refused.value.response.status == 403
    assert b"forbidden" in refused.value.response.content


def test_a_dropped_connection_is_abnormal_and_sends_fail_after_it(tmp_path: Path) -> None:
    def drop(ws: ServerConnection) -> None:
        ws.socket.shutdown(socket.SHUT_RDWR)

    with server(tmp_path, drop) as path, connect(path) as ws:
        with pytest.raises(Closed) as closed:
            ws.recv()
        assert closed.value.code == CLOSE_ABNORMAL
        with pytest.raises(Closed):
            ws.send("late")


# -- raw frames, as any server could send them -----------------------------------------

def frame(opcode: int, payload: bytes, fin: bool = True, extra: int = 0) -> bytes:
    first = (0x80 if fin else 0) | extra | opcode
    if len(payload) < 126:
        return struct.pack("!BB", first, len(payload)) + payload
    if len(payload) < 1 << 16:
        return struct.pack("!BBH", first, 126, len(payload)) + payload
    return struct.pack("!BBQ", first, 127, len(payload)) + payload


def pair(data: bytes) -> WebSocket:
    ours, theirs = socket.socketpair()
    theirs.sendall(data)
    theirs.close()
    return WebSocket(ours)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(1, 50), max_size=6),
       st.booleans())
def test_any_fragmentation_gives_the_message_back(payload: bytes, cuts: list[int],
                                                  text: bool) -> None:
    if text:
        payload = payload.decode(errors="replace").encode()
    pieces, rest = [], payload
    for cut in cuts:
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    data = b"".join(frame((1 if text else 2) if i == 0 else 0, piece,
                          fin=i == len(pieces) - 1) for i, piece in enumerate(pieces))
    with pair(frame(9, b"ping") + data) as ws:
        assert ws.recv() == (payload.decode() if text else payload)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_garbage_from_the_server_ends_in_closed_never_a_crash(data: bytes) -> None:
    with pair(data) as ws, contextlib.suppress(Closed):
        while True:
            ws.recv()


@pytest.mark.parametrize("data, fragment", [
    (frame(2, b"x", extra=0x40), "reserved bit"),
    (bytes([0x82, 0x81]) + b"mask" + b"x", "masked"),
    (frame(3, b"x"), "opcode"),
    (frame(9, b"x", fin=False), "control frame"),
    (frame(0, b"x"), "continuation"),
    (frame(2, b"a", fin=False) + frame(2, b"b"), "continuation"),
    (frame(1, b"\xff\xfe"), "UTF-8"),
    (struct.pack("!BBQ", 0x82, 127, MAX_MESSAGE + 1), "over"),
])
def test_protocol_violations_are_named(data: bytes, fragment: str) -> None:
    with pair(data) as ws, pytest.raises(Closed, match=fragment):
        ws.recv()
