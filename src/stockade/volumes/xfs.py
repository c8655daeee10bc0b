"""XFS project quotas: the strongest backend, used when the store is on XFS with prjquota.

This kernel (CONFIG_XFS_QUOTA unset) cannot run it, so it is probed and skipped here;
the code path follows xfs_quota(8) and is exercised only on hosts that have it."""

import contextlib
import hashlib
import re
import shutil
from pathlib import Path

from stockade.linux.mounts import (
    MS_NODEV,
    MS_NOSUID,
    filesystem_type,
    is_mountpoint,
    mount,
    mount_points,
    unmount,
)
from stockade.volumes import tools, writable
from stockade.volumes.record import VolumeRecord

QUOTA_PROC = Path("/proc/fs/xfs/xqmstat")  # present only when the kernel has XFS quotas
_PROJECT_BASE = 1 << 20
_PROJECT_SPAN = (1 << 31) - _PROJECT_BASE
_MS_REMOUNT = 0x20
_MS_BIND = 0x1000


def mount_options(path: Path) -> set[str]:
    """Superblock options of the mount holding `path` (prjquota shows up there)."""
    real = path.resolve()
    best, options = Path("/"), set[str]()
    with open("/proc/self/mountinfo") as info:
        for line in info:
            fields = line.split()
            point = Path(fields[4])
            if (point == real or point in real.parents) and len(point.parts) >= len(best.parts):
                best = point
                options = set(fields[fields.index("-") + 3].split(","))
    return options


def unavailable_reason(store: Path) -> str | None:
    """None when project quotas can be used on `store`, else why not."""
    problems = []
    if not QUOTA_PROC.exists():
        problems.append("kernel built without XFS quota support (no /proc/fs/xfs/xqmstat)")
    kind = filesystem_type(store)
    if kind != "xfs":
        problems.append(f"store {store} is on {kind}, not XFS")
    elif not mount_options(store) & {"prjquota", "pquota", "pqnoenforce"}:
        problems.append(f"XFS store {store} is not mounted with prjquota")
    if shutil.which("xfs_quota") is None:
        problems.append("xfs_quota is not installed")
    return "; ".join(problems) or None


def seal(directory: Path) -> None:
    """Bind the writable layer onto itself nosuid, nodev. The other backends mount a
    filesystem of their own with those flags; here the layer is a directory of the
    store's filesystem, which may allow setuid files and device nodes."""
    if not is_mountpoint(directory):
        mount(str(directory), directory, "", _MS_BIND)
    mount("", directory, "", _MS_BIND | _MS_REMOUNT | MS_NOSUID | MS_NODEV)


def unseal(directory: Path) -> None:
    """Undo seal(); safe when it was never sealed or is gone."""
    if directory.exists() and is_mountpoint(directory):
        unmount(directory)


class XfsBackend:
    """A project id per container directory, with a hard block limit on the project."""

    name = "xfs"

    def __init__(self, root: Path) -> None:
        self._root = root

    def _mountpoint(self) -> Path:
        real = self._root.resolve()
        points = [p for p in mount_points() if p == real or p in real.parents]
        return max(points, key=lambda p: len(p.parts))

    def plan(self, directory: Path, handle: str, disk_bytes: int) -> VolumeRecord:
        digest = int.from_bytes(hashlib.sha256(str(directory).encode()).digest()[:8], "big")
        return VolumeRecord(backend="xfs", disk_bytes=disk_bytes, writable=directory / "disk",
                            project_id=_PROJECT_BASE + digest % _PROJECT_SPAN)

    def _quota(self, command: str) -> str:
        return tools.run(["xfs_quota", "-x", "-c", command, str(self._mountpoint())])

    def create(self, record: VolumeRecord, owner: int) -> None:
        record.writable.mkdir(mode=0o700, exist_ok=True)
        self._quota(f"project -s -p {record.writable} {record.project_id}")
        self._quota(f"limit -p bhard={record.disk_bytes} {record.project_id}")
        writable.prepare(record.writable, owner)
        seal(record.writable)

    def destroy(self, record: VolumeRecord) -> None:
        unseal(record.writable)
        if record.writable.exists():
            with contextlib.suppress(tools.VolumeError):
                self._quota(f"limit -p bhard=0 {record.project_id}")
                self._quota(f"project -C -p {record.writable} {record.project_id}")
            shutil.rmtree(record.writable, ignore_errors=True)

    def resize(self, record: VolumeRecord, disk_bytes: int) -> None:
        self._quota(f"limit -p bhard={disk_bytes} {record.project_id}")

    def used_bytes(self, record: VolumeRecord) -> int | None:
        out = self._quota(f"quota -p -N -b {record.project_id}")
        match = re.search(r"\s(\d+)\s", out)
        return int(match.group(1)) * 1024 if match else None  # xfs_quota reports KiB

    def release_idle(self) -> None:
        """Project quotas need no shared mount of ours."""

    def cleanup(self, live: set[str]) -> list[str]:
        return []
