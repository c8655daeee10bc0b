"""Open a path below a trusted base directory without following any symlink.

A caller that checks a path and later uses it by name can be raced: whoever may write in a
directory on the way can swap a component for a symlink in between. So callers resolve
once, here, and from then on use only the file descriptor they got back. Resolution starts
at a descriptor of the base and never follows a symlink (magic links in /proc included) or
a '..' above the base; a refusal is one line naming the component that stopped it."""

import ctypes
import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from stockade.errors import InvalidSpec, NotFound

_SYS_OPENAT2 = 437  # x86_64 and aarch64 share the generic number
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
_NO_LINKS_BENEATH = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH
_RETRIES = 4  # openat2 answers EAGAIN when a rename raced a '..' step
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


def open_beneath(base_fd: int, relative: str, shown: str, base: str = "the base") -> int:
    """An O_PATH descriptor (close-on-exec) of `relative` below `base_fd`.

    Symlinks anywhere on the way, the last component included, are refused, and so is a
    '..' that would climb above the base. `shown` (the path as the caller wrote it) and
    `base` only word the errors: NotFound when something is missing, InvalidSpec else."""
    if relative.startswith("/"):
        raise InvalidSpec(f"{shown} leads outside {base}")
    for _ in range(_RETRIES):
        try:
            return openat2(base_fd, relative, os.O_PATH, _NO_LINKS_BENEATH)
        except OSError as exc:
            if exc.errno != errno.EAGAIN:
                break
    # Refused, raced, or no openat2 (ENOSYS, or EPERM under an old seccomp profile): the
    # walk is just as strict and can say which component was at fault.
    return walk_beneath(base_fd, relative, shown, base)


def walk_beneath(base_fd: int, relative: str, shown: str, base: str = "the base") -> int:
    """open_beneath one component at a time: each step is opened O_NOFOLLOW relative to
    the descriptor of the step before, and '..' goes back to a descriptor already held,
    so no path string is ever resolved twice."""
    if relative.startswith("/"):
        raise InvalidSpec(f"{shown} leads outside {base}")
    held = [os.dup(base_fd)]
    os.set_inheritable(held[0], False)
    done: list[str] = []
    is_dir = True
    try:
        for part in relative.split("/"):
            where = _named(base, done)
            if not is_dir:
                raise InvalidSpec(f"{shown}: {where} is not a directory")
            if part in ("", "."):
                continue
            if part == "..":
                if len(held) == 1:
                    raise InvalidSpec(f"{shown} leads outside {base}")
                os.close(held.pop())
                done.pop()
                continue
            done.append(part)
            where = _named(base, done)
            try:
                fd = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=held[-1])
            except FileNotFoundError:
                raise NotFound(f"{shown}: {where}: no such file or directory") from None
            except OSError as exc:
                raise InvalidSpec(f"{shown}: {where}: {exc.strerror}") from None
            held.append(fd)
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                raise InvalidSpec(f"{shown}: {where} is a symlink; symlinks are not followed, "
                                  "name the real path")
            is_dir = stat.S_ISDIR(mode)
        return held.pop()
    finally:
        for fd in held:
            os.close(fd)


def _named(base: str, parts: list[str]) -> str:
    """A component for an error: absolute when the base is a real directory."""
    if base.startswith("/"):
        return str(PurePosixPath(base, *parts))
    return "/".join(parts) or "."


def base_of(path: str, bases: Sequence[Path]) -> tuple[Path, str] | None:
    """The longest base that `path` is lexically at or below, and the rest of it."""
    parts = PurePosixPath(path).parts
    found = [(b, parts[len(PurePosixPath(b).parts):]) for b in bases
             if parts[:len(PurePosixPath(b).parts)] == PurePosixPath(b).parts]
    if not found:
        return None
    chosen, rest = max(found, key=lambda item: len(item[0].parts))
    return chosen, "/".join(rest)


def open_under(path: str, bases: Sequence[Path], what: str) -> int:
    """An O_PATH descriptor of the absolute `path`, resolved from a descriptor of the
    base it is written under (the base itself is the operator's, taken as configured)."""
    if not path.startswith("/"):
        raise InvalidSpec(f"{what} {path} must be absolute")
    found = base_of(path, bases)
    if found is None:
        allowed = ", ".join(str(b) for b in bases)
        raise InvalidSpec(f"{what} {path} is outside the allowed ({allowed})")
    base, rest = found
    try:
        base_fd = os.open(base, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidSpec(f"{what} {path}: the allowed directory {base}: "
                          f"{exc.strerror}") from None
    try:
        return open_beneath(base_fd, rest, f"{what} {path}", str(base))
    finally:
        os.close(base_fd)


def reopen(fd: int, flags: int) -> int:
    """A readable descriptor of what the O_PATH `fd` names (the same inode, by our own
    /proc/self/fd entry, which no one else can change)."""
    return os.open(f"/proc/self/fd/{fd}", flags | os.O_CLOEXEC)

