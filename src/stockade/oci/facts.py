"""Read what the pure merge needs to know about a bundle from the host."""

import ctypes
import os
import re
import stat
from pathlib import Path
from typing import Any

from stockade.oci.harden import BundleFacts, HostBind, JoinedUserns
from stockade.oci.idmap import child_in_userns
from stockade.policy import hostpaths

# OCI namespace names to their /proc/<pid>/ns file names.
NS_FILES = {"pid": "pid", "ipc": "ipc", "uts": "uts", "mount": "mnt", "cgroup": "cgroup",
            "network": "net", "user": "user"}
_PROC_NS = re.compile(r"/proc/(\d+)/ns/[a-z_]+")
_PROC_USERNS = re.compile(r"/proc/(\d+)/ns/user")
_CLONE_NEWUSER = 0x10000000
# A directory under /run with more entries than this is taken to hold a socket: the
# check stays fast and fails closed.
_SOCKET_SCAN_LIMIT = 4096
_APPARMOR_ENABLED = Path("/sys/module/apparmor/parameters/enabled")
_APPARMOR_PROFILES = Path("/sys/kernel/security/apparmor/profiles")


def _same_namespace(path: str, other: str) -> bool:
    a, b = os.stat(path), os.stat(other)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def read_id_map(path: str) -> tuple[tuple[int, int, int], ...]:
    with open(path) as handle:
        rows = [line.split() for line in handle if line.strip()]
    return tuple((int(c), int(h), int(s)) for c, h, s in rows)


def _sandbox_userns(pid: str) -> JoinedUserns | None:
    """The user namespace of the process whose other namespaces the bundle joins."""
    path = f"/proc/{pid}/ns/user"
    if _same_namespace(path, "/proc/self/ns/user"):
        return None
    return JoinedUserns(path, read_id_map(f"/proc/{pid}/uid_map"),
                        read_id_map(f"/proc/{pid}/gid_map"))


def _userns_by_setns(path: str) -> JoinedUserns:
    """The mapping of the user namespace bound at `path` (an nsfs mount, not a /proc
    path): a child joins it, and its uid_map read from here is in host ids."""
    def join() -> bool:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        return bool(ctypes.CDLL(None, use_errno=True).setns(fd, _CLONE_NEWUSER) == 0)

    with child_in_userns(join, f"cannot join the user namespace {path}") as pid:
        return JoinedUserns(path, read_id_map(f"/proc/{pid}/uid_map"),
                            read_id_map(f"/proc/{pid}/gid_map"))


def _joined_userns(path: str) -> JoinedUserns:
    """The mapping of the user namespace the bundle joins, as the host sees it."""
    match = _PROC_USERNS.fullmatch(path)
    if match is None:
        return _userns_by_setns(path)
    pid = match.group(1)
    return JoinedUserns(path, read_id_map(f"/proc/{pid}/uid_map"),
                        read_id_map(f"/proc/{pid}/gid_map"))


def _holds_socket(path: str) -> bool:
    """Is `path` a unix socket, or a directory with one somewhere beneath it?"""
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            return True
    except OSError:
        return False
    seen = 0
    pending = [path]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue  # not a directory, or gone
        for entry in entries:
            seen += 1
            if seen > _SOCKET_SCAN_LIMIT:
                return True
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            if stat.S_ISSOCK(mode):
                return True
            if stat.S_ISDIR(mode):
                pending.append(entry.path)
    return False


def host_binds(config: dict[str, Any], bundle: str) -> dict[str, HostBind]:
    """Each bind's source resolved as runc will: relative to the bundle, links followed."""
    binds: dict[str, HostBind] = {}
    for mount in config.get("mounts") or []:
        options = set(mount.get("options") or [])
        if mount.get("type") != "bind" and not options & {"bind", "rbind"}:
            continue
        source = str(mount.get("source") or "")
        resolved = os.path.realpath(os.path.join(bundle, source))
        under_run = any(hostpaths.is_under(resolved, run) for run in hostpaths.RUNTIME_DIRS)
        binds[source] = HostBind(resolved, under_run and _holds_socket(resolved))
    return binds


def _apparmor() -> tuple[bool, frozenset[str]]:
    """Whether the kernel enforces AppArmor, and the names of its loaded profiles."""
    try:
        enabled = _APPARMOR_ENABLED.read_text().strip() == "Y"
    except OSError:
        return False, frozenset()
    try:
        lines = _APPARMOR_PROFILES.read_text().splitlines()
    except OSError:
        lines = []
    return enabled, frozenset(line.rsplit(" (", 1)[0] for line in lines)


def gather(container_id: str, rootfs: str, config: dict[str, Any],
           bundle: str = "/") -> BundleFacts:
    info = os.stat(rootfs)
    host_joined: set[str] = set()
    sandbox = joined = None
    for ns in (config.get("linux") or {}).get("namespaces") or []:
        kind, path = ns.get("type"), ns.get("path")
        if not path or kind not in NS_FILES:
            continue
        try:
            if _same_namespace(path, f"/proc/self/ns/{NS_FILES[kind]}"):
                host_joined.add(kind)
            elif kind == "user":
                joined = _joined_userns(path)
            match = _PROC_NS.fullmatch(path)
            if match and kind != "user" and sandbox is None:
                sandbox = _sandbox_userns(match.group(1))
        except OSError:
            continue  # runc reports a namespace path that does not exist
    apparmor, profiles = _apparmor()
    return BundleFacts(container_id=container_id, rootfs_uid=info.st_uid,
                       rootfs_gid=info.st_gid, host_joined=frozenset(host_joined),
                       sandbox_userns=sandbox, joined_userns=joined,
                       binds=host_binds(config, bundle), apparmor=apparmor,
                       apparmor_profiles=profiles)
