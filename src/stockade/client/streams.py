"""The client side of process streams: run or attach, relay stdio, return the exit code.

Speaks the protocol of `stockade.wire.stream` through the client's transport (the daemon's
unix socket, or TCP with TLS) with the standard library's WebSocket client in
client/websocket.py (it says why): output frames go to local fds, local stdin (raw when it
is a terminal) goes to the process, a terminal's size follows ours (SIGWINCH). Requests
here are JSON bodies and answers plain JSON, so a foreground run loads no models.

A daemon restart does not end an attachment: the process runs on under its monitor, which
keeps its output. When the connection drops (or the daemon says it is going away) we
connect again for up to RECONNECT_S and go on after the last cursor we were sent, so no
output is lost or repeated. The process's stdin was closed by the restart (its monitor
closes it when the attacher goes), so after a reconnection only output is followed.
"""

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from socket import SO_SNDBUF, SOL_SOCKET
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from stockade.client import errors
from stockade.client.transport import UnixTransport
from stockade.client.websocket import Closed, Refused, WebSocket, open_websocket
from stockade.errors import StockadeError
from stockade.wire import stream as wsproto
from stockade.wire.stream import Control, CursorMessage, ExitMessage, Size, Stream

if TYPE_CHECKING:
    import selectors

    from stockade.wire.process import ProcessRequest

# select, selectors, signal, termios and tty are imported where they are used: only a
# process with our stdin or a terminal needs them, and a plain foreground run pays for
# every import at start-up (cli/containers.py says why that matters)

_CHUNK = 65536
RECONNECT_S = 60.0  # how long we try to reach a restarting daemon before giving up
_RETRY_S = 0.2
_LOST_CODES = (wsproto.CLOSE_GOING_AWAY, 1006, 1012)  # gone away, dropped, restarting
Sink = Callable[[Stream, bytes], None]


class _Lost(Exception):
    """The connection dropped while the process may still run: connect again."""


class _Position:
    """The last cursor the daemon sent: where a new connection goes on from."""

    def __init__(self) -> None:
        self.cursor: str | None = None


def attach(transport: UnixTransport, handle: str, process_id: str, stdin_fd: int | None,
           stdout_fd: int, stderr_fd: int, tty: bool, *, close_stdin: bool = False,
           interrupts: bool = False, on_attached: Callable[[], None] | None = None,
           after: str | None = None) -> int:
    """Follow a process (its kept output first) until it ends; returns its exit code.

    With `stdin_fd` our input goes to the process; `close_stdin` instead gives it EOF at
    once (for a process that should not wait for input). With `interrupts` our first ^C
    is sent to the process as SIGINT (a second one interrupts us). `on_attached` runs once
    the stream is open, e.g. to start a container without missing any of its output."""
    return attach_result(transport, handle, process_id, stdin_fd, stdout_fd, stderr_fd, tty,
                         close_stdin=close_stdin, interrupts=interrupts,
                         on_attached=on_attached, after=after).exit_code


def attach_result(transport: UnixTransport, handle: str, process_id: str, stdin_fd: int | None,
                  stdout_fd: int, stderr_fd: int, tty: bool, *, close_stdin: bool = False,
                  interrupts: bool = False,
                  on_attached: Callable[[], None] | None = None,
                  after: str | None = None) -> ExitMessage:
    """As `attach`, with the whole exit message (an init's says whether it was OOM-killed).
    `after` is a cursor to go on from, or "end" for only what is written from now on."""
    give_eof = close_stdin and stdin_fd is None and not tty
    sinks = {Stream.STDOUT: stdout_fd, Stream.STDERR: stderr_fd}
    position = _Position()

    def write(stream: Stream, data: bytes) -> None:
        _write_all(sinks[stream], data)

    def follow(ws: WebSocket) -> ExitMessage:
        return (_receive_interruptible if interrupts else _receive_at)(ws, write, position)

    try:
        with _connect(transport, handle, process_id,
                      stdin=stdin_fd is not None or give_eof, after=after) as ws:
            if on_attached is not None:
                on_attached()
            if give_eof:
                with contextlib.suppress(Closed):  # it ended already: moot
                    ws.send(wsproto.encode_message(Control(eof=True)))
            if stdin_fd is None:
                return follow(ws)
            with _raw(stdin_fd, tty), _window_changes(tty) as winch, \
                    _Forwarder(ws, _FdInput(stdin_fd, tty), winch, _size_of(stdin_fd, tty)):
                return follow(ws)
    except _Lost:
        pass
    while True:  # the daemon went away; the process runs on: follow its output again
        try:
            with _reconnect(transport, handle, process_id, position.cursor) as ws:
                return follow(ws)
        except _Lost:
            continue


