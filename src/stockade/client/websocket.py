"""The client side of a WebSocket (RFC 6455) over a connected stream socket, with the
standard library only.

Why not the `websockets` library, which the daemon's server side uses (through uvicorn):
every foreground `stockade run` and `exec` opens a process stream, and importing
`websockets.sync.client` costs more than the CLI's whole share of `run --rm -- true`
(issue 18's goal is 40 ms; measured here with `python -X importtime`, docs/performance.md
section 7). The process-stream protocol (wire/stream.py) needs a small part of RFC 6455:
one client connection, text and binary messages, fragmented messages from the server,
ping answered with pong, and the closing handshake. No extension is offered (so none is
accepted: a frame with a reserved bit set is refused), and no subprotocol.

The socket comes from the transport (client/transport.py), so the same code runs over the
daemon's unix socket and over TCP with TLS. Receiving happens in one thread; sending may
happen from another (stdin while the output is read) and is serialised by a lock, which is
also taken to answer a ping.
"""

import base64
import contextlib
import os
import socket as sockets
import struct
import threading
from typing import NoReturn

from stockade.client.transport import MalformedResponse, Response

try:  # the interpreter's own SHA-1: hashlib would load OpenSSL first, 2 ms of every stream's
    # start-up, for one hash of 60 bytes in the handshake
    from _sha1 import sha1  # type: ignore[import-not-found]
except ImportError:  # an interpreter built without it
    from hashlib import sha1

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
MAX_MESSAGE = 16 << 20  # the daemon sends output in frames of at most a few hundred KiB
_READ = 65536
_MAX_HEAD = 65536

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
CLOSE_NORMAL_NO_STATUS = 1005  # RFC 6455: a close frame without a code
CLOSE_ABNORMAL = 1006  # RFC 6455: no close frame arrived (never sent on the wire)
CLOSE_PROTOCOL = 1002
CLOSE_TOO_BIG = 1009


class Closed(ConnectionError):
    """The connection ended: by a close frame (its code and reason) or, with code 1006,
    by the peer going away without one."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"closed ({code}){': ' + reason if reason else ''}")
        self.code = code
        self.reason = reason


class Refused(ConnectionError):
    """The server answered the handshake with something other than 101: its answer."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"the daemon refused the connection (HTTP {response.status})")
        self.response = response


