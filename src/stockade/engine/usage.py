"""Readings of what containers use and what the host has left."""

import os
from pathlib import Path

from stockade.runtime import cgroups
from stockade.spec import Capacity, ContainerMetrics, ContainerSpec
from stockade.volumes import DiskUsage


def container_metrics(spec: ContainerSpec, cgroup_path: str, disk: DiskUsage | None,
                      network: tuple[int, int] | None) -> ContainerMetrics:
    return ContainerMetrics(
        handle=spec.handle,
        memory_bytes=cgroups.memory_usage(cgroup_path),
        memory_limit_bytes=spec.limits.memory_bytes,
        cpu_seconds=cgroups.cpu_seconds(cgroup_path),
        pids=cgroups.pids_current(cgroup_path),
        disk_used_bytes=disk.used_bytes if disk else None,
        disk_limit_bytes=disk.limit_bytes if disk else spec.limits.disk_bytes,
        network_tx_bytes=network[0] if network else None,
        network_rx_bytes=network[1] if network else None,
    )


def host_capacity(root: Path, free_addresses: int, containers: int) -> Capacity:
    store = os.statvfs(root)
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return Capacity(memory_bytes=pages, disk_bytes=store.f_blocks * store.f_frsize,
                    disk_free_bytes=store.f_bavail * store.f_frsize,
                    max_containers=containers + free_addresses, containers=containers)