def _receive_at(ws: WebSocket, sink: Sink, position: _Position) -> ExitMessage:
    return receive(ws, sink, position)


def _receive_interruptible(ws: WebSocket, sink: Sink,
                           position: _Position) -> ExitMessage:
    """The first ^C goes to the process, as it would for a process in our foreground."""
    try:
        return receive(ws, sink, position)
    except KeyboardInterrupt:
        with contextlib.suppress(Closed):
            ws.send(wsproto.encode_message(Control(signal="INT")))
    return receive(ws, sink, position)


def run_process(transport: UnixTransport, handle: str,
                request: "ProcessRequest | dict[str, Any]", *, stdin_fd: int | None = None,
                stdout_fd: int = 1, stderr_fd: int = 2) -> int:
    """Start a process and stay attached until it ends; without `stdin_fd` it reads EOF.
    `request` is a ProcessRequest or its JSON (the daemon checks it either way)."""
    body = request if isinstance(request, dict) else \
        request.model_dump(mode="json", exclude_none=True)
    tty = bool(body.get("tty"))
    if tty and body.get("window") is None:  # the size of our terminal from the start
        window = _size_of(stdin_fd if stdin_fd is not None else stdout_fd, True)
        if window is not None:
            body = {**body, "window": window._asdict()}
    info = start_process(transport, handle, body)
    return attach(transport, handle, info["id"], stdin_fd, stdout_fd, stderr_fd, tty,
                  close_stdin=stdin_fd is None, interrupts=True)


def run_captured(transport: UnixTransport, handle: str, args: list[str], *,
                 env: dict[str, str] | None = None, user: str | None = None,
                 cwd: str | None = None, rlimits: dict[str, int] | None = None,
                 stdin: bytes = b"") -> tuple[int, bytes, bytes]:
    """Run to the end with `stdin` as input; (exit code, stdout, stderr)."""
    request: dict[str, Any] = {"args": args, "env": env or {}, "user": user, "cwd": cwd,
                               "rlimits": rlimits}
    info = start_process(transport, handle, {k: v for k, v in request.items() if v is not None})
    captured: dict[Stream, bytearray] = {Stream.STDOUT: bytearray(), Stream.STDERR: bytearray()}
    with _connect(transport, handle, info["id"], stdin=True) as ws, \
            _Forwarder(ws, _BytesInput(stdin), None, None):
        ended = receive(ws, lambda stream, data: captured[stream].extend(data))
    return ended.exit_code, bytes(captured[Stream.STDOUT]), bytes(captured[Stream.STDERR])


def start_process(transport: UnixTransport, handle: str,
                  request: dict[str, Any]) -> dict[str, Any]:
    """Start a process (the JSON of a ProcessRequest); the daemon's ProcessInfo as JSON."""
    info: dict[str, Any] = request_json(
        transport, "POST", f"/v1/containers/{quote(handle)}/processes", request)
    return info


