"""Filesystem layout inside the container: mounts, masked and read-only paths."""

from stockade.spec import BindMount

MASKED_PATHS = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
    "/sys/fs/selinux",
    "/sys/kernel/debug",
    "/sys/kernel/security",
)

READONLY_PATHS = (
    # on cgroup v1 runc mounts a writable tmpfs here to hold the (read-only) hierarchies
    "/sys/fs/cgroup",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

_NOSUID_NOEXEC_NODEV = ["nosuid", "noexec", "nodev"]


def base_mounts() -> list[dict[str, object]]:
    """Kernel filesystems every container gets; /dev is a fresh small tmpfs."""
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": _NOSUID_NOEXEC_NODEV},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": [*_NOSUID_NOEXEC_NODEV, "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": _NOSUID_NOEXEC_NODEV},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": [*_NOSUID_NOEXEC_NODEV, "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": [*_NOSUID_NOEXEC_NODEV, "relatime", "ro"]},
    ]


def bind_mounts(mounts: list[BindMount]) -> list[dict[str, object]]:
    """Caller's host directories; never setuid, never device nodes, and never executable
    where writable (policy/noexec.py)."""
    return [
        {"destination": m.container_path, "type": "bind", "source": m.host_path,
         "options": ["rbind", "nosuid", "nodev", "ro"] if m.read_only
         else ["rbind", "nosuid", "nodev", "rw", "noexec"]}
        for m in mounts
    ]
