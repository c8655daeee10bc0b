"""Last resort: each container's writable layer is its own small ext4 in a loop device."""

import contextlib
import os
import shutil
from pathlib import Path

from stockade.errors import HostUnsupported
from stockade.linux import loopdev
from stockade.linux.mounts import MS_NODEV, MS_NOSUID, is_mountpoint, mount, unmount
from stockade.volumes import tools, writable
from stockade.volumes.record import VolumeRecord


class LoopBackend:
    """A sparse image file per container: the filesystem's size is the quota."""

    name = "loop"

    def plan(self, directory: Path, handle: str, disk_bytes: int) -> VolumeRecord:
        return VolumeRecord(backend="loop", disk_bytes=disk_bytes, writable=directory / "disk",
                            image=directory / "disk.img")

    def create(self, record: VolumeRecord, owner: int) -> None:
        assert record.image is not None
        writable.sparse_file(record.image, record.disk_bytes)
        # no journal and no reserved blocks: the layer is scratch space, all of it usable
        tools.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal",
                   "-E", "nodiscard,lazy_itable_init=1", str(record.image)])
        record.writable.mkdir(mode=0o700, exist_ok=True)
        device, fd = loopdev.attach(record.image)
        try:
            mount(str(device), record.writable, "ext4", MS_NOSUID | MS_NODEV, "discard")
        finally:
            os.close(fd)  # autoclear: from here on the mount alone keeps the device
        writable.prepare(record.writable, owner)

    def destroy(self, record: VolumeRecord) -> None:
        if is_mountpoint(record.writable):
            unmount(record.writable)
        if record.image is not None:
            writable.wait_detached(record.image)
            record.image.unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if not is_mountpoint(record.writable):
                shutil.rmtree(record.writable)

    def resize(self, record: VolumeRecord, disk_bytes: int) -> None:
        raise HostUnsupported("the loop quota backend cannot change a live container's disk "
                              "limit (its filesystem size is the quota); btrfs and xfs can")

    def used_bytes(self, record: VolumeRecord) -> int | None:
        if not is_mountpoint(record.writable):
            return None
        st = os.statvfs(record.writable)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def release_idle(self) -> None:
        """Nothing is shared between containers."""

    def cleanup(self, live: set[str]) -> list[str]:
        """Each container's device goes with its destroy; nothing shared is left."""
        return []
