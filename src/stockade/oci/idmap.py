"""Idmapped mounts through the new mount API (Linux 5.12+), called with ctypes.

Python has no binding for open_tree, mount_setattr or move_mount; x86_64 numbers below.
An idmapped mount shows a directory's files shifted by a user namespace's mapping, so a
root-owned image appears owned by the container's root without a chown.
"""

import contextlib
import ctypes
import os
import struct
from collections.abc import Callable, Iterator

_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
_SYS_MOUNT_SETATTR = 442
_OPEN_TREE_CLONE = 1
_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000
_AT_RECURSIVE = 0x8000
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_MOUNT_ATTR_IDMAP = 0x00100000
_MS_PRIVATE = 1 << 18
_MNT_DETACH = 2
_CLONE_NEWUSER = 0x10000000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

Mapping = tuple[tuple[int, int, int], ...]


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


@contextlib.contextmanager
def child_in_userns(enter: Callable[[], bool], failure: str) -> Iterator[int]:
    """The pid of a forked child that ran `enter` (join or make a user namespace) and
    waits until the caller is done with its /proc/<pid> files; OSError(failure) if
    `enter` did not succeed. The child holds no fd of the caller's beyond the pipes."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(done_w)
            try:
                ok = enter()
            except OSError:
                ok = False
            os.write(ready_w, b"1" if ok else b"0")
            os.read(done_r, 1)
        finally:
            os._exit(0)
    try:
        os.close(ready_w)
        os.close(done_r)
        if os.read(ready_r, 1) != b"1":
            raise OSError(failure)
        yield pid
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)


def userns_fd(uid_map: Mapping, gid_map: Mapping) -> int:
    """A user namespace with these mappings, held by an fd (no process stays in it)."""
    with child_in_userns(lambda: _libc.unshare(_CLONE_NEWUSER) == 0,
                         "cannot create a user namespace for the idmapped mount") as pid:
        for name, mapping in (("uid_map", uid_map), ("gid_map", gid_map)):
            text = "".join(f"{c} {h} {s}\n" for c, h, s in mapping)
            with open(f"/proc/{pid}/{name}", "w") as handle:
                handle.write(text)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)


def clone_tree(source: str, userns: int | None = None) -> int:
    """A detached, private copy of the mount tree at `source`; idmapped through `userns`
    when one is given."""
    flags = _OPEN_TREE_CLONE | os.O_CLOEXEC | _AT_RECURSIVE
    tree = _check(_libc.syscall(_SYS_OPEN_TREE, _AT_FDCWD, source.encode(), flags),
                  f"open_tree {source}")
    attr_set = _MOUNT_ATTR_IDMAP if userns is not None else 0
    attr = ctypes.create_string_buffer(struct.pack("QQQQ", attr_set, 0, _MS_PRIVATE,
                                                   userns if userns is not None else 0), 32)
    try:
        _check(_libc.syscall(_SYS_MOUNT_SETATTR, tree, b"", _AT_EMPTY_PATH | _AT_RECURSIVE,
                             attr, 32), f"idmapping {source}")
    except OSError:
        os.close(tree)
        raise
    return tree


def attach(tree: int, target: str) -> None:
    """Mount a detached tree at `target`; the fd is closed either way."""
    try:
        _check(_libc.syscall(_SYS_MOVE_MOUNT, tree, b"", _AT_FDCWD, target.encode(),
                             _MOVE_MOUNT_F_EMPTY_PATH), f"move_mount to {target}")
    finally:
        os.close(tree)


def mount(source: str, target: str, fstype: str, options: str) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode(), 0, options.encode()),
           f"mounting {fstype} at {target}")


def make_private(target: str) -> None:
    _check(_libc.mount(None, target.encode(), None, _MS_PRIVATE, None),
           f"making {target} private")


def detach(target: str) -> None:
    """Lazily unmount `target`; already gone is fine."""
    with contextlib.suppress(OSError):
        _check(_libc.umount2(target.encode(), _MNT_DETACH), f"unmounting {target}")


def unmount(target: str) -> None:
    """Unmount `target` now; raises when it is busy."""
    _check(_libc.umount2(target.encode(), 0), f"unmounting {target}")
