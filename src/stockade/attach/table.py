"""The attachable processes of each container: its init (`init`) and its exec sessions.

Nothing here holds a process's I/O: each process's monitor does. This is a view over the
engine's records and the sessions' directories, so it is the same after a daemon restart.
What it keeps in memory is only who writes a process's stdin right now, and which inits
a stream follows.
"""

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from stockade.attach.source import Gone, Source
from stockade.engine import Engine
from stockade.engine.sessions import Session
from stockade.engine.state import LOCAL_OWNER
from stockade.errors import Conflict, NotFound
from stockade.spec import ContainerInfo, ContainerSpec
from stockade.wire.process import ProcessInfo, ProcessRequest
from stockade.wire.stream import ExitMessage

INIT_ID = "init"


@dataclass(frozen=True)
class TableSettings:
    retention_s: float = 300.0  # how long an ended session can still be attached and read
    max_running_per_container: int = 64  # each is a conmon and a process in the container
    max_ended_per_container: int = 64  # kept for attachers, oldest removed first


class ProcessTable:
    """Thread-safe: routes call it from worker threads."""

    def __init__(self, engine: Engine, settings: TableSettings | None = None) -> None:
        self._engine = engine
        self._settings = settings or TableSettings()
        self._lock = threading.Lock()
        self._stdin: dict[tuple[str, str], object] = {}
        self._followers: dict[str, int] = {}  # handle -> open streams of its init

    # -- starting ------------------------------------------------------------------------

    def spawn(self, handle: str, request: ProcessRequest) -> ProcessInfo:
        """Run `request` in a running container; returns once the process runs."""
        running = sum(1 for s in self._engine.exec_sessions(handle) if s.running)
        if running >= self._settings.max_running_per_container:
            raise Conflict(f"container {handle} already runs {running} attachable processes; "
                           "wait for some to end")
        window = (request.window.rows, request.window.cols) if request.window else None
        session = self._engine.exec_start(
            handle, request.args, request.env, request.user, tty=request.tty, cwd=request.cwd,
            rlimits=request.rlimits, console_size=window if request.tty else None)
        return _session_info(session)

    def create_attached(self, spec: ContainerSpec, owner: str = LOCAL_OWNER,
                        auto_remove: bool = False) -> ContainerInfo:
        """engine.create with the init's stdin kept open for an attacher (process `init`)."""
        return self._engine.create(spec, stdin=True, owner=owner, auto_remove=auto_remove)

    # -- who follows an init -------------------------------------------------------------

    @contextlib.contextmanager
    def following(self, handle: str, process_id: str) -> Iterator[None]:
        """Held while a stream follows a process: a container removed when it exits
        (`--rm`) is kept until the streams following its init have sent the exit."""
        if process_id != INIT_ID:
            yield
            return
        with self._lock:
            self._followers[handle] = self._followers.get(handle, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._followers.pop(handle) - 1
                if left:
                    self._followers[handle] = left

    def followed(self, handle: str) -> bool:
        with self._lock:
            return handle in self._followers

    # -- finding -------------------------------------------------------------------------

    def info(self, handle: str, process_id: str) -> ProcessInfo:
        if process_id == INIT_ID:
            return _init_info(self._engine.inspect(handle), self._terminal(handle))
        return _session_info(self._engine.exec_session(handle, process_id))

    def list(self, handle: str) -> list[ProcessInfo]:
        """The init (once started) and the sessions, oldest first."""
        init = self._engine.inspect(handle)
        found = [_init_info(init, self._terminal(handle))] if init.state != "creating" else []
        return found + [_session_info(s) for s in self._engine.exec_sessions(handle)]

    def _terminal(self, handle: str) -> bool:
        return self._engine.state.get(handle).spec.process.terminal

    def signal(self, handle: str, process_id: str, name: str) -> None:
        if process_id == INIT_ID:
            info = self._engine.inspect(handle)
            if info.state not in ("created", "running"):
                raise Conflict(f"process {INIT_ID} has already ended")
            self._engine.signal(handle, name)
        else:
            self._engine.signal_session(handle, process_id, name)

    def source(self, handle: str, process_id: str) -> Source:
        """What an attacher follows and writes to."""
        engine = self._engine
        if process_id == INIT_ID:
            info = engine.inspect(handle)
            return Source(handle=handle, id=INIT_ID, tty=engine.state.get(handle).spec.process
                          .terminal, files=engine.log_files(handle),
                          paths=engine.layout.monitor(handle),
                          ended=lambda: _init_end(engine, handle),
                          signal=lambda name: engine.signal(handle, name),
                          running=info.state in ("created", "running"))
        session = engine.exec_session(handle, process_id)
        return Source(handle=handle, id=process_id, tty=session.tty,
                      files=engine.session_log(handle, process_id), paths=session.paths,
                      ended=lambda: _session_end(engine, handle, process_id),
                      signal=lambda name: engine.signal_session(handle, process_id, name),
                      running=session.running)

    # -- stdin ---------------------------------------------------------------------------

    def claim_stdin(self, handle: str, process_id: str) -> object:
        """One attacher writes a process's stdin at a time; the token gives it back."""
        with self._lock:
            if (handle, process_id) in self._stdin:
                raise Conflict(f"process {process_id} already has an attacher writing its "
                               "stdin")
            self._stdin[(handle, process_id)] = token = object()
            return token

    def release_stdin(self, handle: str, process_id: str, token: object) -> None:
        with self._lock:
            if self._stdin.get((handle, process_id)) is token:
                del self._stdin[(handle, process_id)]

    # -- forgetting ----------------------------------------------------------------------

    def prune(self) -> int:
        return self._engine.prune_sessions(self._settings.retention_s,
                                           self._settings.max_ended_per_container)


def _init_info(info: ContainerInfo, tty: bool) -> ProcessInfo:
    return ProcessInfo(id=INIT_ID, handle=info.handle, args=list(info.command),
                       tty=tty, running=info.state in ("created", "running"),
                       exit_code=info.exit_code, started_at=info.started_at or info.created_at,
                       finished_at=info.finished_at)


def _session_info(session: Session) -> ProcessInfo:
    ended = session.ended
    return ProcessInfo(id=session.id, handle=session.handle, args=session.args, tty=session.tty,
                       running=session.running, exit_code=ended.exit_code if ended else None,
                       started_at=session.started_at,
                       finished_at=ended.finished_at if ended else None)


def _init_end(engine: Engine, handle: str) -> ExitMessage | Gone | None:
    try:
        if not engine.has_ended(handle):
            return None
        info = engine.inspect(handle)
    except NotFound:
        return Gone(f"container {handle} was destroyed")
    if info.exit_code is None:
        return Gone(info.exit_detail or f"container {handle} did not run")
    return ExitMessage(exit_code=info.exit_code, oom_killed=info.oom_killed)


def _session_end(engine: Engine, handle: str, session_id: str) -> ExitMessage | Gone | None:
    try:
        session = engine.exec_session(handle, session_id)
    except NotFound:
        return Gone(f"process {session_id} is gone: its container was destroyed")
    if session.lost:
        return Gone(f"process {session_id}: its monitor was lost; the exit status is unknown")
    if session.ended is None or session.monitor_alive:
        return None  # the monitor is still writing its output
    return ExitMessage(exit_code=session.ended.exit_code)

