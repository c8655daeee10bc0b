"""Drive conmon, the per-container monitor from the podman project, for a container's init
and for each exec session.

One conmon runs per monitored process, a small C program (well under 1 MiB of its own
memory). It runs `runc create` (or `runc exec --detach`), stays as the process's subreaper,
holds its stdio, writes both output streams in order to one log file in the k8s-file format
(capped with `--log-size-max`), serves an attach socket for stdin, takes window sizes and
"reopen the log" requests through a control fifo, and writes the exit status to files that
outlive it and any daemon. It reports out-of-memory kills with an `oom` file.

What we read from it (see docs/engine.md, "The monitor"):
- the sync pipe (`_OCI_SYNCPIPE`): one JSON line, `{"data": PID}` once runc has made the
  process, or `{"data": -1, "message": ...}` when runc refused;
- in the persist directory: `exit` (the exit code, 128+N for a signal N) and `oom`;
- in the shared exit directory: one file per container, named by its handle, so the daemon
  notices every exit with one directory listing;
- the monitor's own pid (`-P`), so a lost monitor can be told from a running one.
"""

import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from stockade.errors import StockadeError
from stockade.linux import private
from stockade.runtime.runc import RuncError

_UMASK = 0o022  # as for runc: the container's processes inherit it (see runtime.runc)
_SYNC_LIMIT = 65536
_CTL_RESIZE = 1  # conmon's control fifo: "TYPE ARG1 ARG2\n"
_CTL_REOPEN_LOGS = 2


class MonitorError(StockadeError):
    """conmon could not be started or did not report."""


@dataclass(frozen=True)
class MonitorPaths:
    """Where one monitored process keeps its files (all inside one private directory)."""

    persist: Path  # conmon -0: `exit`, `oom`; also our conmon.log and the pids
    bundle: Path  # conmon -b: its attach socket and control fifos land here
    log: Path  # the k8s-file log

    @property
    def pid_file(self) -> Path:
        """The monitored process's host pid (runc writes it)."""
        return self.persist / "pid"

    @property
    def monitor_pid_file(self) -> Path:
        return self.persist / "conmon.pid"

    @property
    def exit_file(self) -> Path:
        return self.persist / "exit"

    @property
    def oom_file(self) -> Path:
        return self.persist / "oom"

    @property
    def monitor_log(self) -> Path:
        """conmon's own complaints (it writes them to stderr)."""
        return self.persist / "conmon.log"

    @property
    def attach_socket(self) -> Path:
        return self.bundle / "attach"

    @property
    def control_fifo(self) -> Path:
        return self.bundle / "ctl"


@dataclass(frozen=True)
class Ended:
    """How a monitored process ended, as its monitor wrote it down."""

    exit_code: int
    oom_killed: bool
    finished_at: float

    @property
    def signal(self) -> int | None:
        return self.exit_code - 128 if self.exit_code > 128 else None


def _resolve(binary: str) -> str:
    found = shutil.which(binary)
    if found is None:
        raise MonitorError(f"{binary} is not installed (install.sh installs the conmon "
                           "package)")
    return found


class Conmon:
    """Starts monitors; one instance per engine."""

    def __init__(self, binary: str, runtime: str, runtime_root: Path, runtime_log: Path,
                 exit_dir: Path, timeout_s: float = 60.0) -> None:
        self.binary = binary
        self.runtime = runtime
        self.runtime_root = runtime_root
        self.runtime_log = runtime_log
        self.exit_dir = exit_dir
        self.timeout_s = timeout_s

    def _argv(self, cid: str, session: str, paths: MonitorPaths, *, stdin: bool,
              terminal: bool, log_max_bytes: int) -> list[str]:
        argv = [_resolve(self.binary), "--api-version", "1", "-c", cid, "-u", session,
                "-n", cid, "-r", _resolve(self.runtime), "-b", str(paths.bundle),
                "-p", str(paths.pid_file), "-P", str(paths.monitor_pid_file),
                "-0", str(paths.persist), "-l", f"k8s-file:{paths.log}",
                "--log-size-max", str(log_max_bytes), "--full-attach",
                "--runtime-arg", "--root", "--runtime-arg", str(self.runtime_root),
                "--runtime-arg", "--log", "--runtime-arg", str(self.runtime_log),
                "--runtime-arg", "--log-format", "--runtime-arg", "json"]
        if stdin:
            argv.append("--stdin")
        if terminal:
            argv.append("--terminal")
        return argv

    def create(self, cid: str, paths: MonitorPaths, *, stdin: bool, terminal: bool,
               log_max_bytes: int) -> int:
        """`runc create` under a new monitor; the init's host pid once it exists."""
        argv = self._argv(cid, cid, paths, stdin=stdin, terminal=terminal,
                          log_max_bytes=log_max_bytes)
        argv += ["--exit-dir", str(self.exit_dir)]
        return self._spawn(argv, paths, "cannot create the container")

    def exec(self, cid: str, session: str, paths: MonitorPaths, process_file: Path, *,
             stdin: bool, terminal: bool, log_max_bytes: int) -> int:
        """`runc exec --detach` under a new monitor; the process's host pid."""
        argv = self._argv(cid, session, paths, stdin=stdin, terminal=terminal,
                          log_max_bytes=log_max_bytes)
        argv += ["--exec", "--exec-process-spec", str(process_file)]
        return self._spawn(argv, paths, "cannot run the process")

    def _spawn(self, argv: list[str], paths: MonitorPaths, failure: str) -> int:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        try:
            log = private.open_append(paths.monitor_log)
            try:
                # conmon forks away and the first process exits at once; the monitor lives
                # on, re-parented to init, and keeps the write end until it has reported
                # cwd: conmon also writes an `oom` file into its working directory
                first = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=paths.persist,
                    pass_fds=(write_end,), close_fds=True, umask=_UMASK,
                    env={**_environment(), "_OCI_SYNCPIPE": str(write_end)})
            finally:
                os.close(log)
            os.close(write_end)
            write_end = -1
            message = _read_report(read_end, self.timeout_s)
            first.wait()
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)
        return _pid_from(message, failure, paths)


