"""Check, before anything runs, that a command exists in an image's tree."""

import os
import stat
from pathlib import Path

from stockade.errors import InvalidSpec
from stockade.images.safepath import open_in_root

_ANY_EXECUTE = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH


def _is_executable(rootfs: Path, path: str) -> bool:
    try:
        fd = open_in_root(rootfs, path, os.O_PATH)
    except OSError:
        return False
    try:
        mode = os.fstat(fd).st_mode
    finally:
        os.close(fd)
    return stat.S_ISREG(mode) and bool(mode & _ANY_EXECUTE)


def require_command(rootfs: Path, program: str, env: dict[str, str], cwd: str) -> None:
    """Raise a clear error when `program` cannot be found the way execvp would look."""
    if "/" in program:
        candidates = [program if program.startswith("/") else f"{cwd.rstrip('/')}/{program}"]
    else:
        search = env.get("PATH", "/usr/local/bin:/usr/bin:/bin")
        candidates = [f"{d.rstrip('/')}/{program}" for d in search.split(":") if d]
    if not any(_is_executable(rootfs, c) for c in candidates):
        raise InvalidSpec(f"command not found in the image: {program}")


def top_level(rootfs: Path) -> tuple[str, ...]:
    """Names of the directories at the image's root (symlinks excluded)."""
    return tuple(sorted(e.name for e in os.scandir(rootfs) if e.is_dir(follow_symlinks=False)))
