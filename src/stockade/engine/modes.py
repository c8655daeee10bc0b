"""Secrets at rest: the mode of everything the engine keeps under its state root.

The state database holds every container's environment, the bundles hold it again, and
the logs hold whatever the containers print, so every file is root's alone (0600) and
every directory is closed (0700). The exceptions are what runc needs: it sets up each
container as the container's root user (host uid and gid `id_base`), which has no
capability over host-owned inodes, so
- the root and `containers/` are 0711: runc resolves the rootfs through them (search
  only; nobody may list them);
- each container's directory and its `net/` are 0710 with group `id_base`: the
  container's root group passes, no other host user does. That keeps everyone else out
  of the mounted rootfs (whatever the container writes there with its own umask) and of
  the hosts and resolv.conf files runc bind-mounts from `net/`, which are 0644 because
  the container's users read them through those mounts;
- `bin/` and the init and probe in it are 0711: runc bind-mounts the directory and every
  container user executes through it (a static binary needs no read permission).
Image layers and writable layers need no such passage: overlayfs reaches its lower, upper
and work directories with the credentials of whoever mounted it, the daemon (tested with
runc 1.1). So `images/`, `volumes/` and the writable layers are 0700.

`repair` brings an existing root (from before these modes, or made under another umask)
to them and names each change; it never follows a link, leaves the contents of images,
rootfs and writable layers alone, and does not cross into another filesystem."""

import os
import stat
from dataclasses import dataclass
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
PASSAGE = 0o711  # search without listing: for the container's root on its way to a rootfs
HELPER = 0o711  # executed inside containers, read by no one but root
GATE = 0o710  # with group id_base: the containers' root may pass, no one else
NET_FILE = 0o644  # read by the container's users through a read-only bind mount
HELPERS = frozenset({"init", "probe"})


@dataclass(frozen=True)
class Want:
    """The mode (and group) one path should have, and whether its contents are ours."""

    mode: int
    group: int | None = None
    descend: bool = True


def wanted(parts: tuple[str, ...], is_dir: bool, id_base: int) -> Want | None:
    """What the path `parts` (relative to the root) should be; None: not ours, leave it
    and what is below it alone."""
    if not is_dir:
        return _file(parts)
    match parts:
        case () | ("containers",) | ("bin",):
            return Want(PASSAGE)
        case ("containers", _) | ("containers", _, "net"):
            return Want(GATE, group=id_base)
        case ("containers", _, "rootfs") | ("images", "layers", "sha256", _, "rootfs"):
            return None  # the container's or the image's own tree
        case (("containers", _, "bundle") | ("audit",) | ("processes",) | ("images",)
              | ("images", "images") | ("images", "layers") | ("images", "layers", "sha256")
              | ("images", "layers", "sha256", _)):
            return Want(PRIVATE_DIR)
    # the rest is closed and left as it is inside: runc's state, writable layers, staging
    return Want(PRIVATE_DIR, descend=False)


def _file(parts: tuple[str, ...]) -> Want:
    match parts:
        case ("bin", name) if name in HELPERS:
            return Want(HELPER)
        case ("containers", _, "net", _):
            return Want(NET_FILE)
    return Want(PRIVATE_FILE)


def make_dir(path: Path, mode: int, group: int | None = None) -> None:
    """mkdir with `mode` whatever the umask (the daemon's is 077); fine if it exists."""
    path.mkdir(exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fchmod(fd, mode)
        if group is not None:
            os.fchown(fd, -1, group)
    finally:
        os.close(fd)


def make_root(root: Path) -> None:
    """The root and any missing parent of it, made 0711: the containers' root must pass."""
    for directory in reversed([root, *root.parents]):
        if not directory.exists():
            make_dir(directory, PASSAGE)


def repair(root: Path, id_base: int) -> list[str]:
    """Give every path under `root` its wanted mode; one line per change."""
    done: list[str] = []
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        _repair_dir(fd, root, (), os.fstat(fd).st_dev, id_base, done)
    finally:
        os.close(fd)
    return done


def _repair_dir(fd: int, root: Path, parts: tuple[str, ...], device: int, id_base: int,
                done: list[str]) -> None:
    want = wanted(parts, True, id_base)
    if want is None:
        return
    _apply(fd, os.fstat(fd), want, root, parts, done)
    if not want.descend:
        return
    for name in sorted(os.listdir(fd)):
        child = (*parts, name)
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed meanwhile
        if stat.S_ISDIR(info.st_mode):
            _repair_child_dir(fd, name, root, child, device, id_base, done)
        elif stat.S_ISREG(info.st_mode):
            _repair_file(fd, name, root, child, done)
        # links are not followed and have no mode of their own; sockets and FIFOs live
        # only in closed directories


def _repair_child_dir(parent: int, name: str, root: Path, parts: tuple[str, ...],
                      device: int, id_base: int, done: list[str]) -> None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=parent)
    except (FileNotFoundError, NotADirectoryError):
        return  # replaced meanwhile
    try:
        info = os.fstat(fd)
        if info.st_dev != device:  # a mount point: its root's mode is ours, not its tree
            want = wanted(parts, True, id_base)
            if want is not None:
                _apply(fd, info, want, root, parts, done)
            return
        _repair_dir(fd, root, parts, device, id_base, done)
    finally:
        os.close(fd)


def _repair_file(parent: int, name: str, root: Path, parts: tuple[str, ...],
                 done: list[str]) -> None:
    try:  # O_PATH: neither opens a device nor blocks; O_NOFOLLOW: the link itself
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    except FileNotFoundError:
        return
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            _apply(fd, info, _file(parts), root, parts, done)
    finally:
        os.close(fd)


def _apply(fd: int, info: os.stat_result, want: Want, root: Path, parts: tuple[str, ...],
           done: list[str]) -> None:
    # fchmod refuses O_PATH descriptors; the /proc link reaches the same inode
    target = f"/proc/self/fd/{fd}"
    where = root.joinpath(*parts)
    old = stat.S_IMODE(info.st_mode)
    if want.group is not None and info.st_gid != want.group:
        os.chown(target, -1, want.group)
        done.append(f"repaired {where}: group {info.st_gid} -> {want.group}")
        old = stat.S_IMODE(os.stat(target).st_mode)  # chown may clear setgid
    if old != want.mode:
        os.chmod(target, want.mode)
        done.append(f"repaired {where}: mode {old:04o} -> {want.mode:04o}")
