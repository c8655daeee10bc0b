"""Pieces every backend shares: the upper and work directories, sparse image files."""

import contextlib
import os
import time
from pathlib import Path

from stockade.linux import loopdev

_DETACH_WAIT_S = 5.0


def prepare(writable: Path, owner: int) -> None:
    """upper/ and work/ owned by container root, so overlay copies up as that user.

    upper/ is the container's / (overlay shows its mode there), so it is 0755 whatever
    the umask. The layer itself is closed: overlay reaches it as the daemon that mounted
    it, and nobody else has business in the container's files."""
    for name in ("upper", "work"):
        path = writable / name
        path.mkdir(mode=0o755, exist_ok=True)
        os.chown(path, owner, owner)
        path.chmod(0o755)
    writable.chmod(0o700)


def sparse_file(path: Path, size: int) -> None:
    """A file of `size` bytes that takes no space until written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


def wait_detached(backing: Path) -> None:
    """Autoclear detaches a loop device shortly after its last user; make sure it did."""
    deadline = time.monotonic() + _DETACH_WAIT_S
    while loopdev.devices_backed_by(backing) and time.monotonic() < deadline:
        time.sleep(0.02)
    for device in loopdev.devices_backed_by(backing):
        with contextlib.suppress(OSError):
            loopdev.detach(device)