class WebSocket:
    """An open connection; made by `open_websocket`."""

    def __init__(self, sock: sockets.socket, pending: bytes = b"") -> None:
        self.socket = sock
        self._buffer = bytearray(pending)
        self._send_lock = threading.Lock()
        self._close_sent = False
        self._closed: Closed | None = None

    def __enter__(self) -> "WebSocket":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- receiving --------------------------------------------------------------------

    def recv(self) -> str | bytes:
        """The next message: text as str, binary as bytes. Raises Closed at the end."""
        if self._closed is not None:
            raise self._closed
        opcode: int | None = None
        parts: list[bytes] = []
        size = 0
        while True:
            fin, op, payload = self._frame()
            if op >= OP_CLOSE:
                self._control(op, payload)
                continue
            if (op == OP_CONTINUATION) != (opcode is not None):
                self._fail(CLOSE_PROTOCOL, "a continuation frame out of place")
            opcode = op if opcode is None else opcode
            size += len(payload)
            if size > MAX_MESSAGE:
                self._fail(CLOSE_TOO_BIG, f"a message over {MAX_MESSAGE} bytes")
            parts.append(payload)
            if fin:
                break
        data = b"".join(parts)
        if opcode == OP_TEXT:
            try:
                return data.decode()
            except UnicodeDecodeError:
                self._fail(1007, "a text message that is not UTF-8")
        return data

    def _frame(self) -> tuple[bool, int, bytes]:
        """One whole frame. The buffer is consumed only once the frame is whole, so an
        interruption (^C) while waiting leaves the connection readable."""
        while True:
            frame = self._parse()
            if frame is not None:
                return frame
            try:
                data = self.socket.recv(_READ)
            except ConnectionResetError:
                data = b""
            if not data:
                self._closed = Closed(CLOSE_ABNORMAL, "")
                raise self._closed
            self._buffer += data

    def _parse(self) -> tuple[bool, int, bytes] | None:
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        first, second = buffer[0], buffer[1]
        if first & 0x70:
            self._fail(CLOSE_PROTOCOL, "a frame with a reserved bit set (no extension "
                       "was agreed)")
        if second & 0x80:
            self._fail(CLOSE_PROTOCOL, "a masked frame from the server")
        opcode, length, start = first & 0x0F, second & 0x7F, 2
        if opcode not in (OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG):
            self._fail(CLOSE_PROTOCOL, f"unknown opcode {opcode}")
        if opcode >= OP_CLOSE and (length > 125 or not first & 0x80):
            self._fail(CLOSE_PROTOCOL, "a control frame that is fragmented or too long")
        if length == 126:
            if len(buffer) < 4:
                return None
            (length,) = struct.unpack_from("!H", buffer, 2)
            start = 4
        elif length == 127:
            if len(buffer) < 10:
                return None
            (length,) = struct.unpack_from("!Q", buffer, 2)
            start = 10
        if length > MAX_MESSAGE:
            self._fail(CLOSE_TOO_BIG, f"a frame over {MAX_MESSAGE} bytes")
        if len(buffer) < start + length:
            return None
        payload = bytes(buffer[start:start + length])
        del buffer[:start + length]
        return bool(first & 0x80), opcode, payload

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            with contextlib.suppress(OSError):  # gone: the next read says how it ended
                self._send_frame(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            code, reason = CLOSE_NORMAL_NO_STATUS, ""
            if len(payload) >= 2:
                (code,) = struct.unpack_from("!H", payload)
                reason = payload[2:].decode(errors="replace")
            self._closed = Closed(code, reason)
            self._answer_close(code)
            raise self._closed

    def _answer_close(self, code: int) -> None:
        """Echo the close (RFC 6455, 5.5.1); the server then ends the TCP connection."""
        if not self._close_sent:
            self._close_sent = True
            with contextlib.suppress(OSError):
                self._send_frame(OP_CLOSE, struct.pack("!H", code) if code != 1005 else b"")

    def _fail(self, code: int, why: str) -> NoReturn:
        self._answer_close(code)
        self._closed = Closed(code, f"the daemon broke the WebSocket protocol: {why}")
        raise self._closed

    # -- sending ----------------------------------------------------------------------

    def send(self, message: str | bytes) -> None:
        """One message: str as text, bytes as binary. Raises Closed once it has closed."""
        if self._close_sent or self._closed is not None:
            raise self._closed or Closed(CLOSE_ABNORMAL, "")
        if isinstance(message, str):
            self._send_frame(OP_TEXT, message.encode())
        else:
            self._send_frame(OP_BINARY, bytes(message))

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        # a client masks every frame (RFC 6455, 5.3); XOR through one big integer is fast
        length = len(payload)
        mask = os.urandom(4)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        keystream = (mask * (length // 4 + 1))[:length]
        masked = (int.from_bytes(payload, "little") ^ int.from_bytes(keystream, "little")
                  ).to_bytes(length, "little")
        with self._send_lock:
            self.socket.sendall(head + mask + masked)

    def close(self, code: int = 1000) -> None:
        """Say goodbye if nobody has yet, and let the socket go."""
        if self._closed is None:
            self._answer_close(code)
        with contextlib.suppress(OSError):
            self.socket.close()


def open_websocket(sock: sockets.socket, path: str, headers: list[str],
                   timeout: float = 30.0) -> WebSocket:
    """The opening handshake on `sock` for `path` (with its query); the connection. A
    refusal raises Refused with the daemon's answer (its error body), anything that is not
    a WebSocket answer MalformedResponse; the socket is closed either way."""
    key = base64.b64encode(os.urandom(16))
    request = "\r\n".join([f"GET {path} HTTP/1.1", "Host: stockade", "Upgrade: websocket",
                           "Connection: Upgrade", f"Sec-WebSocket-Key: {key.decode()}",
                           "Sec-WebSocket-Version: 13", *headers, "", ""])
    try:
        sock.settimeout(timeout)
        sock.sendall(request.encode())
        head, rest = _read_head(sock)
        status, fields = _parse_head(head)
        if status != 101:
            raise Refused(Response(status, fields, _read_body(sock, fields, rest)))
        expected = base64.b64encode(sha1(key + _GUID).digest()).decode()
        if fields.get("upgrade", "").lower() != "websocket" or \
                fields.get("sec-websocket-accept") != expected:
            raise MalformedResponse("the daemon's answer is not a WebSocket handshake")
        if fields.get("sec-websocket-extensions") or fields.get("sec-websocket-protocol"):
            raise MalformedResponse("the daemon chose an extension or subprotocol that "
                                    "was not offered")
        sock.settimeout(None)
    except BaseException:
        sock.close()
        raise
    return WebSocket(sock, rest)


def _read_head(sock: sockets.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > _MAX_HEAD:
            raise MalformedResponse("the daemon's answer has an over-long head")
        chunk = sock.recv(_READ)
        if not chunk:
            raise MalformedResponse("the daemon closed the connection before answering")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise MalformedResponse(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise MalformedResponse(f"not a header line: {line[:80]!r}")
        fields[name.strip().lower()] = value.strip()
    return int(parts[1]), fields


def _read_body(sock: sockets.socket, fields: dict[str, str], rest: bytes) -> bytes:
    """A refusal's body, framed by Content-Length (what the daemon sends), else until the
    peer closes; at most _MAX_HEAD bytes: it is one error message."""
    want = int(fields["content-length"]) if fields.get("content-length", "").isdigit() \
        else _MAX_HEAD
    body = rest
    while len(body) < min(want, _MAX_HEAD):
        chunk = sock.recv(_READ)
        if not chunk:
            break
        body += chunk
    return body[:want]
