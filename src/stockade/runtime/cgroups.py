"""Reading and tightening a container's cgroups (v1 paths; v2 where it differs)."""

import contextlib
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "blkio",
                  "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc", "systemd",
                  "unified")  # hybrid hosts: runc also makes a directory in the v2 mount


def is_v2(root: Path = CGROUP_ROOT) -> bool:
    return (root / "cgroup.controllers").exists()


def controller_dir(controller: str, cgroup_path: str, root: Path = CGROUP_ROOT) -> Path:
    """Where one controller's files for `cgroup_path` ("/stockade/h") live."""
    relative = cgroup_path.lstrip("/")
    return root / relative if is_v2(root) else root / controller / relative


def tighten_devices(cgroup_path: str) -> None:
    """runc appends 'mknod any device' rules; take them back so only our list remains."""
    if is_v2():
        return  # v2 devices are an eBPF program runc builds from the spec alone
    deny = controller_dir("devices", cgroup_path) / "devices.deny"
    for rule in ("b *:* m", "c *:* m"):
        deny.write_text(rule)


def oom_kills(cgroup_path: str) -> int:
    """How many processes the kernel's OOM killer has killed in this cgroup."""
    if is_v2():
        name, key = "memory.events", "oom_kill"
    else:
        name, key = "memory.oom_control", "oom_kill"
    try:
        text = (controller_dir("memory", cgroup_path) / name).read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        field, _, value = line.partition(" ")
        if field == key:
            return int(value)
    return 0


def remove_empty_parents(cgroup_path: str) -> None:
    """runc deletes the leaf; the shared parent goes when no container is left in it."""
    parent = "/" + cgroup_path.strip("/").rsplit("/", 1)[0]
    if parent == "/":
        return
    dirs = [CGROUP_ROOT / parent.lstrip("/")] if is_v2() else [
        CGROUP_ROOT / c / parent.lstrip("/") for c in V1_CONTROLLERS
    ]
    for directory in dirs:
        with contextlib.suppress(OSError):
            directory.rmdir()


def _read_int(controller: str, cgroup_path: str, v1_name: str, v2_name: str) -> int | None:
    name = v2_name if is_v2() else v1_name
    try:
        text = (controller_dir(controller, cgroup_path) / name).read_text().split()[0]
        return int(text)
    except (OSError, ValueError, IndexError):
        return None  # the container is gone, or the controller is not mounted


def memory_usage(cgroup_path: str) -> int | None:
    return _read_int("memory", cgroup_path, "memory.usage_in_bytes", "memory.current")


def pids_current(cgroup_path: str) -> int | None:
    return _read_int("pids", cgroup_path, "pids.current", "pids.current")


def cpu_seconds(cgroup_path: str) -> float | None:
    if is_v2():
        try:
            stat = (controller_dir("cpu", cgroup_path) / "cpu.stat").read_text()
        except OSError:
            return None
        fields = dict(line.split() for line in stat.splitlines() if line.count(" ") == 1)
        return int(fields["usage_usec"]) / 1e6 if "usage_usec" in fields else None
    nanoseconds = _read_int("cpuacct", cgroup_path, "cpuacct.usage", "")
    return None if nanoseconds is None else nanoseconds / 1e9
