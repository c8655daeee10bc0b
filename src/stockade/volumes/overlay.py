"""A container's root filesystem: read-only image layers under a private writable layer."""

from dataclasses import dataclass
from pathlib import Path

from stockade.linux.mounts import MS_NODEV, MS_NOSUID, is_mountpoint, mount, unmount


@dataclass(frozen=True)
class RootFs:
    """Where one container's overlay pieces live; upper and work sit in the writable layer."""

    directory: Path
    writable: Path

    @property
    def upper(self) -> Path:
        return self.writable / "upper"

    @property
    def work(self) -> Path:
        return self.writable / "work"

    @property
    def merged(self) -> Path:
        return self.directory / "rootfs"


def mount_overlay(fs: RootFs, layers: tuple[Path, ...]) -> None:
    """Mount the overlay; upper and work must already exist on the writable layer."""
    fs.merged.mkdir(exist_ok=True)
    lower = ":".join(str(p) for p in reversed(layers))  # overlay lists the top layer first
    options = f"lowerdir={lower},upperdir={fs.upper},workdir={fs.work}"
    # nosuid: a setuid file the container plants must not raise anyone who runs it from
    # the host through the store path (it would run as the shared container uid).
    mount("overlay", fs.merged, "overlay", MS_NOSUID | MS_NODEV, options)


def unmount_overlay(directory: Path) -> None:
    """Safe when nothing is mounted; refuses to leave a mount behind silently."""
    merged = directory / "rootfs"
    if is_mountpoint(merged):
        unmount(merged)
    if is_mountpoint(merged):
        raise OSError(f"{merged} is still mounted")
