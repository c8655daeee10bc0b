"""What a test run may leave on the host: a snapshot to compare before and after."""

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Categories filtered by name; the rest (runc inits, loop devices, veths, netns) are
# host-wide, so only the session-level check looks at them.
SCOPED = ("mounts", "cgroups", "processes", "nft_tables")


@dataclass(frozen=True)
class Snapshot:
    mounts: frozenset[str]
    cgroups: frozenset[str]
    processes: frozenset[str]
    runc_inits: frozenset[str]
    loops: frozenset[str]
    netns: frozenset[str]
    veths: frozenset[str]
    nft_tables: frozenset[str]

    def leaked_since(self, before: "Snapshot") -> dict[str, set[str]]:
        found = {}
        for name in self.__dataclass_fields__:
            extra = set(getattr(self, name)) - set(getattr(before, name))
            if extra:
                found[name] = extra
        return found


def _mounts(pattern: re.Pattern[str]) -> frozenset[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return frozenset(line.split()[4] for line in lines if pattern.search(line))


def _cgroups(pattern: re.Pattern[str]) -> frozenset[str]:
    found = set()
    for controller in Path("/sys/fs/cgroup").iterdir():
        for directory in controller.glob("*"):
            if directory.is_dir() and pattern.search(directory.name):
                found.add(str(directory))
                found.update(str(child) for child in directory.iterdir() if child.is_dir())
    return frozenset(found)


def _processes(pattern: re.Pattern[str]) -> frozenset[str]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if pattern.search(cmdline):
            found.add(f"{entry.name} {cmdline.strip()}")
    return frozenset(found)


def _lines(argv: list[str]) -> frozenset[str]:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return frozenset()
    return frozenset(line.strip() for line in out.splitlines() if line.strip())


def snapshot(marker: str = "stockade") -> Snapshot:
    """Objects whose names or paths mention `marker` (plus loop devices and veths)."""
    pattern = re.compile(re.escape(marker))
    return Snapshot(
        mounts=_mounts(pattern),
        cgroups=_cgroups(pattern),
        # every container's monitor: one left after a test is a leak whoever made it
        processes=_processes(re.compile(r"^\S*conmon ")),
        runc_inits=_processes(re.compile(r"^runc init")),
        loops=frozenset(p.name for p in Path("/sys/block").glob("loop*")
                        if (p / "loop" / "backing_file").exists()),
        netns=frozenset(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else frozenset(),
        veths=_lines(["ip", "-o", "link", "show", "type", "veth"]),
        nft_tables=frozenset(t for t in _lines(["nft", "list", "tables"]) if marker in t),
    )
