"""Per-container supervisor: runs `runc create`, adopts the init, records how it ends.

Run as `python -m stockade.runtime.shim CONFIG_JSON STATUS_FD` with the container's
stdio as fds 0-2 and the write end of a status pipe as STATUS_FD. It forks away from
its spawner, becomes a child subreaper so the container init is re-parented to it,
writes "created PID" or "error MESSAGE" to the status pipe, then waits. The exit
record survives the spawner, so a daemon that was down when the process ended still
learns its exit code.
Kept free of heavy imports: one runs per container.
"""

import contextlib
import ctypes
import json
import os
import select
import sys
from dataclasses import dataclass
from pathlib import Path

from stockade.linux import private
from stockade.runtime import cgroups, exitstatus
from stockade.runtime.runc import Runc, RuncError, Stdio

_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class ShimConfig:
    cid: str
    bundle: str
    container_dir: str
    cgroup_path: str
    runc_root: str
    runc_log: str
    runc_binary: str = "runc"
    console_socket: str | None = None

    @property
    def directory(self) -> Path:
        return Path(self.container_dir)


def _become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _detach_stdio(log: Path) -> None:
    """Drop our copies of the container's stdio so readers see EOF when it ends."""
    null = os.open(os.devnull, os.O_RDWR)
    out = private.open_append(log)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(null)
    os.close(out)


def _report(status_fd: int, message: str) -> None:
    try:
        os.write(status_fd, (message + "\n").encode())
        os.close(status_fd)
    except OSError:
        pass  # the spawner went away; the exit record is what matters


def _create(cfg: ShimConfig, runc: Runc) -> int:
    pid_file = cfg.directory / "init.pid"
    console = Path(cfg.console_socket) if cfg.console_socket else None
    log = cfg.directory / "runc-create.log"
    private.create(log)  # runc appends to it and would make it world-readable
    runc.create(cfg.cid, Path(cfg.bundle), pid_file, Stdio(0, 1, 2), log=log,
                console_socket=console)
    os.chmod(pid_file, private.MODE)  # runc writes it under the umask it runs with, 022
    cgroups.tighten_devices(cfg.cgroup_path)
    return int(pid_file.read_text())


def _kill_on_oom(cfg: ShimConfig, runc: Runc, efd: int) -> None:
    os.eventfd_read(efd)
    exitstatus.append_event(cfg.directory / "events.jsonl", exitstatus.OOM_EVENT)
    with contextlib.suppress(RuncError):  # already gone: the wait records how it ended
        runc.kill(cfg.cid, "KILL", all_processes=True)


def _wait_for_init(cfg: ShimConfig, runc: Runc, pid: int) -> int:
    """Block until the init exits; reap any other orphan on the way."""
    pidfd = os.pidfd_open(pid)
    efd = cgroups.watch_oom(cfg.cgroup_path)
    watched = [pidfd] if efd is None else [pidfd, efd]
    while True:
        ready, _, _ = select.select(watched, [], [])
        if efd is not None and efd in ready:
            _kill_on_oom(cfg, runc, efd)
            watched.remove(efd)
        if pidfd in ready:
            _, status = os.waitpid(pid, 0)
            return status


def supervise(cfg: ShimConfig, status_fd: int) -> int:
    runc = Runc(Path(cfg.runc_root), Path(cfg.runc_log), cfg.runc_binary)
    try:
        pid = _create(cfg, runc)
    except (RuncError, OSError, ValueError) as exc:
        _report(status_fd, f"error {exc}")
        return 1
    _detach_stdio(cfg.directory / "shim.log")
    _report(status_fd, f"created {pid}")
    status = _wait_for_init(cfg, runc, pid)
    oom = cgroups.oom_kills(cfg.cgroup_path) > 0 or any(
        e.get("event") == exitstatus.OOM_EVENT
        for e in exitstatus.read_events(cfg.directory / "events.jsonl")
    )
    exitstatus.save(cfg.directory / "exit.json", exitstatus.ExitStatus.from_wait(status, oom))
    return 0


def main() -> None:
    cfg = ShimConfig(**json.loads(sys.argv[1]))
    status_fd = int(sys.argv[2])
    if os.fork() != 0:
        os._exit(0)  # the spawner reaps this parent at once; the child lives on
    os.setsid()
    _become_subreaper()
    # recovery asks whether this supervisor still lives, and so whether an exit is coming
    exitstatus.write_atomic(cfg.directory / "shim.pid", str(os.getpid()))
    os._exit(supervise(cfg, status_fd))


if __name__ == "__main__":
    main()
