"""Check, before anything runs, that a command exists in an image's tree."""

import errno
import os
import posixpath
import stat
from pathlib import Path

from stockade.errors import InvalidSpec
from stockade.images.safepath import open_in_root
from stockade.policy.startpaths import check_start_path

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


_MAX_LINKS = 40  # as the kernel's path walk


def _inside(rootfs: Path, parts: list[str]) -> str:
    """Where `parts` resolve inside the rootfs (symlinks followed as if it were '/')."""
    fd = open_in_root(rootfs, "/".join(parts) or ".", os.O_PATH)
    try:
        found = os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
    relative = posixpath.relpath(found, os.path.realpath(rootfs))
    return "/" if relative == "." else f"/{relative}"


def start_path(rootfs: Path, path: str, what: str, _links: int = 0) -> str:
    """`path` checked as written, then as the image's symlinks resolve it inside the rootfs
    (where runc will look): neither may be relative or in /proc, /sys or /dev. A missing
    tail is fine (runc makes a missing working directory); a dangling symlink on the way is
    followed by its text, since the kernel trees it may point into are mounted only later."""
    clean = check_start_path(path, what)
    parts = [p for p in clean.split("/") if p]
    resolved = f"{what} {path!r}, resolved in the image,"
    for keep in range(1, len(parts) + 1):
        try:
            inside = _inside(rootfs, parts[:keep])
        except OSError as err:
            if err.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise InvalidSpec(f"{what} {path!r} cannot be resolved in the image: "
                                  f"{os.strerror(err.errno or 0)}") from None
            parent = _inside(rootfs, parts[:keep - 1])
            parent_fd = open_in_root(rootfs, parent.lstrip("/") or ".", os.O_PATH | os.O_DIRECTORY)
            try:
                target = os.readlink(parts[keep - 1], dir_fd=parent_fd)
            except OSError:
                return clean  # really missing: nothing further can be a link
            finally:
                os.close(parent_fd)
            if _links >= _MAX_LINKS:
                raise InvalidSpec(f"{what} {path!r}: too many symlinks in the image") from None
            start_path(rootfs, posixpath.join(parent, target, *parts[keep:]), resolved,
                       _links + 1)
            return clean
        check_start_path(posixpath.join(inside, *parts[keep:]), resolved)
    return clean


def top_level(rootfs: Path) -> tuple[str, ...]:
    """Names of the directories at the image's root (symlinks excluded)."""
    return tuple(sorted(e.name for e in os.scandir(rootfs) if e.is_dir(follow_symlinks=False)))
