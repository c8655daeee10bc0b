"""One attachable process: an exec'd one or a container's init, its I/O and its end."""

import contextlib
import os
import signal as signals
import threading
import time
from pathlib import Path

from stockade.api import procio
from stockade.api.outbuf import OutputBuffer
from stockade.api.procio import ProcessIO
from stockade.engine import Engine
from stockade.errors import Conflict, NotFound
from stockade.runtime.runc import Stdio
from stockade.wire.process import ProcessInfo, ProcessRequest, Window, signal_number
from stockade.wire.stream import ExitMessage

_START_POLL_S = 0.01


class Process:
    """State shared by both kinds; the subclass knows how to signal and when it ended."""

    def __init__(self, process_id: str, handle: str, args: list[str], tty: bool,
                 io: ProcessIO, output: OutputBuffer) -> None:
        self.id = process_id
        self.handle = handle
        self.args = args
        self.tty = tty
        self.output = output
        self._io = io
        self._lock = threading.Lock()
        self._stdin_holder: object | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_at = time.time()
        self.exit_code: int | None = None
        self.oom_killed: bool | None = None
        self.finished_at: float | None = None
        self.ended_monotonic: float | None = None
        self.gone = False

    @property
    def running(self) -> bool:
        return self.ended_monotonic is None and not self.gone

    def info(self) -> ProcessInfo:
        return ProcessInfo(id=self.id, handle=self.handle, args=self.args, tty=self.tty,
                           running=self.running, exit_code=self.exit_code,
                           started_at=self.started_at, finished_at=self.finished_at)

    def exit_message(self) -> ExitMessage | None:
        """How it ended, once it has (None while running or when it was forgotten)."""
        if self.exit_code is None:
            return None
        return ExitMessage(exit_code=self.exit_code, oom_killed=self.oom_killed)

    # -- what attachers do -------------------------------------------------------------

    def claim_stdin(self) -> object:
        """One attacher writes stdin at a time; the token gives it back."""
        with self._lock:
            if self._stdin_holder is not None:
                raise Conflict(f"process {self.id} already has an attacher writing its stdin")
            self._stdin_holder = token = object()
            return token

    def release_stdin(self, token: object) -> None:
        with self._lock:
            if self._stdin_holder is token:
                self._stdin_holder = None

    def write_stdin(self, data: bytes) -> None:
        self._io.write_stdin(data)

    def close_stdin(self) -> None:
        self._io.close_stdin()

    def resize(self, window: Window) -> None:
        self._io.set_window(window.rows, window.cols)

    def signal(self, name: str) -> None:
        if not self.running:
            raise Conflict(f"process {self.id} has already ended")
        self._deliver(name)

    def _deliver(self, name: str) -> None:
        raise NotImplementedError

    # -- the end -----------------------------------------------------------------------

    def _complete(self, exit_code: int | None, oom_killed: bool | None, drain_s: float) -> None:
        """Drain and close the I/O, record the end; followers then get the exit message."""
        self._io.finish(drain_s)
        with self._lock:
            self.exit_code, self.oom_killed = exit_code, oom_killed
            self.finished_at = time.time()
            self.ended_monotonic = time.monotonic()
        self.output.close()

    def abandon(self) -> None:
        """Forgotten (its container is destroyed, the daemon stops): attachers are told
        it is gone; the owning thread still closes the fds when the process ends."""
        self.gone = True
        self._stop.set()
        self._io.abort()
        self.output.close()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True


class ExecProcess(Process):
    """A process run with `engine.exec`; a thread waits on runc for its exit code."""

    def __init__(self, process_id: str, handle: str, request: ProcessRequest, io: ProcessIO,
                 output: OutputBuffer, engine: Engine, pid_file: Path, drain_s: float) -> None:
        super().__init__(process_id, handle, request.args, request.tty, io, output)
        self._request = request
        self._engine = engine
        self._pid_file = pid_file
        self._drain_s = drain_s
        self._error: BaseException | None = None
        self._pidfd: int | None = None
        self._runc_pidfd: int | None = None  # a tty's relay, told about window changes

    def launch(self, child: Stdio, timeout: float) -> None:
        """Start it; returns once it runs (or has ended); re-raises the engine's refusal."""
        self._io.start()
        self._thread = threading.Thread(target=self._run, args=(child,), daemon=True,
                                        name=f"exec-{self.handle}-{self.id}")
        self._thread.start()
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            if self._watch_pid():
                break
            time.sleep(_START_POLL_S)
        if not self._thread.is_alive() and self._error is not None:
            raise self._error

    def _run(self, child: Stdio) -> None:
        code: int | None = None
        try:
            request = self._request
            window = (request.window.rows, request.window.cols) if request.window else None
            code = self._engine.exec(
                self.handle, request.args, child, request.env, request.user, tty=request.tty,
                cwd=request.cwd, rlimits=request.rlimits, pid_file=self._pid_file,
                console_size=window if request.tty else None)
        except BaseException as exc:  # handed to launch(), which raises it for the caller
            self._error = exc
        finally:
            self._pid_file.unlink(missing_ok=True)
            self._complete(code, None, self._drain_s)
            self._close_pidfds()

    def _watch_pid(self) -> bool:
        """Once runc has written the pid: pin the process (and a tty's runc) by pidfd."""
        pid = procio.read_pid(self._pid_file)
        if pid is None:
            return False
        pidfd = procio.open_pidfd(pid)
        relay = procio.parent_of(pid) if self.tty else None
        # runc exec is the process's parent; check it is our child before trusting the pid
        runc_pidfd = procio.open_pidfd(relay) if relay and procio.parent_of(relay) == \
            os.getpid() else None
        with self._lock:
            if self.running:
                self._pidfd, self._runc_pidfd = pidfd, runc_pidfd
                return True
        for fd in (pidfd, runc_pidfd):
            _close(fd)
        return True

    def _deliver(self, name: str) -> None:
        with self._lock:
            if self._pidfd is None or not procio.send_signal(self._pidfd, signal_number(name)):
                raise Conflict(f"process {self.id} is not running")

    def resize(self, window: Window) -> None:
        """runc relays the container's terminal and copies our size when told SIGWINCH."""
        if self._io.set_window(window.rows, window.cols):
            with self._lock:
                if self._runc_pidfd is not None:
                    procio.send_signal(self._runc_pidfd, signals.SIGWINCH)

    def _close_pidfds(self) -> None:
        with self._lock:
            fds, self._pidfd, self._runc_pidfd = (self._pidfd, self._runc_pidfd), None, None
        for fd in fds:
            _close(fd)


class InitProcess(Process):
    """A container's main process; its end comes from the supervisor's exit record."""

    def __init__(self, handle: str, args: list[str], tty: bool, io: ProcessIO,
                 output: OutputBuffer, engine: Engine, drain_s: float) -> None:
        super().__init__("init", handle, args, tty, io, output)
        self._engine = engine
        self._drain_s = drain_s

    def watch(self) -> None:
        self._io.start()
        self._thread = threading.Thread(target=self._wait, daemon=True,
                                        name=f"init-{self.handle}")
        self._thread.start()

    def _wait(self) -> None:
        status = None
        while not self._stop.is_set() and status is None:
            try:
                status = self._engine.wait(self.handle, timeout=1.0)
            except NotFound:  # destroyed under us: there is no exit code to report
                break
        if status is None:
            self._complete(None, None, 0)
        else:
            self._complete(status.exit_code, status.oom_killed, self._drain_s)

    def _deliver(self, name: str) -> None:
        self._engine.signal(self.handle, name)


def _close(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