def receive(ws: WebSocket, sink: Sink, position: _Position | None = None) -> ExitMessage:
    """Hand every output frame to `sink`; the exit message, or the close reason raised.
    A connection that dropped (or a daemon going away) raises _Lost when `position` is
    kept, so the caller can connect again after its cursor."""
    ended: ExitMessage | None = None
    while True:
        try:
            message = ws.recv()
        except Closed as closed:
            if ended is not None:
                return ended
            if position is not None and closed.code in _LOST_CODES:
                raise _Lost from None
            raise wsproto.error_for_close(closed.code, closed.reason) from None
        if isinstance(message, str):
            parsed = wsproto.parse_server_message(message)
            if isinstance(parsed, CursorMessage):
                if position is not None:
                    position.cursor = parsed.cursor
            else:
                ended = parsed
        else:
            sink(*wsproto.decode_output(message))


# -- the connection -------------------------------------------------------------------------

@contextlib.contextmanager
def _reconnect(transport: UnixTransport, handle: str, process_id: str,
               cursor: str | None) -> Iterator[WebSocket]:
    """Connect again (output only) once the daemon answers, for up to RECONNECT_S."""
    deadline = time.monotonic() + RECONNECT_S
    while True:
        try:
            connection = _connect(transport, handle, process_id, stdin=False, after=cursor)
            ws = connection.__enter__()
            break
        except StockadeError:
            if time.monotonic() >= deadline:
                raise StockadeError(f"lost the daemon at {transport.address} while attached to "
                                    f"{handle}, and it did not come back within "
                                    f"{RECONNECT_S:.0f} s; the process runs on: "
                                    f"`stockade logs {handle}` shows its output") from None
            time.sleep(_RETRY_S)
    try:
        yield ws
    finally:
        connection.__exit__(None, None, None)


@contextlib.contextmanager
def _connect(transport: UnixTransport, handle: str, process_id: str, stdin: bool,
             after: str | None = None) -> Iterator[WebSocket]:
    path = f"/v1/containers/{quote(handle)}/processes/{quote(process_id)}/attach"
    path += f"?stdin={'true' if stdin else 'false'}"
    if after is not None:
        path += f"&after={quote(after)}"
    try:
        ws = open_websocket(transport.connect(), path, transport.headers)
    except Refused as refused:
        raise errors.from_response(refused.response) from None
    except OSError as exc:
        raise StockadeError(f"cannot attach through the daemon at {transport.address}: "
                            f"{exc}") from exc
    with ws:
        yield ws


def request_json(transport: UnixTransport, method: str, path: str,
                 body: object = None) -> Any:
    """One call to the daemon; its JSON answer, or its error raised as a stockade error."""
    try:
        response = transport.request(method, path, body)
    except OSError as exc:
        raise errors.unavailable(transport.address, exc) from exc
    if response.status >= 400:
        raise errors.from_response(response)
    return response.json() if response.content else None


# -- local stdin, terminal and window ---------------------------------------------------------

class _FdInput:
    """Local input from an fd; at its end a pipe gets EOF, a terminal nothing."""

    def __init__(self, fd: int, tty: bool) -> None:
        self.fd: int | None = fd
        self.tty = tty

    def read(self) -> bytes:
        assert self.fd is not None
        try:
            return os.read(self.fd, _CHUNK)
        except OSError:
            return b""


class _BytesInput:
    """Local input given whole; sent in chunks, then EOF."""

    fd: int | None = None
    tty = False

    def __init__(self, data: bytes) -> None:
        self.data = data


class _Stopped(Exception):
    """The forwarder was told to stop while it waited to send."""


