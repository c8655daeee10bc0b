"""Exec sessions: processes run in a container under a conmon of their own.

Each session is a directory, `<container>/exec/<id>/`, holding what the session was asked
to run (`session.json`), its monitor's files (pid, exit, log, attach socket, control fifo)
and nothing else. The directory is the whole state: a daemon that restarts finds its
sessions again, with their output and their exit, and an attacher can follow them on.
"""

import contextlib
import json
import os
import secrets
import shutil
import signal as signals
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stockade.errors import Conflict, NotFound
from stockade.linux import private
from stockade.runtime import conmon as monitor
from stockade.runtime.conmon import Ended, MonitorPaths

_SESSION_FILE = "session.json"
_PROCESS_FILE = "process.json"
_ID_BYTES = 6


@dataclass(frozen=True)
class Session:
    id: str
    handle: str
    args: list[str]
    tty: bool
    started_at: float
    paths: MonitorPaths
    ended: Ended | None
    monitor_alive: bool  # once it is gone after the end, the log is complete

    @property
    def lost(self) -> bool:
        """Its monitor is gone without recording an end: nobody saw how it ended."""
        return self.ended is None and not self.monitor_alive

    @property
    def running(self) -> bool:
        return self.ended is None and self.monitor_alive


def new_id(directory: Path) -> str:
    while (directory / (session := secrets.token_hex(_ID_BYTES))).exists():
        pass
    return session


def prepare(paths: MonitorPaths, session: str, handle: str, args: list[str], tty: bool,
            process: dict[str, object]) -> Path:
    """Make the session's directory and files; the process file for `runc exec`."""
    paths.persist.parent.mkdir(mode=0o700, exist_ok=True)
    paths.persist.mkdir(mode=0o700)
    private.write(paths.persist / _SESSION_FILE, json.dumps(
        {"id": session, "handle": handle, "args": args, "tty": tty, "started_at": time.time()}))
    process_file = paths.persist / _PROCESS_FILE
    private.write(process_file, json.dumps(process))
    return process_file


def load(paths: MonitorPaths) -> Session:
    try:
        data = json.loads((paths.persist / _SESSION_FILE).read_text())
        alive = monitor.monitor_alive(paths)  # first: an end written after it is seen
        return Session(id=str(data["id"]), handle=str(data["handle"]),
                       args=[str(a) for a in data["args"]], tty=bool(data["tty"]),
                       started_at=float(data["started_at"]), paths=paths,
                       ended=monitor.ended(paths), monitor_alive=alive)
    except (OSError, ValueError, KeyError, TypeError):
        raise NotFound(f"no process {paths.persist.name}") from None


def all_in(directory: Path, paths_of: Callable[[str], MonitorPaths]) -> list[Session]:
    """The container's sessions, oldest first."""
    found = []
    with contextlib.suppress(FileNotFoundError):
        for entry in directory.iterdir():
            with contextlib.suppress(NotFound):
                found.append(load(paths_of(entry.name)))
    return sorted(found, key=lambda s: s.started_at)


def signal(session: Session, cgroup_path: str, name: str) -> None:
    """Signal the session's process, once it is sure the pid is still a process of this
    container (pids are reused: the pid file outlives the process)."""
    if not session.running:
        raise Conflict(f"process {session.id} has already ended")
    number = int(signals.Signals[f"SIG{name}"])
    try:
        pid = int(session.paths.pid_file.read_text())
        pidfd = os.pidfd_open(pid)
    except (OSError, ValueError):
        raise Conflict(f"process {session.id} is not running") from None
    try:
        if not in_cgroup(pid, cgroup_path):
            raise Conflict(f"process {session.id} is not running")
        signals.pidfd_send_signal(pidfd, number)
    except ProcessLookupError:
        raise Conflict(f"process {session.id} is not running") from None
    finally:
        os.close(pidfd)


def in_cgroup(pid: int, cgroup_path: str) -> bool:
    """`pid` is a process of the cgroup at `cgroup_path` (or of one beneath it)."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return False
    return any(line.split(":", 2)[-1] == cgroup_path or
               line.split(":", 2)[-1].startswith(cgroup_path + "/") for line in lines)


def remove(session: Session) -> None:
    shutil.rmtree(session.paths.persist, ignore_errors=True)


def expired(sessions: list[Session], now: float, retention_s: float,
            keep_ended: int) -> list[Session]:
    """Ended sessions past their retention, and the oldest beyond `keep_ended`."""
    ended = sorted((s for s in sessions if not s.running),
                   key=lambda s: s.ended.finished_at if s.ended else s.started_at)
    excess = len(ended) - keep_ended
    return [s for index, s in enumerate(ended)
            if index < excess or (s.ended.finished_at if s.ended else s.started_at)
            < now - retention_s]
