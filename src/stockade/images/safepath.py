"""Open files inside an untrusted tree so that no symlink or '..' can leave it."""

import ctypes
import os
from pathlib import Path

_SYS_OPENAT2 = 437  # x86_64 and aarch64 share the generic number
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
_libc = ctypes.CDLL(None, use_errno=True)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def open_in_root(root: Path, relative: str, flags: int = os.O_RDONLY) -> int:
    """openat2 with RESOLVE_IN_ROOT: symlinks and '..' resolve as if `root` were '/'."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        how = _OpenHow(flags | os.O_CLOEXEC, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
        fd = int(_libc.syscall(_SYS_OPENAT2, root_fd, relative.lstrip("/").encode(),
                               ctypes.byref(how), ctypes.sizeof(how)))
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), relative)
        return fd
    finally:
        os.close(root_fd)


def read_in_root(root: Path, relative: str, limit: int = 1 << 20) -> bytes | None:
    """At most `limit` bytes of a regular file inside `root`, or None if it is absent."""
    try:
        fd = open_in_root(root, relative)
    except (FileNotFoundError, NotADirectoryError):
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read(limit)
