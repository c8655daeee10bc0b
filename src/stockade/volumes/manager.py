"""Per-container root filesystems with a disk quota, whatever backend enforces it."""

import contextlib
import shutil
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from stockade.errors import HostUnsupported, NotFound
from stockade.volumes import overlay, record
from stockade.volumes.btrfs import BtrfsBackend
from stockade.volumes.loopfs import LoopBackend
from stockade.volumes.overlay import RootFs
from stockade.volumes.probe import QuotaChoice, Wanted, choose
from stockade.volumes.record import BackendName, VolumeRecord
from stockade.volumes.xfs import XfsBackend

GIB = 1 << 30


class VolumeConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    root: Path
    backend: Wanted = "auto"
    store_bytes: int = Field(default=16 * GIB, ge=256 << 20)


class DiskUsage(BaseModel):
    used_bytes: int | None
    limit_bytes: int
    backend: str


class Backend(Protocol):
    name: str

    def plan(self, directory: Path, handle: str, disk_bytes: int) -> VolumeRecord: ...

    def create(self, record: VolumeRecord, owner: int) -> None: ...

    def destroy(self, record: VolumeRecord) -> None: ...

    def used_bytes(self, record: VolumeRecord) -> int | None: ...

    def resize(self, record: VolumeRecord, disk_bytes: int) -> None: ...

    def release_idle(self) -> None: ...

    def cleanup(self, live: set[str]) -> list[str]: ...


class Volumes:
    """The one entry point the engine uses for root filesystems and their quotas."""

    def __init__(self, config: VolumeConfig) -> None:
        self.config = config
        self.choice: QuotaChoice = choose(config.root, config.backend)
        self._backends: dict[BackendName, Backend] = {
            "xfs": XfsBackend(config.root),
            "btrfs": BtrfsBackend(config.root, config.store_bytes),
            "loop": LoopBackend(),
        }

    def create(self, directory: Path, layers: tuple[Path, ...], owner: int,
               disk_bytes: int) -> RootFs:
        """Writable layer with quota, then the overlay; a failure leaves nothing behind."""
        if self.choice.active is None:
            raise HostUnsupported(f"cannot enforce a disk quota: {self.choice.reason}")
        backend = self._backends[self.choice.active]
        plan = backend.plan(directory, directory.name, disk_bytes)
        record.save(directory, plan)  # first, so destroy knows what to take apart
        try:
            backend.create(plan, owner)
            fs = RootFs(directory, plan.writable)
            overlay.mount_overlay(fs, layers)
        except BaseException:
            with contextlib.suppress(Exception):
                self.destroy(directory)
            raise
        return fs

    def destroy(self, directory: Path) -> None:
        """Overlay, then writable layer, quota object and loop device; safe to repeat."""
        overlay.unmount_overlay(directory)
        shutil.rmtree(directory / "rootfs", ignore_errors=True)
        plan = record.load(directory)
        if plan is not None:
            self._backends[plan.backend].destroy(plan)
            record.forget(directory)

    def resize(self, directory: Path, disk_bytes: int) -> None:
        """A new quota for a live writable layer; the record follows only on success."""
        plan = record.load(directory)
        if plan is None:
            raise NotFound(f"no writable layer in {directory}")
        self._backends[plan.backend].resize(plan, disk_bytes)
        record.save(directory, plan.model_copy(update={"disk_bytes": disk_bytes}))

    def rootfs(self, directory: Path) -> RootFs:
        plan = record.load(directory)
        return RootFs(directory, plan.writable if plan else directory)

    def usage(self, directory: Path) -> DiskUsage | None:
        plan = record.load(directory)
        if plan is None:
            return None
        with contextlib.suppress(Exception):
            used = self._backends[plan.backend].used_bytes(plan)
            return DiskUsage(used_bytes=used, limit_bytes=plan.disk_bytes, backend=plan.backend)
        return DiskUsage(used_bytes=None, limit_bytes=plan.disk_bytes, backend=plan.backend)

    def cleanup(self, live: set[str]) -> list[str]:
        """Release shared state no live container (by handle) needs."""
        done: list[str] = []
        for backend in self._backends.values():
            done += backend.cleanup(live)
        return done

    def describe(self) -> dict[str, object]:
        return self.choice.model_dump(mode="json") | {
            "store_bytes": self.config.store_bytes}
