"""The daemon's answer to `GET /v1/info` (`stockade info`): what the host offers and what
the daemon uses. The daemon answers with this model, and `Client.info()` reads it back.

The host's part mirrors `stockade.host.HostFeatures`, the quota's `stockade.volumes`'
choice: the wire cannot import the server, so the fields are written again here and
tests/unit/test_wire_system.py checks they stay the same. Events (`GET /v1/events`) are
`stockade.wire.models.EventOut`."""

from typing import Literal

from pydantic import BaseModel, ConfigDict

from stockade.wire.models import EventOut

Event = EventOut  # one container event: seq, time, handle, kind, detail


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class Mechanism(_Answer):
    """One kernel facility: whether it is usable and, either way, why."""

    available: bool
    detail: str


class HostFacts(_Answer):
    """What the daemon's host offers (probed once at its start)."""

    kernel: str
    arch: str
    cpus: int
    memory_bytes: int
    user_namespaces: Mechanism
    cgroup_version: Literal[1, 2]
    cgroup_controllers: tuple[str, ...]
    seccomp: Mechanism
    apparmor: Mechanism
    landlock_abi: int
    landlock: Mechanism
    overlayfs: Mechanism
    runc: Mechanism
    runc_version: str | None
    nofile_hard: int
    runc_package: str | None = None
    runc_backports: tuple[str, ...] = ()


class QuotaCandidate(_Answer):
    name: Literal["xfs", "btrfs", "loop"]
    available: bool
    detail: str


class Quota(_Answer):
    """The disk quota backend in force (None: none can enforce one), and every probe."""

    active: Literal["xfs", "btrfs", "loop"] | None
    reason: str
    candidates: tuple[QuotaCandidate, ...]
    store_bytes: int


class SystemInfo(_Answer):
    host: HostFacts
    mac: Literal["apparmor", "landlock", "none"]  # the mandatory access control layer used
    runc_minimum: Mechanism  # whether this runc carries the fixes Stockade needs
    root: str  # the daemon's state root
    id_base: int  # the first host id of the containers' id ranges
    quota: Quota
    network_log: str  # "recording", "not started" or "unavailable: WHY"
    audit_log: str  # the audit log's path on the daemon's host
    landlock_events: Mechanism  # whether Landlock denials become events
    host_baseline: str  # the host baseline's one-line summary (docs/host.md)


__all__ = ["Event", "HostFacts", "Mechanism", "Quota", "QuotaCandidate", "SystemInfo"]
