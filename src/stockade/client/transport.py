"""HTTP/1.1 over the daemon's unix socket, with the standard library's socket and json only.

Why not httpx (or http.client): a command such as `stockade ps` makes one or two requests
and then exits, so what it pays for is import time, not throughput. Measured here with
`python -X importtime`: httpx costs 40-90 ms to import, http.client 18-25 ms (it parses
headers with the email package), socket and json together about 3 ms. The daemon (uvicorn)
speaks plain HTTP/1.1, and this module needs only the part of it the API uses: one request
per connection (`Connection: close`), a JSON body or none, and an answer framed by
Content-Length, by chunks (the streamed image routes) or by the end of the connection.
"""

import json
import socket as sockets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple
from urllib.parse import urlencode

MAX_LINE = 65536  # a status or header line; longer is not an answer from our daemon
MAX_HEADERS = 100


class MalformedResponse(ConnectionError):
    """The peer answered something that is not HTTP/1.1."""


class Response(NamedTuple):
    # NamedTuples, not dataclasses: `dataclasses` imports `inspect`, about 6 ms of every
    # one-shot command's start-up
    status: int
    headers: dict[str, str]  # names in lower case
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")


class _Reader:
    """The answer's bytes, as lines (head) and as a body framed one of three ways."""

    def __init__(self, conn: sockets.socket) -> None:
        self._file = conn.makefile("rb")

    def line(self) -> bytes:
        line = self._file.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise MalformedResponse("a header line of the answer is too long")
        if not line:
            raise MalformedResponse("the daemon closed the connection before answering")
        return line

    def head(self) -> tuple[int, dict[str, str]]:
        parts = self.line().split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise MalformedResponse(f"not an HTTP/1.1 status line: {parts[:2]!r}")
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            line = self.line().rstrip(b"\r\n")
            if not line:
                return int(parts[1]), headers
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise MalformedResponse(f"not a header line: {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        raise MalformedResponse(f"more than {MAX_HEADERS} header lines")

    def body(self, status: int, headers: dict[str, str]) -> Iterator[bytes]:
        if status in (204, 304) or 100 <= status < 200:
            return
        if "chunked" in headers.get("transfer-encoding", "").lower():
            yield from self._chunks()
        elif "content-length" in headers:
            size = int(headers["content-length"])
            data = self._file.read(size)
            if len(data) != size:
                raise MalformedResponse("the daemon closed the connection mid-answer")
            yield data
        else:
            while data := self._file.read1(65536):
                yield data

    def _chunks(self) -> Iterator[bytes]:
        while True:
            size_text = self.line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise MalformedResponse(f"not a chunk size: {size_text[:20]!r}") from None
            if size == 0:
                while self.line().strip():  # trailers, then the final empty line
                    pass
                return
            data = self._file.read(size)
            if len(data) != size or self._file.read(2) != b"\r\n":
                raise MalformedResponse("the daemon closed the connection mid-chunk")
            yield data

    def close(self) -> None:
        self._file.close()


class Streamed(NamedTuple):
    """An answer whose body is read as it arrives."""

    status: int
    headers: dict[str, str]
    chunks: Iterator[bytes]

    def read(self) -> Response:
        return Response(self.status, self.headers, b"".join(self.chunks))

    def iter_lines(self) -> Iterator[bytes]:
        pending = b""
        for chunk in self.chunks:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            yield from lines
        if pending:
            yield pending


class UnixTransport:
    """Requests to the daemon at `socket`. Connecting fails with OSError (no socket, no
    listener); an answer that is not HTTP raises MalformedResponse, also an OSError.

    What every transport offers (the process streams, client/streams.py, use it too):
    `connect()` a stream socket ready for bytes (a TLS one is wrapped already), `headers`
    to add to every request (a bearer token), `address` to name the daemon in messages,
    and `timeout` for an answer."""

    def __init__(self, socket: Path, timeout: float | None = 300.0,
                 connect_timeout: float = 5.0) -> None:
        self.socket = socket
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.headers: list[str] = []
        self.address = str(socket)

    def connect(self) -> sockets.socket:
        """A connected socket, in blocking mode with no timeout set."""
        conn = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
        try:
            conn.settimeout(self.connect_timeout)
            conn.connect(str(self.socket))
        except BaseException:
            conn.close()
            raise
        return conn

    def request(self, method: str, path: str, body: Any = None,
                params: dict[str, Any] | None = None) -> Response:
        with self.stream(method, path, body, params, self.timeout) as answer:
            return answer.read()

    @contextmanager
    def stream(self, method: str, path: str, body: Any = None,
               params: dict[str, Any] | None = None,
               timeout: float | None = None) -> Iterator[Streamed]:
        conn = self.connect()
        try:
            conn.settimeout(timeout)
            conn.sendall(_encode(method, path, body, params, self.headers))
            if isinstance(body, FileBody):  # the headers said its length; the file follows
                body.file.seek(0)
                conn.sendfile(body.file)
            reader = _Reader(conn)
            try:
                status, headers = reader.head()
                yield Streamed(status, headers, reader.body(status, headers))
            finally:
                reader.close()
        finally:
            conn.close()


def _query(params: dict[str, Any]) -> str:
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is None:
                continue
            # FastAPI reads "true"/"false"; str(True) would say "True"
            pairs.append((name, ("true" if item else "false") if isinstance(item, bool)
                          else str(item)))
    return urlencode(pairs)


class FileBody(NamedTuple):
    """A request body sent from a file as it is (an archive for `cp`), not as JSON."""

    file: BinaryIO
    size: int
    content_type: str = "application/x-tar"


def _encode(method: str, path: str, body: Any, params: dict[str, Any] | None,
            headers: list[str]) -> bytes:
    query = _query(params or {})
    target = f"{path}?{query}" if query else path
    lines = [f"{method} {target} HTTP/1.1", "Host: stockade", "Connection: close",
             "Accept: application/json", *headers]
    payload = b""
    if isinstance(body, FileBody):
        lines += [f"Content-Type: {body.content_type}", f"Content-Length: {body.size}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()
    if body is not None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        lines.append("Content-Type: application/json")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