class _Forwarder:
    """A thread sending our input and window changes while the main thread receives.

    A send holds the connection's send lock while it blocks in sendall, and the receiving
    thread needs that lock to answer the daemon's keepalive pings. A blocked send would
    stop us answering while the daemon waits for the process to take our input, so the
    keepalive would fail. The forwarder therefore waits (without the lock) until the
    socket has room, and sends at most a quarter of its send buffer at a time: an AF_UNIX
    socket polls writable only while less than a quarter is in use, so such a send never
    blocks."""

    def __init__(self, ws: WebSocket, source: _FdInput | _BytesInput,
                 winch: int | None, window: Size | None) -> None:
        self._ws = ws
        self._source = source
        self._winch = winch
        self._window = window
        self._chunk = _safe_chunk(ws)
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="stdin-forwarder", daemon=True)

    def __enter__(self) -> "_Forwarder":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join()
        os.close(self._stop_r)
        os.close(self._stop_w)

    def _run(self) -> None:
        with contextlib.suppress(Closed, _Stopped):
            if self._window is not None:
                self._send_control(Control(resize=self._window))
            if isinstance(self._source, _BytesInput):
                self._send_data(self._source.data)
                self._send_control(Control(eof=True))
            self._relay()

    def _send_data(self, data: bytes) -> None:
        for start in range(0, len(data), self._chunk):
            self._await_room()
            self._ws.send(data[start:start + self._chunk])

    def _send_control(self, control: Control) -> None:
        self._await_room()
        self._ws.send(wsproto.encode_message(control))

    def _await_room(self) -> None:
        try:
            import select

            ready, _, _ = select.select([self._stop_r], [self._ws.socket], [])
        except (ValueError, OSError):  # the stream has closed: the process ended
            raise _Stopped from None
        if ready:
            raise _Stopped

    def _relay(self) -> None:
        import selectors

        # poll, not epoll: stdin may be a regular file, which epoll refuses
        with selectors.PollSelector() as selector:
            selector.register(self._stop_r, selectors.EVENT_READ)
            for fd in (self._source.fd, self._winch):
                if fd is not None:
                    selector.register(fd, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fd == self._stop_r:
                        return
                    if key.fd == self._winch:
                        self._on_winch()
                    else:
                        self._on_input(selector)

    def _on_winch(self) -> None:
        assert self._winch is not None
        with contextlib.suppress(BlockingIOError):
            os.read(self._winch, 512)
        window = _size_of(self._source.fd, True) if self._source.fd is not None else None
        if window is not None:
            self._send_control(Control(resize=window))

    def _on_input(self, selector: "selectors.BaseSelector") -> None:
        assert isinstance(self._source, _FdInput) and self._source.fd is not None
        data = self._source.read()
        if data:
            self._send_data(data)
            return
        selector.unregister(self._source.fd)
        if not self._source.tty:
            self._send_control(Control(eof=True))


@contextlib.contextmanager
def _raw(fd: int, tty: bool) -> Iterator[None]:
    """Our terminal passes every key to the process's while attached; restored after."""
    if not tty or not os.isatty(fd):
        yield
        return
    import termios
    import tty as ttymode

    saved = termios.tcgetattr(fd)
    try:
        ttymode.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def _window_changes(tty: bool) -> Iterator[int | None]:
    """A pipe that gets a byte on each SIGWINCH (handlers live in the main thread only)."""
    if not tty or threading.current_thread() is not threading.main_thread():
        yield None
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)

    def _note(_signum: int, _frame: object) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(write_end, b"w")

    import signal

    previous = signal.signal(signal.SIGWINCH, _note)
    try:
        yield read_end
    finally:
        signal.signal(signal.SIGWINCH, previous)
        os.close(read_end)
        os.close(write_end)


def _size_of(fd: int | None, tty: bool) -> Size | None:
    if not tty or fd is None:
        return None
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    if not 1 <= size.lines <= wsproto.MAX_WINDOW or not 1 <= size.columns <= wsproto.MAX_WINDOW:
        return None
    return Size(rows=size.lines, cols=size.columns)


def _safe_chunk(ws: WebSocket) -> int:
    """A quarter of the socket's send buffer, less room for frame headers. A process that
    ends at once may have had the connection closed already: then nothing is sent anyway."""
    try:
        sndbuf = ws.socket.getsockopt(SOL_SOCKET, SO_SNDBUF)
    except OSError:
        return 1024
    return max(1024, min(_CHUNK, sndbuf // 4 - 1024))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
