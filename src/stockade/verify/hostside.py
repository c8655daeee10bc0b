"""Facts only the host can see: its own namespaces, the init's credentials and cgroups."""

import os
from pathlib import Path

from stockade.runtime.cgroups import CGROUP_ROOT, is_v2
from stockade.verify.checks import NAMESPACES
from stockade.verify.facts import CgroupFacts

_STATUS_KEYS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp",
                "Seccomp_filters")
_V1_FILES = {"memory": ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
                        "memory.oom_control"),
             "cpu": ("cpu.shares",), "pids": ("pids.max",)}
_V2_FILES = ("memory.max", "memory.swap.max", "cpu.weight", "pids.max")


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def namespaces(pid: int | str) -> dict[str, str]:
    """Namespace links of a process (those it cannot read are left out)."""
    links = {}
    for kind in NAMESPACES:
        try:
            links[kind] = os.readlink(f"/proc/{pid}/ns/{kind}")
        except OSError:
            continue
    return links


def host_namespaces() -> dict[str, str]:
    """The host's: those of its pid 1, or where a hardened /proc hides pid 1 from us,
    stockade's own (it runs on the host, and a container must differ from both)."""
    return namespaces("self") | namespaces(1)


def process_status(pid: int) -> dict[str, str]:
    fields = {}
    for line in (_read(Path(f"/proc/{pid}/status")) or "").splitlines():
        key, _, value = line.partition(":")
        if key in _STATUS_KEYS:
            fields[key] = value.strip()
    return fields


def descriptors_above_stderr(pid: int) -> tuple[str, ...]:
    """'N target' for each descriptor above 2; stdio goes to logs or pipes by design."""
    found = []
    try:
        numbers = sorted(int(n) for n in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return ()
    for number in numbers:
        if number > 2:
            try:
                found.append(f"{number} {os.readlink(f'/proc/{pid}/fd/{number}')}")
            except OSError:
                continue  # closed meanwhile
    return tuple(found)


def cgroup_paths(pid: int) -> dict[str, str]:
    """Controller -> path from /proc/<pid>/cgroup; '' keys the unified (v2) hierarchy."""
    paths = {}
    for line in (_read(Path(f"/proc/{pid}/cgroup")) or "").splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


def cgroup_facts(pid: int, root: Path = CGROUP_ROOT) -> CgroupFacts:
    """The limit files of the cgroups the container's init really is in."""
    paths = cgroup_paths(pid)
    if is_v2(root):
        base = root / paths.get("", "/").lstrip("/")
        files = {name: text for name in _V2_FILES if (text := _read(base / name)) is not None}
        return CgroupFacts(version=2, files=files)
    files = {}
    for controller, names in _V1_FILES.items():
        base = root / controller / paths.get(controller, "/").lstrip("/")
        files.update({n: text for n in names if (text := _read(base / n)) is not None})
    rules = _read(root / "devices" / paths.get("devices", "/").lstrip("/") / "devices.list")
    devices = None if rules is None else tuple(r for r in rules.splitlines() if r)
    return CgroupFacts(version=1, files=files, devices_list=devices)
