"""btrfs: one loop-mounted store file, a subvolume per container with a qgroup limit."""

import contextlib
import fcntl
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from stockade.linux import loopdev, private
from stockade.linux.mounts import MS_NODEV, MS_NOSUID, is_mountpoint, mount, unmount
from stockade.volumes import tools, writable
from stockade.volumes.record import VolumeRecord

_QGROUP_ROW = re.compile(r"^0/(\d+)\s+(\d+)\s+(\d+)")
_ORPHAN_AGE_S = 60  # younger subvolumes may belong to a create still in progress


class BtrfsBackend:
    """The store lives in `root`/volumes.btrfs and is mounted only while containers use it."""

    name = "btrfs"

    def __init__(self, root: Path, store_bytes: int) -> None:
        self.image = root / "volumes.btrfs"
        self.mountpoint = root / "volumes"
        self._lock = root / "volumes.lock"
        self._store_bytes = store_bytes

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Mounting, unmounting and subvolume changes of one store are serialised."""
        self._lock.parent.mkdir(parents=True, exist_ok=True)
        lock = private.open_append(self._lock)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock)

    def plan(self, directory: Path, handle: str, disk_bytes: int) -> VolumeRecord:
        return VolumeRecord(backend="btrfs", disk_bytes=disk_bytes,
                            writable=self.mountpoint / handle)

    def create(self, record: VolumeRecord, owner: int) -> None:
        with self._locked():
            self._ensure_mounted()
            tools.run(["btrfs", "-q", "subvolume", "create", str(record.writable)])
            tools.run(["btrfs", "qgroup", "limit", str(record.disk_bytes), str(record.writable)])
            writable.prepare(record.writable, owner)

    def destroy(self, record: VolumeRecord) -> None:
        with self._locked():
            if self.image.exists():
                self._ensure_mounted()  # after a reboot the subvolume is only in the file
            if is_mountpoint(self.mountpoint) and record.writable.exists():
                subvolume = tools.run(["btrfs", "inspect-internal", "rootid",
                                       str(record.writable)]).strip()
                tools.run(["btrfs", "-q", "subvolume", "delete", "-c", str(record.writable)])
                with contextlib.suppress(tools.VolumeError):  # the kernel may drop it itself
                    tools.run(["btrfs", "qgroup", "destroy", f"0/{subvolume}",
                               str(self.mountpoint)])
            self._release_if_idle()

    def resize(self, record: VolumeRecord, disk_bytes: int) -> None:
        with self._locked():
            tools.run(["btrfs", "qgroup", "limit", str(disk_bytes), str(record.writable)])

    def used_bytes(self, record: VolumeRecord) -> int | None:
        if not record.writable.exists() or not is_mountpoint(self.mountpoint):
            return None
        out = tools.run(["btrfs", "qgroup", "show", "-f", "--raw", str(record.writable)])
        for line in out.splitlines():
            match = _QGROUP_ROW.match(line.strip())
            if match:
                return int(match.group(2))
        return None

    def release_idle(self) -> None:
        with self._locked():
            self._release_if_idle()

    def cleanup(self, live: set[str]) -> list[str]:
        """Drop subvolumes no container owns, unmount an idle store, detach a stray device."""
        with self._locked():
            done = []
            if is_mountpoint(self.mountpoint):
                for orphan in sorted(p for p in self.mountpoint.iterdir()
                                     if p.name not in live and _settled(p)):
                    tools.run(["btrfs", "-q", "subvolume", "delete", "-c", str(orphan)])
                    done.append(f"deleted orphaned writable layer {orphan.name}")
            done += self._release_if_idle()
            if not is_mountpoint(self.mountpoint):
                for device in loopdev.devices_backed_by(self.image):
                    loopdev.detach(device)
                    done.append(f"detached {device}")
        return done

    def _ensure_mounted(self) -> None:
        if is_mountpoint(self.mountpoint):
            return
        if not self.image.exists():
            self._make_store()
        self.mountpoint.mkdir(mode=0o700, exist_ok=True)
        device, fd = loopdev.attach(self.image)
        try:
            mount(str(device), self.mountpoint, "btrfs", MS_NOSUID | MS_NODEV, "discard")
        finally:
            os.close(fd)  # autoclear: unmounting the store releases the device
        self.mountpoint.chmod(0o700)  # overlay reaches the layers as the daemon: no passage
        tools.run(["btrfs", "quota", "enable", str(self.mountpoint)])

    def _make_store(self) -> None:
        """Format under a temporary name so a crash never leaves a half-made store."""
        staging = self.image.with_suffix(".btrfs.new")
        writable.sparse_file(staging, self._store_bytes)
        try:
            tools.run(["mkfs.btrfs", "-q", "-f", str(staging)])
            os.rename(staging, self.image)
        finally:
            staging.unlink(missing_ok=True)

    def _release_if_idle(self) -> list[str]:
        if not is_mountpoint(self.mountpoint) or any(self.mountpoint.iterdir()):
            return []
        unmount(self.mountpoint)
        writable.wait_detached(self.image)
        return [f"unmounted idle store {self.mountpoint}"]


def _settled(path: Path) -> bool:
    return time.time() - path.lstat().st_mtime > _ORPHAN_AGE_S
