"""Read what the pure merge needs to know about a bundle from the host."""

import os
import re
from typing import Any

from stockade.oci.harden import BundleFacts, JoinedUserns

# OCI namespace names to their /proc/<pid>/ns file names.
NS_FILES = {"pid": "pid", "ipc": "ipc", "uts": "uts", "mount": "mnt", "cgroup": "cgroup",
            "network": "net", "user": "user"}
_PROC_NS = re.compile(r"/proc/(\d+)/ns/[a-z_]+")


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


def gather(container_id: str, rootfs: str, config: dict[str, Any]) -> BundleFacts:
    info = os.stat(rootfs)
    host_joined: set[str] = set()
    sandbox = None
    for ns in (config.get("linux") or {}).get("namespaces") or []:
        kind, path = ns.get("type"), ns.get("path")
        if not path or kind not in NS_FILES:
            continue
        try:
            if _same_namespace(path, f"/proc/self/ns/{NS_FILES[kind]}"):
                host_joined.add(kind)
            match = _PROC_NS.fullmatch(path)
            if match and kind != "user" and sandbox is None:
                sandbox = _sandbox_userns(match.group(1))
        except OSError:
            continue  # runc reports a namespace path that does not exist
    return BundleFacts(container_id=container_id, rootfs_uid=info.st_uid,
                       rootfs_gid=info.st_gid, host_joined=frozenset(host_joined),
                       sandbox_userns=sandbox)
