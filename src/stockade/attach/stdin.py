"""A process's stdin, through its monitor's attach socket.

conmon's attach socket is a SOCK_SEQPACKET unix socket in the monitor's bundle directory.
What we send is written to the process's stdin; shutting down our sending side gives the
process EOF. conmon reads each packet into a fixed buffer, so data goes in packets no
larger than that. conmon also copies the process's output to every connected attacher and
blocks while one does not read it: we follow the output from the log instead, so what
arrives here is read and dropped, or a process that echoes its input would stall. The
socket's path can be longer than a sockaddr_un holds: it is reached through an O_PATH
descriptor of its directory.
"""

import asyncio
import contextlib
import os
import socket
from pathlib import Path

PACKET_BYTES = 8192  # conmon's read buffer for attach sockets is at least this large


class AttachSocket:
    """Connected lazily, on the first data or EOF; closed once."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._sock: socket.socket | None = None
        self._drain: asyncio.Task[None] | None = None

    def _connected(self) -> socket.socket:
        if self._sock is None:
            directory = os.open(self._path.parent, os.O_PATH | os.O_CLOEXEC)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
            try:
                sock.connect(f"/proc/self/fd/{directory}/{self._path.name}")
            except OSError:
                sock.close()
                raise
            finally:
                os.close(directory)
            sock.setblocking(False)
            self._sock = sock
            self._drain = asyncio.get_running_loop().create_task(self._dropping(sock))
        return self._sock

    @staticmethod
    async def _dropping(sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):
            while await loop.sock_recv(sock, 1 << 16):
                pass

    async def send(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        sock = self._connected()
        for start in range(0, len(data), PACKET_BYTES):
            await loop.sock_sendall(sock, data[start:start + PACKET_BYTES])

    async def eof(self) -> None:
        with contextlib.suppress(OSError):  # it ended meanwhile: EOF is moot
            self._connected().shutdown(socket.SHUT_WR)

    async def close(self) -> None:
        if self._drain is not None:
            self._drain.cancel()
            await asyncio.gather(self._drain, return_exceptions=True)
            self._drain = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
