"""Open files inside an untrusted tree so that no symlink or '..' can leave it."""

import os
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


def read_in_root(root: Path, relative: str, limit: int = 1 << 20) -> bytes | None:
    """At most `limit` bytes of a regular file inside `root`, or None if it is absent."""
    try:
        fd = open_in_root(root, relative)
    except (FileNotFoundError, NotADirectoryError):
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read(limit)
