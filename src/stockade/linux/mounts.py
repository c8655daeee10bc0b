"""mount(2) and umount2(2) through libc, without shelling out, and mountinfo queries."""

import ctypes
import errno
import os
import re
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
MNT_DETACH = 2
MS_NOSUID = 0x2
MS_NODEV = 0x4
_OCTAL = re.compile(r"\\([0-7]{3})")


def mount(source: str, target: Path, fstype: str, flags: int = 0, data: str = "") -> None:
    rc = _libc.mount(source.encode(), str(target).encode(), fstype.encode(),
                     ctypes.c_ulong(flags), data.encode())
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype} on {target}: {os.strerror(err)}")


def unmount(target: Path) -> None:
    """Detach `target`; a path that is not mounted is fine (destroy runs twice)."""
    rc = _libc.umount2(str(target).encode(), MNT_DETACH)
    if rc != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise OSError(err, f"umount {target}: {os.strerror(err)}")


_SYS_OPEN_TREE = 428  # the new mount calls share one number on every architecture
_SYS_MOVE_MOUNT = 429
_SYS_MOUNT_SETATTR = 442
_OPEN_TREE_CLONE = 0x1
_AT_EMPTY_PATH = 0x1000
_AT_RECURSIVE = 0x8000
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_AT_FDCWD = -100
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _checked(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def clone_tree(fd: int, attributes: int = 0) -> int:
    """A detached copy of the mount tree at the file or directory `fd` names (as `mount
    --rbind` would take it), with `attributes` (MOUNT_ATTR_*) set on every mount in it.
    Nothing is attached anywhere until attach(); closing the descriptor drops it."""
    tree = _checked(_libc.syscall(_SYS_OPEN_TREE, fd, b"", _OPEN_TREE_CLONE | _AT_EMPTY_PATH
                                  | _AT_RECURSIVE | os.O_CLOEXEC), "open_tree")
    if attributes:
        attr = _MountAttr(attributes, 0, 0, 0)
        try:
            _checked(_libc.syscall(_SYS_MOUNT_SETATTR, tree, b"", _AT_EMPTY_PATH | _AT_RECURSIVE,
                                   ctypes.byref(attr), ctypes.sizeof(attr)), "mount_setattr")
        except BaseException:
            os.close(tree)
            raise
    return tree


def attach(tree: int, target: Path) -> None:
    """Attach a detached tree from clone_tree() at `target`."""
    _checked(_libc.syscall(_SYS_MOVE_MOUNT, tree, b"", _AT_FDCWD, str(target).encode(),
                           _MOVE_MOUNT_F_EMPTY_PATH), f"move_mount to {target}")


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def mount_points() -> list[Path]:
    with open("/proc/self/mountinfo") as info:
        return [Path(_unescape(line.split()[4])) for line in info]


def is_mountpoint(path: Path) -> bool:
    target = path.resolve() if path.exists() else path
    return target in mount_points()


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below `path`, deepest first, so they can be unmounted in order."""
    base = path.resolve() if path.exists() else path
    found = [m for m in mount_points() if m == base or base in m.parents]
    return sorted(set(found), key=lambda m: len(m.parts), reverse=True)


def unmount_under(path: Path) -> None:
    """Unmount everything at or below `path` (a tree about to be removed)."""
    for point in mounts_under(path):
        unmount(point)
    left = mounts_under(path)
    if left:
        raise OSError(errno.EBUSY, f"{left[0]} is still mounted")


def filesystem_type(path: Path) -> str:
    """The filesystem type of the mount holding `path` (longest matching mount point)."""
    real = path.resolve()
    best, kind = Path("/"), "unknown"
    with open("/proc/self/mountinfo") as info:
        for line in info:
            fields = line.split()
            point = Path(_unescape(fields[4]))
            fstype = fields[fields.index("-") + 1]
            if (point == real or point in real.parents) and len(point.parts) >= len(best.parts):
                best, kind = point, fstype
    return kind
