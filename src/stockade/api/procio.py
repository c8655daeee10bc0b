"""The daemon's ends of a process's stdio: pipes or a pty, the output pump, stdin, window.

Every fd here is ours alone and closed exactly once: the pump reads the sources until EOF
(or until told to stop), and only after it has stopped are the fds closed, under the lock
that stdin writes and window changes also take, so no fd number is used after its close.
"""

import array
import contextlib
import fcntl
import os
import secrets
import select
import selectors
import signal
import socket
import struct
import termios
import threading
import tty
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from stockade.api.outbuf import OutputBuffer
from stockade.runtime.runc import Stdio
from stockade.wire.stream import Stream

TICK_S = 0.2  # how often blocked loops look at their stop flag
_CHUNK = 65536


@dataclass
class Wiring:
    """A process's stdio: what runc gets, and our ends of it."""

    child: Stdio
    child_ends: list[int]  # our copies of runc's fds, closed once runc holds its own
    sources: dict[int, Stream]  # what we read the output from
    stdin: int | None = None  # a pipe's write end, or the pty master
    stdin_is_pipe: bool = True
    terminal: int | None = None  # the pty master
    tees: dict[Stream, int] = field(default_factory=dict)  # log files that get a copy

    def owned(self) -> list[int]:
        """Our ends, each once."""
        fds = [*self.sources, *self.tees.values()]
        if self.stdin is not None and self.stdin_is_pipe:
            fds.append(self.stdin)
        return list(dict.fromkeys(fds))

    def close_all(self) -> None:
        """Only for a process that never started: close both sides."""
        for fd in dict.fromkeys([*self.child_ends, *self.owned()]):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.child_ends.clear()


def pipe_wiring(with_stdin: bool = True) -> Wiring:
    """Three pipes, or /dev/null as stdin."""
    if with_stdin:
        in_r, in_w = os.pipe()
        os.set_blocking(in_w, False)
    else:
        in_r, in_w = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), None
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    return Wiring(child=Stdio(in_r, out_w, err_w), child_ends=[in_r, out_w, err_w],
                  sources={out_r: Stream.STDOUT, err_r: Stream.STDERR}, stdin=in_w)


def pty_wiring(rows: int, cols: int) -> Wiring:
    """A pty pair of our own: runc relays the container's terminal to its slave side."""
    master, slave = os.openpty()
    tty.setraw(slave)  # bytes pass as they are; the container's own pty does the rest
    set_window(master, rows, cols)
    os.set_blocking(master, False)
    return Wiring(child=Stdio(slave, slave, slave), child_ends=[slave],
                  sources={master: Stream.STDOUT}, stdin=master, stdin_is_pipe=False,
                  terminal=master)


def add_terminal(wiring: Wiring, master: int) -> None:
    """The container's own pty master (an init with a terminal): output, stdin, window."""
    os.set_blocking(master, False)
    wiring.sources[master] = Stream.STDOUT
    wiring.stdin, wiring.stdin_is_pipe, wiring.terminal = master, False, master


