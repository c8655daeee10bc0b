"""What the platform reports about a container (inspect, ps)."""

from typing import Literal

from pydantic import BaseModel

from stockade.spec.container import PortMapping

State = Literal["creating", "created", "running", "stopped"]


class LimitsInfo(BaseModel):
    memory_bytes: int
    cpu_shares: int
    pids: int
    disk_bytes: int
    cpus: float | None = None  # CPU time per period (CFS quota), when limited


class DiskInfo(BaseModel):
    """The writable layer's use against its quota; used is None when it cannot be read."""

    used_bytes: int | None
    limit_bytes: int
    backend: str


class LogInfo(BaseModel):
    """The container's log cap (each file, and how many files are kept) and its use."""

    max_bytes: int
    max_files: int
    used_bytes: int


class ContainerInfo(BaseModel):
    """The inspect contract: scripts rely on these field names."""

    handle: str
    owner: str = "local"  # the identity that created it: "local" (the unix socket) or remote
    state: State
    image: str
    ip: str | None = None
    ports: list[PortMapping] = []
    # TCP ports the application may bind (published and declared) and connect to (None:
    # the firewall alone decides); Landlock enforces them where the kernel can.
    listen_ports: str = ""
    connect_ports: str | None = None
    limits: LimitsInfo
    pid: int | None = None
    events: list[str] = []
    properties: dict[str, str] = {}
    command: list[str] = []
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    # why exit_code is None for a stopped container: "unknown: ..." (its monitor was lost)
    exit_detail: str | None = None
    oom_killed: bool = False
    disk: DiskInfo | None = None
    log: LogInfo | None = None
    # the per-container monitor (conmon): "running", "exited" (with the init), or "lost"
    monitor: Literal["running", "exited", "lost", "none"] = "none"
