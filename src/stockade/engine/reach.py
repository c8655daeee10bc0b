"""Can the containers' mapped ids reach the state root? runc resolves each container's
rootfs as the container's root user, which is an unprivileged host id with no capability
over host-owned directories, so every directory above the rootfs must grant it search
permission. Without this check a root inside a 0700 directory (what `mktemp -d` makes)
fails deep inside runc as "error preparing rootfs: permission denied"."""

import os
import stat
from pathlib import Path

from stockade.errors import InvalidSpec


def may_search(mode: int, owner: int, group: int, uid: int, gid: int) -> bool:
    """The kernel's permission check for a process with no capabilities and no
    supplementary groups: the owner's bits apply to the owner alone, the group's to the
    group alone, the others' bits to everyone else (ACLs are not consulted)."""
    if owner == uid:
        return bool(mode & stat.S_IXUSR)
    if group == gid:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def blocking_directory(root: Path, uid: int, gid: int) -> tuple[Path, os.stat_result] | None:
    """The highest directory on the way to `root` (itself included, if it exists) that
    `uid`/`gid` may not search, or None."""
    root = Path(os.path.abspath(root))
    for directory in [*reversed(root.parents), root]:
        try:
            info = directory.stat()
        except FileNotFoundError:
            return None  # what does not exist yet, the engine makes with mode 0711
        if not may_search(info.st_mode, info.st_uid, info.st_gid, uid, gid):
            return directory, info
    return None


def check_reachable(root: Path, uid: int, gid: int) -> None:
    """Raise one line naming the directory and the fix if containers cannot reach `root`."""
    blocked = blocking_directory(root, uid, gid)
    if blocked is None:
        return
    directory, info = blocked
    raise InvalidSpec(
        f"containers cannot reach the state root {root}: {directory} "
        f"(mode {stat.S_IMODE(info.st_mode):04o}, owner {info.st_uid}:{info.st_gid}) "
        f"does not let their root user (host uid {uid}) traverse it; "
        f"run `chmod o+x {directory}` or choose a root whose parents others can traverse")
