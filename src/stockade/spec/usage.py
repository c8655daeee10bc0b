"""What the API reports about resource use: per-container metrics and host capacity."""

from pydantic import BaseModel


class ContainerMetrics(BaseModel):
    handle: str
    memory_bytes: int | None  # current usage, page cache included (cgroup accounting)
    memory_limit_bytes: int
    cpu_seconds: float | None
    pids: int | None
    disk_used_bytes: int | None
    disk_limit_bytes: int
    network_tx_bytes: int | None  # sent by the container
    network_rx_bytes: int | None
    log_bytes: int = 0  # the container's log files on the host disk (capped: inspect's log)


class Capacity(BaseModel):
    memory_bytes: int
    disk_bytes: int  # space on the filesystem holding the store
    disk_free_bytes: int
    max_containers: int  # bounded by the address pool
    containers: int


class LimitsPatch(BaseModel):
    """Fields left out stay as they are; sizes take 256M-style strings or bytes."""

    model_config = {"extra": "forbid"}

    memory_bytes: int | str | None = None
    cpu_shares: int | None = None
    cpus: float | None = None
    pids: int | None = None
    disk_bytes: int | str | None = None
