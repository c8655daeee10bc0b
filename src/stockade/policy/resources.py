"""Cgroup resources and rlimits, derived from the spec's limits and the host."""

from stockade.spec import Limits

MIB = 1 << 20
CFS_PERIOD_US = 100_000  # the kernel's default period; --cpus sets the quota within it
SHARES_FLOOR = 10
SHARES_CAP = 1024
NOFILE_SOFT = 1024
NOFILE_HARD_WANTED = 16384
# Host-level OOM pressure should take container processes before host daemons.
CONTAINER_OOM_SCORE_ADJ = 500


def cpu_shares_for_memory(memory_bytes: int) -> int:
    """Platform facts: clamp(floor(MiB / 8), 10, 1024)."""
    return max(SHARES_FLOOR, min(SHARES_CAP, (memory_bytes // MIB) // 8))


def effective_cpu_shares(limits: Limits) -> int:
    return limits.cpu_shares if limits.cpu_shares is not None else cpu_shares_for_memory(
        limits.memory_bytes
    )


def cpu_quota(cpus: float) -> int:
    """Microseconds of CPU time per period for `cpus` CPUs (the kernel's floor is 1 ms)."""
    return max(1000, round(cpus * CFS_PERIOD_US))


def cgroup_resources(limits: Limits, devices: list[dict[str, object]]) -> dict[str, object]:
    """Hard memory (swap equal to the limit: none used), shares, pids, devices."""
    cpu: dict[str, object] = {"shares": effective_cpu_shares(limits)}
    if limits.cpuset_cpus is not None:
        cpu["cpus"] = limits.cpuset_cpus
    if limits.cpus is not None:
        cpu["quota"] = cpu_quota(limits.cpus)
        cpu["period"] = CFS_PERIOD_US
    return {
        "memory": {"limit": limits.memory_bytes, "swap": limits.memory_bytes},
        "cpu": cpu,
        "pids": {"limit": limits.pids},
        "devices": devices,
    }


def rlimits(host_nofile_hard: int) -> list[dict[str, object]]:
    """Never above what the host allows, or runc fails to apply them."""
    hard = min(NOFILE_HARD_WANTED, host_nofile_hard)
    return [
        {"type": "RLIMIT_NOFILE", "soft": min(NOFILE_SOFT, hard), "hard": hard},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
    ]