def set_window(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _read(fd: int) -> bytes | None:
    """Data, b'' at the end, None when there is nothing yet."""
    try:
        return os.read(fd, _CHUNK)
    except BlockingIOError:
        return None
    except OSError:  # a pty master reports EIO once the other side is gone
        return b""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class Pump:
    """A thread copying the sources into the buffer (and tees) until EOF or stop."""

    def __init__(self, sources: dict[int, Stream], buffer: OutputBuffer,
                 tees: dict[Stream, int], name: str) -> None:
        self._sources = dict(sources)
        self._buffer = buffer
        self._tees = tees
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """True once the pump has finished."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            for fd in self._sources:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map() and not self._stop.is_set():
                self._buffer.wait_for_room(self._stop)
                for key, _ in selector.select(TICK_S):
                    self._copy(selector, int(key.fd))

    def _copy(self, selector: selectors.BaseSelector, fd: int) -> None:
        data = _read(fd)
        if data is None:
            return
        if not data:
            selector.unregister(fd)
            return
        stream = self._sources[fd]
        self._buffer.append(stream, data)
        if stream in self._tees:
            with contextlib.suppress(OSError):  # a full log disk must not stop the stream
                _write_all(self._tees[stream], data)


class ProcessIO:
    """Our ends of one process's stdio while it runs, and their orderly close."""

    def __init__(self, wiring: Wiring, buffer: OutputBuffer, name: str) -> None:
        self._wiring = wiring
        self._lock = threading.Lock()
        self._closed = False
        self._stdin = wiring.stdin
        self._pump = Pump(wiring.sources, buffer, wiring.tees, name)

    def start(self) -> None:
        self._pump.start()

    def release_child_ends(self) -> None:
        """runc has its copies now; ours would keep the pipes from ever reaching EOF."""
        with self._lock:
            for fd in self._wiring.child_ends:
                os.close(fd)
            self._wiring.child_ends.clear()

    def write_stdin(self, data: bytes) -> None:
        """Blocks while the process reads nothing; drops the data once stdin is closed."""
        view = memoryview(data)
        while view:
            with self._lock:
                if self._stdin is None or self._closed:
                    return
                if not _writable(self._stdin):
                    continue
                try:
                    view = view[os.write(self._stdin, view):]
                except BlockingIOError:
                    continue
                except OSError:  # the reader is gone (EPIPE, EIO)
                    self._drop_stdin()
                    return

    def close_stdin(self) -> None:
        """EOF for a pipe; a terminal has no end of input but ^D, so it stays."""
        with self._lock:
            if self._wiring.stdin_is_pipe:
                self._drop_stdin()

    def _drop_stdin(self) -> None:
        """No more stdin; a pipe's write end is closed (the process reads EOF) and forgotten,
        so the final close cannot hit its number again."""
        if self._wiring.stdin_is_pipe and self._wiring.stdin is not None and not self._closed:
            os.close(self._wiring.stdin)
            self._wiring.stdin = None
        self._stdin = None

    def set_window(self, rows: int, cols: int) -> bool:
        with self._lock:
            if self._closed or self._wiring.terminal is None:
                return False
            set_window(self._wiring.terminal, rows, cols)
            return True

    def abort(self) -> None:
        """Stop reading now (the process is being forgotten)."""
        self._pump.stop()

    def finish(self, drain_s: float) -> None:
        """After the process ended: read what is left (for at most `drain_s`, since its
        own children may hold the pipes open), then close every fd of ours."""
        self.release_child_ends()
        self._pump.join(drain_s)
        self._pump.stop()
        self._pump.join()
        with self._lock:
            if self._closed:
                return
            for fd in self._wiring.owned():
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._closed = True
            self._stdin = None


def _writable(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return bool(poller.poll(TICK_S * 1000))


# -- the pty master of a container's init, handed over by runc ------------------------------

@dataclass(frozen=True)
class ConsoleListener:
    path: Path
    listener: socket.socket


@contextlib.contextmanager
def console_listener(directory: Path) -> Iterator[ConsoleListener]:
    """A unix socket runc connects to during create, to hand over the pty master."""
    path = directory / f"console-{secrets.token_hex(6)}.sock"  # short: sun_path is small
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        listener.listen(1)
        yield ConsoleListener(path, listener)
    finally:
        listener.close()
        path.unlink(missing_ok=True)


def receive_master(listener: socket.socket, timeout: float) -> int:
    listener.settimeout(timeout)
    conn, _ = listener.accept()
    with conn:
        fds = array.array("i")
        _, ancillary, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: fds.itemsize])
    if not fds:
        raise OSError("runc sent no terminal")
    return fds[0]


# -- processes by pidfd, so a recycled pid is never signalled ------------------------------

def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):  # not written yet (runc writes it whole, by rename)
        return None


def open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the name before ')' may hold spaces


def send_signal(pidfd: int, signum: int) -> bool:
    """False when the process has already ended."""
    try:
        signal.pidfd_send_signal(pidfd, signum)
    except ProcessLookupError:
        return False
    return True
