"""Open files inside an untrusted tree so that no symlink or '..' can leave it."""

import ctypes
import os
from pathlib import Path

_SYS_OPENAT2 = 437  # x86_64 and aarch64 share the generic number
_RESOLVE_NO_XDEV = 0x01
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
_RESOLVE_IN_ROOT = 0x10
# Unpacking must not follow any link at all: a layer being built is hostile input.
STRICT = _RESOLVE_NO_XDEV | _RESOLVE_NO_MAGICLINKS | _RESOLVE_NO_SYMLINKS | _RESOLVE_BENEATH
_libc = ctypes.CDLL(None, use_errno=True)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def openat2(dir_fd: int, relative: str, flags: int, resolve: int) -> int:
    """The raw openat2(2) call; `relative` is taken below `dir_fd`."""
    how = _OpenHow(flags | os.O_CLOEXEC, 0, resolve)
    fd = int(_libc.syscall(_SYS_OPENAT2, dir_fd, relative.lstrip("/").encode(),
                           ctypes.byref(how), ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), relative)
    return fd


def open_in_root(root: Path, relative: str, flags: int = os.O_RDONLY) -> int:
    """openat2 with RESOLVE_IN_ROOT: symlinks and '..' resolve as if `root` were '/'."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return openat2(root_fd, relative, flags, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
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
