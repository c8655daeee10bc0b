"""Foreground I/O: copy a container's output to the terminal and its logs."""

import array
import contextlib
import os
import selectors
import socket
import termios
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 65536


def pump(routes: dict[int, list[int]], stdin_to: int | None = None) -> None:
    """Copy each source fd to its sinks until every source reaches EOF.

    With `stdin_to`, our stdin is forwarded to that fd (a pty master) as it arrives."""
    selector = selectors.DefaultSelector()
    for source in routes:
        selector.register(source, selectors.EVENT_READ)
    if stdin_to is not None:
        selector.register(0, selectors.EVENT_READ)
    open_sources = set(routes)
    while open_sources:
        for key, _ in selector.select():
            fd = int(key.fd)
            data = _read(fd)
            if fd == 0 and stdin_to is not None:
                _forward_stdin(selector, data, stdin_to)
                continue
            if not data:
                selector.unregister(fd)
                open_sources.discard(fd)
                continue
            for sink in routes[fd]:
                _write_all(sink, data)
    selector.close()


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, _CHUNK)
    except OSError:  # a pty master reports EIO once the slave side is gone
        return b""


def _forward_stdin(selector: selectors.BaseSelector, data: bytes, target: int) -> None:
    if not data:
        selector.unregister(0)
        return
    with contextlib.suppress(OSError):
        _write_all(target, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def open_log(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)


@dataclass(frozen=True)
class ConsoleListener:
    """A unix socket runc connects to, to hand over the pty master."""

    path: Path
    listener: socket.socket


@contextlib.contextmanager
def console_listener(directory: Path) -> Iterator[ConsoleListener]:
    path = directory / f"console-{os.getpid()}.sock"
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        listener.listen(1)
        yield ConsoleListener(path, listener)
    finally:
        listener.close()
        path.unlink(missing_ok=True)


def receive_master(listener: socket.socket) -> int:
    listener.settimeout(30)
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


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """Raw mode for our terminal while attached; restored whatever happens."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
