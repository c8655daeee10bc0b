"""Bind mounts: resolve callers' host paths below the allowlist and stage exactly that.

Each host path is resolved once from a descriptor of the allowlisted base it is written
under, refusing symlinks on the way (linux/beneath.py). The resolved directory or file is
then cloned as a detached mount (open_tree) and attached in a staging directory only root
can reach, and runc is given that staging path. The check and the use are the same
object: swapping a path component for a symlink after the check changes nothing.

Why not hand runc the descriptor itself (/proc/<daemon pid>/fd/N)? runc 1.1 opens bind
sources inside the container's new mount namespace and the kernel refuses to bind a mount
that belongs to another namespace (EINVAL), whether the descriptor is an O_PATH one or a
detached open_tree clone. A mount attached before runc starts is copied into that
namespace with everything else. runc has its own copy once `runc create` returns, so the
staging mounts live only that long; unstage() is safe to call again at any time."""

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from stockade.errors import InvalidSpec, NotFound
from stockade.linux import beneath, mounts
from stockade.spec import BindMount


def open_source(mount: BindMount, allowlist: tuple[Path, ...]) -> int:
    """An O_PATH descriptor of the mount's host directory or file, refused in one line
    if it is outside the allowlist, missing, reached through a symlink, or anything else."""
    try:
        fd = beneath.open_under(mount.host_path, allowlist, "host path")
    except NotFound as exc:
        raise InvalidSpec(str(exc)) from None
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        os.close(fd)
        raise InvalidSpec(f"host path {mount.host_path} is neither a directory nor a file")
    return fd


def stage(wanted: list[BindMount], allowlist: tuple[Path, ...],
          staging: Path) -> list[BindMount]:
    """The mounts with each host path replaced by its staged copy under `staging`.

    On failure some copies may be attached already: the caller's undo runs unstage()."""
    if not wanted:
        return []
    staged = []
    unstage(staging)  # a daemon killed mid-create may have left this handle's copies
    staging.parent.mkdir(mode=0o700, exist_ok=True)
    staging.mkdir(mode=0o700)
    for index, mount in enumerate(wanted):
        target = staging / str(index)
        fd = open_source(mount, allowlist)
        try:
            # nosuid and nodev on every mount of the copy, read-only if asked: the flags
            # runc would set, already true of what it starts from
            attributes = mounts.MOUNT_ATTR_NOSUID | mounts.MOUNT_ATTR_NODEV
            if mount.read_only:
                attributes |= mounts.MOUNT_ATTR_RDONLY
            try:
                tree = mounts.clone_tree(fd, attributes)
            except OSError as exc:
                raise InvalidSpec(f"host path {mount.host_path} cannot be bind-mounted: "
                                  f"{exc.strerror}") from None
            try:
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    target.mkdir(mode=0o700)
                else:
                    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                                     | os.O_CLOEXEC, 0o600))
                mounts.attach(tree, target)
            finally:
                os.close(tree)
        finally:
            os.close(fd)
        staged.append(mount.model_copy(update={"host_path": str(target)}))
    return staged


def unstage(staging: Path) -> None:
    """Detach and remove every staged copy; nothing there is ever deleted recursively,
    so a copy still attached (of a caller's directory) can never be emptied."""
    if not staging.is_dir():
        return
    for entry in staging.iterdir():
        mounts.unmount(entry)
        with contextlib.suppress(FileNotFoundError):
            if entry.is_dir():
                entry.rmdir()
            else:
                entry.unlink()
    with contextlib.suppress(FileNotFoundError):
        staging.rmdir()


def sweep(parent: Path, exists: Callable[[str], bool]) -> list[str]:
    """unstage() what a killed daemon left for containers that no longer exist (asked
    right before each removal: a create may have begun meanwhile)."""
    if not parent.is_dir():
        return []
    done = []
    for staging in parent.iterdir():
        if not exists(staging.name):
            unstage(staging)
            done.append(f"removed leftover bind staging {staging.name}")
    return done

