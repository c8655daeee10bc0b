"""The daemon's attachable processes, by container handle and process id."""

import contextlib
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from stockade.api import procio
from stockade.api.outbuf import OutputBuffer
from stockade.api.process import ExecProcess, InitProcess, Process
from stockade.api.procio import ProcessIO, Wiring
from stockade.engine import Engine
from stockade.engine.state import LOCAL_OWNER
from stockade.errors import Conflict, NotFound, StockadeError
from stockade.spec import ContainerInfo, ContainerSpec
from stockade.wire.process import ProcessInfo, ProcessRequest
from stockade.wire.stream import Stream

INIT_ID = "init"
_DEFAULT_WINDOW = (24, 80)
_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC


@dataclass(frozen=True)
class TableSettings:
    buffer_bytes: int = 1 << 20  # output kept per process for late attachers
    first_attach_hold_s: float = 5.0  # how long a new process waits for its first reader
    retention_s: float = 300.0  # how long an ended process can still be attached and read
    drain_s: float = 2.0  # output still read after the end (children may hold the pipes)
    start_timeout_s: float = 30.0
    console_timeout_s: float = 10.0
    max_running_per_container: int = 64  # each costs the daemon two threads
    max_ended_per_container: int = 64  # kept for attachers, oldest dropped first


class ProcessTable:
    """Runs processes, keeps their output and ends for attachers; thread-safe."""

    def __init__(self, engine: Engine, settings: TableSettings | None = None,
                 runtime_dir: Path | None = None) -> None:
        self._engine = engine
        self._settings = settings or TableSettings()
        self._dir = runtime_dir or engine.layout.root / "processes"  # pid files, sockets
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in self._dir.iterdir():  # a previous daemon's, never read again
            stale.unlink(missing_ok=True)
        self._lock = threading.Lock()
        self._processes: dict[tuple[str, str], Process] = {}

    # -- starting ------------------------------------------------------------------------

    def spawn(self, handle: str, request: ProcessRequest) -> ProcessInfo:
        """Run `request` in a running container; returns once the process runs."""
        state = self._engine.inspect(handle).state
        if state != "running":
            raise Conflict(f"container {handle} is {state}, not running")
        settings = self._settings
        wiring = procio.pty_wiring(*self._window(request)) if request.tty \
            else procio.pipe_wiring()
        output = OutputBuffer(settings.buffer_bytes, settings.first_attach_hold_s)
        with self._lock:
            process_id = self._admit(handle, wiring)
            process = ExecProcess(process_id, handle, request,
                                  ProcessIO(wiring, output, f"pump-{handle}-{process_id}"),
                                  output, self._engine, self._dir / f"{process_id}.pid",
                                  settings.drain_s)
            self._processes[(handle, process_id)] = process
        try:
            process.launch(wiring.child, settings.start_timeout_s)
        except BaseException:
            with self._lock:
                self._processes.pop((handle, process_id), None)
            raise
        return process.info()

    @staticmethod
    def _window(request: ProcessRequest) -> tuple[int, int]:
        return (request.window.rows, request.window.cols) if request.window \
            else _DEFAULT_WINDOW

    def _admit(self, handle: str, wiring: Wiring) -> str:
        """A fresh id, within the per-container cap (called under the lock)."""
        self._prune()
        running = sum(1 for (owner, _), p in self._processes.items()
                      if owner == handle and p.running)
        if running >= self._settings.max_running_per_container:
            wiring.close_all()
            raise Conflict(f"container {handle} already runs {running} attachable processes; "
                           "wait for some to end")
        process_id = secrets.token_hex(6)
        while (handle, process_id) in self._processes:
            process_id = secrets.token_hex(6)
        return process_id

    def create_attached(self, spec: ContainerSpec, owner: str = LOCAL_OWNER) -> ContainerInfo:
        """engine.create with the init's stdio kept here, as process `init` of the
        container; its output also goes to the container's log files."""
        wiring = procio.pipe_wiring(with_stdin=not spec.process.terminal)
        with contextlib.ExitStack() as stack:
            console = stack.enter_context(procio.console_listener(self._dir)) \
                if spec.process.terminal else None
            try:
                info = self._engine.create(spec, wiring.child, console.path if console else None,
                                           owner=owner)
            except BaseException:
                wiring.close_all()
                raise
            try:
                self._finish_wiring(spec.handle, wiring, console)
            except BaseException:
                wiring.close_all()
                with contextlib.suppress(StockadeError):
                    self._engine.destroy(spec.handle)
                raise
        self._register_init(info, wiring)
        return info

    def _finish_wiring(self, handle: str, wiring: Wiring,
                       console: procio.ConsoleListener | None) -> None:
        for fd in wiring.child_ends:  # the container holds its own copies now
            os.close(fd)
        wiring.child_ends.clear()
        if console is not None:
            try:
                master = procio.receive_master(console.listener,
                                               self._settings.console_timeout_s)
            except OSError as exc:
                raise StockadeError(f"runc did not hand over the terminal: {exc}") from exc
            procio.add_terminal(wiring, master)
        out_log, err_log = self._engine.log_paths(handle)
        wiring.tees[Stream.STDOUT] = os.open(out_log, _LOG_FLAGS, 0o600)
        wiring.tees[Stream.STDERR] = os.open(err_log, _LOG_FLAGS, 0o600)

    def _register_init(self, info: ContainerInfo, wiring: Wiring) -> None:
        settings = self._settings
        output = OutputBuffer(settings.buffer_bytes, settings.first_attach_hold_s)
        process = InitProcess(info.handle, list(info.command), wiring.terminal is not None,
                              ProcessIO(wiring, output, f"pump-{info.handle}-init"), output,
                              self._engine, settings.drain_s)
        with self._lock:
            previous = self._processes.get((info.handle, INIT_ID))
            self._processes[(info.handle, INIT_ID)] = process
        if previous is not None:  # an ended one of an earlier container of this name
            previous.abandon()
        process.watch()

    # -- finding -------------------------------------------------------------------------

    def get(self, handle: str, process_id: str) -> Process:
        with self._lock:
            self._prune()
            process = self._processes.get((handle, process_id))
        if process is None:
            self._engine.inspect(handle)  # NotFound for the container itself first
            raise NotFound(f"container {handle} has no process {process_id}")
        return process

    def info(self, handle: str, process_id: str) -> ProcessInfo:
        return self.get(handle, process_id).info()

    def list(self, handle: str) -> list[ProcessInfo]:
        self._engine.inspect(handle)
        with self._lock:
            self._prune()
            found = [p for (owner, _), p in self._processes.items() if owner == handle]
        return [p.info() for p in sorted(found, key=lambda p: p.started_at)]

    def signal(self, handle: str, process_id: str, name: str) -> None:
        self.get(handle, process_id).signal(name)

    # -- forgetting ----------------------------------------------------------------------

    def _prune(self) -> None:
        """Ended processes stay attachable for a while, and only so many of them per
        container, since each keeps its output (called under the lock)."""
        horizon = time.monotonic() - self._settings.retention_s
        ended: dict[str, list[tuple[float, tuple[str, str]]]] = {}
        for key, process in self._processes.items():
            if process.ended_monotonic is not None:
                ended.setdefault(key[0], []).append((process.ended_monotonic, key))
        for kept in ended.values():
            kept.sort()
            excess = len(kept) - self._settings.max_ended_per_container
            for index, (when, key) in enumerate(kept):
                if when < horizon or index < excess:
                    del self._processes[key]

    def forget_container(self, handle: str) -> None:
        """The container is destroyed: its processes go, attachers are told so."""
        with self._lock:
            keys = [key for key in self._processes if key[0] == handle]
            gone = [self._processes.pop(key) for key in keys]
        for process in gone:
            process.abandon()

    def close(self, timeout: float = 5.0) -> None:
        """Daemon shutdown: stop streaming. Containers and their processes keep running."""
        with self._lock:
            gone = list(self._processes.values())
            self._processes.clear()
        for process in gone:
            process.abandon()
        deadline = time.monotonic() + timeout
        for process in gone:
            process.join(max(0.0, deadline - time.monotonic()))

