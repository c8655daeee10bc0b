"""The processes of one container, read from its cgroup and /proc (`stockade top`).

Read on the host, not through an exec: nothing runs inside the container, and the numbers
are the kernel's. The pid and ids are shown as the container sees them (the last NSpid,
host ids minus the container's base), the host pid beside them.
"""

import contextlib
from dataclasses import dataclass
from pathlib import Path

from stockade.runtime import cgroups

_NOBODY = 65534


@dataclass(frozen=True)
class ProcessRow:
    pid: int  # in the container's pid namespace
    host_pid: int
    uid: int  # as the container sees it
    state: str
    rss_bytes: int
    command: str


def in_cgroup(cgroup_path: str, id_base: int, id_size: int) -> list[ProcessRow]:
    """Every process of the container's cgroup (and its children), by pid."""
    rows = []
    for pid in _pids(cgroups.controller_dir("pids", cgroup_path)):
        with contextlib.suppress(OSError, ValueError, IndexError):  # gone meanwhile
            rows.append(_row(pid, id_base, id_size))
    return sorted(rows, key=lambda r: r.pid)


def _pids(directory: Path) -> set[int]:
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for procs in [directory / "cgroup.procs", *directory.glob("**/cgroup.procs")]:
            found.update(int(p) for p in procs.read_text().split())
    return found


def _row(pid: int, id_base: int, id_size: int) -> ProcessRow:
    status = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    uid = int(status["Uid"].split()[1])  # effective
    inside = uid - id_base if id_base <= uid < id_base + id_size else _NOBODY
    command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip()
    return ProcessRow(pid=int(status.get("NSpid", str(pid)).split()[-1]), host_pid=pid,
                      uid=inside, state=status["State"].strip().split()[0],
                      rss_bytes=int(status.get("VmRSS", "0 kB").split()[0]) * 1024,
                      command=command.decode(errors="replace") or
                      f"[{status['Name'].strip()}]")
