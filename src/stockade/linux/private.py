"""Files only root may read: made 0600 whatever the process's umask, never through a link.

The daemon runs under umask 077, but the engine also runs in tests and tools under the
usual 022; these helpers give the same mode either way. They refuse a symlink or anything
but a regular file at the path, and never block on a FIFO planted there."""

import errno
import os
import stat
import uuid
from pathlib import Path

MODE = 0o600
_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _open(path: Path, flags: int) -> int:
    fd = os.open(path, flags | _FLAGS, MODE)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.fchmod(fd, MODE)  # an existing file keeps its mode otherwise, O_CREAT obeys umask
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create(path: Path) -> None:
    """Make `path` exist as an empty (or kept) file readable by root only."""
    os.close(_open(path, os.O_RDONLY | os.O_CREAT))


def open_append(path: Path) -> int:
    """A descriptor appending to `path`; O_APPEND keeps concurrent writers' lines whole."""
    return _open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)


def write(path: Path, data: str | bytes) -> None:
    """Replace the contents of `path` in place."""
    fd = _open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        view = memoryview(data.encode() if isinstance(data, str) else data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Readers see the old contents or the new, never half: write beside it, then rename."""
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        write(staging, data)
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
