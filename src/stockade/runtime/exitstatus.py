"""The record a supervisor leaves when a container's init ends."""

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from stockade.linux import private

OOM_EVENT = "out of memory"


@dataclass(frozen=True)
class ExitStatus:
    exit_code: int
    signal: int | None
    oom_killed: bool
    finished_at: float

    @classmethod
    def from_wait(cls, status: int, oom_killed: bool) -> "ExitStatus":
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            return cls(128 + sig, sig, oom_killed, time.time())
        return cls(os.waitstatus_to_exitcode(status), None, oom_killed, time.time())


def write_atomic(path: Path, text: str) -> None:
    private.write_atomic(path, text)


def save(path: Path, status: ExitStatus) -> None:
    write_atomic(path, json.dumps(asdict(status)))


def load(path: Path) -> ExitStatus | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return ExitStatus(**data)


def append_event(path: Path, event: str) -> None:
    """One JSON line per event; O_APPEND keeps concurrent writers whole."""
    line = json.dumps({"event": event, "time": time.time()}) + "\n"
    fd = private.open_append(path)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_events(path: Path) -> list[dict[str, object]]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events
