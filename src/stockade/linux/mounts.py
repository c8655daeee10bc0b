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