def _environment() -> dict[str, str]:
    """What conmon and runc need, and nothing of the daemon's own environment."""
    return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}


def _read_report(fd: int, timeout_s: float) -> bytes:
    """The first line conmon writes to the sync pipe, or b"" if it closed it unread."""
    chunks: list[bytes] = []
    received = 0
    deadline = time.monotonic() + timeout_s
    while received < _SYNC_LIMIT:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise MonitorError(f"conmon did not report within {timeout_s:.0f} s")
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
        if b"\n" in chunk:
            break
    return b"".join(chunks).split(b"\n", 1)[0]


def _pid_from(message: bytes, failure: str, paths: MonitorPaths) -> int:
    try:
        report = json.loads(message)
        pid = int(report["data"])
    except (ValueError, KeyError, TypeError):
        detail = _last_line(paths.monitor_log) or "it exited without reporting"
        raise MonitorError(f"{failure}: the monitor failed: {detail}") from None
    if pid <= 0:
        reason = str(report.get("message") or "runc failed").strip().splitlines()[-1]
        raise RuncError(f"{failure}: {_runc_reason(reason)}")
    return pid


def _runc_reason(text: str) -> str:
    """conmon passes on runc's JSON log line; its `msg` is the useful part."""
    with contextlib.suppress(ValueError, AttributeError):
        text = str(json.loads(text).get("msg", text))
    return text.removeprefix("runc create failed: ")


def _last_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = path.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""
    return ""


def ended(paths: MonitorPaths) -> Ended | None:
    """The exit the monitor recorded, or None while the process runs (or the monitor was
    lost before it could record one)."""
    try:
        text = paths.exit_file.read_text()
        finished_at = paths.exit_file.stat().st_mtime
    except OSError:
        return None
    try:
        code = int(text.strip())
    except ValueError:
        return None  # being written: conmon writes the number in one call, seen next time
    return Ended(code, paths.oom_file.exists(), finished_at)


def monitor_alive(paths: MonitorPaths) -> bool:
    """The monitor that wrote its pid still runs (a reused pid is not conmon, or is
    another container's conmon: the command line names this bundle)."""
    try:
        pid = int(paths.monitor_pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return False
    return bool(cmdline) and Path(os.fsdecode(cmdline[0])).name == "conmon" and \
        os.fsencode(str(paths.bundle)) in cmdline and _is_running(pid)


def _is_running(pid: int) -> bool:
    """Not a zombie waiting for its parent to reap it."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    return False


def _control(paths: MonitorPaths, kind: int, first: int, second: int) -> bool:
    """One control message; False when no monitor listens (it is gone)."""
    try:
        fd = os.open(paths.control_fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # ENXIO: nobody has it open for reading; ENOENT: never made
        return False
    try:
        os.write(fd, f"{kind} {first} {second}\n".encode())
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def reopen_log(paths: MonitorPaths) -> bool:
    """Ask the monitor to start a new log file at its path (after a rotation)."""
    return _control(paths, _CTL_REOPEN_LOGS, 0, 0)


def resize(paths: MonitorPaths, rows: int, cols: int) -> bool:
    """Set the terminal's window size (the monitor holds the pty master)."""
    return _control(paths, _CTL_RESIZE, rows, cols)
