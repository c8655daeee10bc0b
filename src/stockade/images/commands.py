"""Check, before anything runs, that a command exists in an image's tree."""

import errno
import os
import posixpath
import stat
from collections.abc import Sequence
from enum import Enum
from pathlib import Path

from stockade.errors import CommandNotFound, CommandNotRunnable, InvalidSpec
from stockade.images.safepath import open_in, open_in_root
from stockade.policy.startpaths import check_start_path

_ANY_EXECUTE = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH


class _Found(Enum):
    RUNNABLE = "runnable"
    MISSING = "missing"  # execve would fail with ENOENT (or ENOTDIR)
    REFUSED = "refused"  # execve would fail with EACCES: a directory, no execute bit
    UNKNOWN = "unknown"  # not ours to judge: under a mount, or the walk itself failed


def _under(path: str, mounted: Sequence[str]) -> bool:
    return any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounted)


def _judge(root_fd: int, path: str, mounted: Sequence[str]) -> tuple[_Found, str]:
    """What execve would make of `path` (absolute, inside the tree held by `root_fd`), and
    why not. RESOLVE_IN_ROOT: symlinks and '..' resolve as if the tree were '/', so nothing
    outside it is looked at; O_PATH and fstat: nothing is opened for reading or run."""
    if _under(path, mounted):
        return _Found.UNKNOWN, ""
    try:
        fd = open_in(root_fd, path.lstrip("/") or ".", os.O_PATH)
    except (FileNotFoundError, NotADirectoryError):
        return _Found.MISSING, "no such file or directory"
    except OSError:  # a symlink loop, a name too long: the init will say what execve says
        return _Found.UNKNOWN, ""
    try:
        mode = os.fstat(fd).st_mode
    finally:
        os.close(fd)
    if stat.S_ISREG(mode) and mode & _ANY_EXECUTE:
        return _Found.RUNNABLE, ""
    if stat.S_ISDIR(mode):
        return _Found.REFUSED, "permission denied (it is a directory)"
    if not stat.S_ISREG(mode):
        return _Found.REFUSED, "permission denied (not a regular file)"
    return _Found.REFUSED, "permission denied (not executable)"


def check_command(root_fd: int, program: str, search: str, cwd: str,
                  mounted: Sequence[str] = ()) -> None:
    """Raise CommandNotFound or CommandNotRunnable when the container's init would fail to
    run `program`, judged as its execvp will look: a name with a slash as a path (from
    `cwd` when relative), any other name in each directory of `search` (the container's
    PATH; an empty entry is the working directory); EACCES on any candidate and nothing
    runnable is "cannot be run", as execvp reports it.

    This runs before runc is asked, in the tree held by `root_fd`, so a failed create is
    undone before a process exists. It is not the only check: stockade-init's execvp is the
    last word (it exits 127 or 126, as a shell), and this one stays out of its way where it
    cannot see what the init will: paths under `mounted` (binds not mounted yet) and walks
    that fail for another reason pass. The execute bit is any of the three: whether the
    process's user may run it is for execve (126) to say."""
    if "/" in program:
        found, why = _judge(root_fd, posixpath.join(cwd, program), mounted)
        if found is _Found.MISSING:
            raise CommandNotFound(f"command not found in the container: {program!r}: {why}")
        if found is _Found.REFUSED:
            raise CommandNotRunnable(f"command cannot be run in the container: {program!r}: "
                                     f"{why}")
        return
    judged = [_judge(root_fd, posixpath.join(cwd, d, program), mounted)
              for d in (search.split(":") if search else [""])]
    if any(found in (_Found.RUNNABLE, _Found.UNKNOWN) for found, _ in judged):
        return
    if any(found is _Found.REFUSED for found, _ in judged):
        raise CommandNotRunnable(f"command cannot be run in the container: {program!r}: "
                                 "found in $PATH but permission denied (not an executable "
                                 "file)")
    raise CommandNotFound(f"command not found in the container: {program!r}: executable "
                          f"file not found in $PATH ({search})")


def require_command(rootfs: Path, program: str, search: str, cwd: str,
                    mounted: Sequence[str] = ()) -> None:
    """check_command in the tree at `rootfs` (an image's, before the container runs)."""
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        check_command(root_fd, program, search, cwd, mounted)
    finally:
        os.close(root_fd)


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
