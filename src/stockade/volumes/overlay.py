"""A container's root filesystem: read-only image layers under a private writable layer."""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from stockade.volumes.mounts import is_mountpoint, mount, unmount


@dataclass(frozen=True)
class RootFs:
    """Where one container's overlay pieces live."""

    directory: Path

    @property
    def upper(self) -> Path:
        return self.directory / "upper"

    @property
    def work(self) -> Path:
        return self.directory / "work"

    @property
    def merged(self) -> Path:
        return self.directory / "rootfs"


def create(directory: Path, layers: tuple[Path, ...], owner: int) -> RootFs:
    """Mount the overlay; `owner` is the host uid/gid of container root."""
    fs = RootFs(directory)
    for path in (fs.upper, fs.work, fs.merged):
        path.mkdir(parents=True, exist_ok=True)
    os.chown(fs.upper, owner, owner)
    os.chown(fs.work, owner, owner)
    lower = ":".join(str(p) for p in reversed(layers))  # overlay lists the top layer first
    options = f"lowerdir={lower},upperdir={fs.upper},workdir={fs.work}"
    mount("overlay", fs.merged, "overlay", 0, options)
    return fs


def destroy(directory: Path) -> None:
    """Unmount and remove; safe on half-created and already-removed state."""
    fs = RootFs(directory)
    if is_mountpoint(fs.merged):
        unmount(fs.merged)
    if is_mountpoint(fs.merged):
        raise OSError(f"{fs.merged} is still mounted; refusing to remove through it")
    for path in (fs.merged, fs.upper, fs.work):
        shutil.rmtree(path, ignore_errors=True)
