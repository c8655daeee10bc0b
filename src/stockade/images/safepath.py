"""Open files inside an untrusted tree so that no symlink or '..' can leave it."""

import contextlib
import os
import stat
from pathlib import Path

from stockade.linux.beneath import (
    RESOLVE_BENEATH,
    RESOLVE_IN_ROOT,
    RESOLVE_NO_MAGICLINKS,
    RESOLVE_NO_SYMLINKS,
    RESOLVE_NO_XDEV,
    openat2,
)

# Unpacking must not follow any link at all: a layer being built is hostile input.
STRICT = RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH


def open_in_root(root: Path, relative: str, flags: int = os.O_RDONLY) -> int:
    """openat2 with RESOLVE_IN_ROOT: symlinks and '..' resolve as if `root` were '/'."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return open_in(root_fd, relative, flags)
    finally:
        os.close(root_fd)


def open_in(root_fd: int, relative: str, flags: int = os.O_RDONLY) -> int:
    """open_in_root for a root already held as a descriptor."""
    return openat2(root_fd, relative, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)


class UnsafeFile(OSError):
    """A file read by name is not a regular file within its size cap (one-line message)."""


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISLNK, "a symlink"),
          (stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str | None:
    """What a non-regular file is, for the error; None for a regular file."""
    return next((name for test, name in _KINDS if test(mode)), None)


def _not_regular(shown: str, kind: str) -> UnsafeFile:
    return UnsafeFile(f"{shown} is {kind}, not a regular file; refusing to read it")


def open_regular(root: Path, relative: str) -> int:
    """open_regular_in for a root given by its path."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return open_regular_in(root_fd, relative)
    finally:
        os.close(root_fd)


def open_regular_in(root_fd: int, relative: str) -> int:
    """A (blocking) read descriptor of the regular file `relative` inside the tree held by
    `root_fd`: the one way the daemon opens a file of an image or a container by name.

    The open is non-blocking, so a FIFO planted there cannot hang a thread, and does not
    follow a symlink at the file itself (links above it resolve inside the tree); fstat
    then makes sure it is a regular file. FileNotFoundError or NotADirectoryError when it
    is absent, UnsafeFile for anything else."""
    shown = "/" + relative.lstrip("/")
    try:
        fd = open_in(root_fd, relative, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except (FileNotFoundError, NotADirectoryError):
        raise
    except OSError as exc:  # a symlink (ELOOP), a socket (ENXIO), a device on nodev
        raise _refusal(root_fd, relative, shown, exc) from None
    kind = _kind(os.fstat(fd).st_mode)
    if kind is not None:
        os.close(fd)
        raise _not_regular(shown, kind)
    os.set_blocking(fd, True)
    return fd


def _refusal(root_fd: int, relative: str, shown: str, exc: OSError) -> UnsafeFile:
    """Name what refused the open, looking without opening it (O_PATH does not block)."""
    with contextlib.suppress(OSError):
        fd = open_in(root_fd, relative, os.O_PATH | os.O_NOFOLLOW)
        try:
            kind = _kind(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
        if kind is not None:
            return _not_regular(shown, kind)
    return UnsafeFile(f"cannot open {shown}: {exc.strerror or exc}")


def read_in_root(root: Path, relative: str, limit: int = 1 << 20) -> bytes | None:
    """The contents of a regular file inside `root` (see open_regular), or None if it is
    absent; a file over `limit` bytes is an UnsafeFile error, not a truncated read."""
    try:
        fd = open_regular(root, relative)
    except (FileNotFoundError, NotADirectoryError):
        return None
    too_large = UnsafeFile(f"/{relative.lstrip('/')} is over the {limit}-byte limit; "
                           "refusing to read it")
    with os.fdopen(fd, "rb") as handle:
        if os.fstat(fd).st_size > limit:
            raise too_large
        data = handle.read(limit + 1)  # it may have grown since the fstat
    if len(data) > limit:
        raise too_large
    return data
