"""Stage noexec copies of a container's writable rootfs directories for runc to bind.

Each directory is resolved once below a descriptor of the rootfs, refusing symlinks on the
way (an image whose /tmp is a symlink to / gets no mount, and the init grants nothing
through it either). The resolved directory is cloned as a detached mount with nosuid,
nodev and noexec (open_tree, mount_setattr) and attached in the create's bind staging
directory, beside the bind sources (engine/binds.py explains why runc needs a path); the
same unstage() removes both once runc create has returned."""

import os
import stat
from pathlib import Path

from stockade.errors import InvalidSpec, NotFound
from stockade.linux import beneath, mounts

MOUNT_ATTR_NOEXEC = 0x8


def stage(rootfs: Path, paths: list[str], staging: Path) -> list[tuple[str, str]]:
    """(container path, staged host path) for each of `paths` that is a real directory in
    the rootfs; missing ones and those reached through a symlink are left out."""
    staged: list[tuple[str, str]] = []
    if not paths:
        return staged
    staging.parent.mkdir(mode=0o700, exist_ok=True)
    staging.mkdir(mode=0o700, exist_ok=True)  # binds.stage may have made it
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for index, path in enumerate(paths):
            try:
                fd = beneath.open_beneath(root_fd, path.lstrip("/"), path, "the rootfs")
            except (NotFound, InvalidSpec):
                continue
            try:
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    continue
                tree = mounts.clone_tree(fd, mounts.MOUNT_ATTR_NOSUID | mounts.MOUNT_ATTR_NODEV
                                         | MOUNT_ATTR_NOEXEC)
            finally:
                os.close(fd)
            target = staging / f"writable-{index}"
            try:
                target.mkdir(mode=0o700)
                mounts.attach(tree, target)
            finally:
                os.close(tree)
            staged.append((path, str(target)))
    finally:
        os.close(root_fd)
    return staged
