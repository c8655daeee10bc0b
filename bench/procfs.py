"""What the suites read from /proc: processes, their memory and I/O counters, host memory."""

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Proc:
    """One process as /proc shows it."""

    pid: int
    ppid: int
    argv: tuple[str, ...]
    exe: str  # the executable's path ("" when it cannot be read)


def process_table() -> dict[int, Proc]:
    """Every process now (one that ends while it is read is left out)."""
    table = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            argv = tuple(a.decode(errors="replace")
                         for a in (entry / "cmdline").read_bytes().split(b"\0") if a)
            table[int(entry.name)] = Proc(int(entry.name), parent(int(entry.name)), argv,
                                          _exe(entry))
    return table


def _exe(entry: Path) -> str:
    with contextlib.suppress(OSError):
        return os.readlink(entry / "exe")
    return ""


def parent(pid: int) -> int:
    """The parent's pid (from /proc/PID/stat: the field after the command's closing paren)."""
    return int((PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])


def kib_field(text: str, name: str) -> int:
    """Bytes of a "Name:   N kB" line (status, smaps_rollup, meminfo); 0 without one."""
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key == name:
            return int(rest.split()[0]) * 1024
    return 0


def _field_of(pid: int, file: str, name: str) -> int:
    """0 when the process is gone."""
    with contextlib.suppress(OSError):
        return kib_field((PROC / str(pid) / file).read_text(), name)
    return 0


def pss(pid: int) -> int:
    """Proportional set size in bytes: shared pages split among their users."""
    return _field_of(pid, "smaps_rollup", "Pss")


def rss(pid: int) -> int:
    return _field_of(pid, "status", "VmRSS")


def page_tables(pid: int) -> int:
    return _field_of(pid, "status", "VmPTE")


def io_counters(pid: int) -> dict[str, int]:
    """/proc/PID/io: rchar and wchar are the bytes its read and write calls moved."""
    counters = {}
    for line in (PROC / str(pid) / "io").read_text().splitlines():
        key, _, value = line.partition(":")
        counters[key] = int(value)
    return counters


def host_used() -> int:
    """Bytes of host memory in use: MemTotal - MemAvailable."""
    text = (PROC / "meminfo").read_text()
    return kib_field(text, "MemTotal") - kib_field(text, "MemAvailable")


def deleted_but_open(pids: list[int], directory: Path) -> int:
    """Bytes of files under `directory` that are deleted but still open in one of `pids`
    (each file once): the disk they hold is freed only when the last one closes them."""
    held: dict[tuple[int, int], int] = {}
    prefix = f"{directory}/"
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in (PROC / str(pid) / "fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith(prefix) and target.endswith(" (deleted)"):
                        stat = os.stat(fd)
                        held[(stat.st_dev, stat.st_ino)] = stat.st_size
    return sum(held.values())
