"""Process I/O through the API daemon: run, stream, stdin, tty, signal, attach, init."""

import fcntl
import json
import os
import secrets
import select
import signal
import struct
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, unix_connect

from stockade.api import errors as api_errors
from stockade.api.routes import processes
from stockade.attach.table import ProcessTable
from stockade.cli import remote_foreground
from stockade.client import Client, streams
from stockade.client.transport import UnixTransport
from stockade.client.websocket import WebSocket, open_websocket
from stockade.engine import Engine
from stockade.errors import (
    CommandNotFound,
    CommandNotRunnable,
    Conflict,
    InvalidSpec,
    NotFound,
)
from stockade.images import commands
from stockade.spec import ContainerInfo, ContainerSpec
from stockade.wire import stream as wsproto
from stockade.wire.process import ProcessRequest, Window
from tests import containerkit
from tests.integration.helpers import spec, start_detached

pytestmark = pytest.mark.integration


class _Server:
    """The routes under uvicorn in a thread; stopped and started again as a daemon
    restart would (the processes, held by their monitors, run on)."""

    def __init__(self, engine: Engine, table: ProcessTable, socket: Path) -> None:
        self._engine, self._table, self._socket = engine, table, socket
        self.start()

    def start(self) -> None:
        self.stopping = threading.Event()
        self._server = uvicorn.Server(uvicorn.Config(
            _app(self._engine, self._table, self.stopping), uds=str(self._socket),
            log_level="warning", lifespan="off", timeout_graceful_shutdown=5))
        self._thread = threading.Thread(target=self._server.run, name="test-daemon",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, \
                "the daemon did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.stopping.set()  # attachers are told to come back
        self._server.should_exit = True
        self._thread.join(30)
        assert not self._thread.is_alive()


@dataclass(frozen=True)
class Daemon:
    socket: Path
    engine: Engine
    table: ProcessTable
    server: _Server

    @property
    def transport(self) -> UnixTransport:
        return UnixTransport(self.socket)

    def http(self) -> httpx.Client:
        return httpx.Client(transport=httpx.HTTPTransport(uds=str(self.socket)),
                            base_url="http://localhost", timeout=60)

    def ws(self, handle: str, process_id: str, stdin: bool = False) -> ClientConnection:
        uri = (f"ws://localhost/v1/containers/{handle}/processes/{process_id}/attach"
               f"?stdin={'true' if stdin else 'false'}")
        return unix_connect(path=str(self.socket), uri=uri)

    def lean_ws(self, handle: str, process_id: str) -> WebSocket:
        """The CLI's own WebSocket client (client/websocket.py) rather than websockets'."""
        path = f"/v1/containers/{handle}/processes/{process_id}/attach?stdin=false"
        return open_websocket(self.transport.connect(), path, [])

    def spawn(self, handle: str, **request: Any) -> str:
        with self.http() as client:
            response = client.post(f"/v1/containers/{handle}/processes", json=request)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


def _app(engine: Engine, table: ProcessTable, stopping: threading.Event) -> FastAPI:
    """The routes under test with the daemon's error bodies, plus stand-ins for the
    container routes (the whole daemon is tested in test_api.py)."""
    app = FastAPI()
    app.state.engine = engine
    app.state.processes = table
    app.state.daemon = SimpleNamespace(engine=engine, processes=table, stopping=stopping)
    app.include_router(processes.router)
    api_errors.install(app)

    @app.post("/v1/containers", status_code=201)
    def create(body: dict[str, Any]) -> ContainerInfo:
        assert body["attach"] is True
        return table.create_attached(ContainerSpec.model_validate(body["spec"]))

    @app.post("/v1/containers/{handle}/start")
    def start(handle: str) -> ContainerInfo:
        return engine.start(handle)

    @app.get("/v1/containers/{handle}")
    def inspect(handle: str) -> ContainerInfo:
        return engine.inspect(handle)

    @app.delete("/v1/containers/{handle}", status_code=204)
    def destroy(handle: str) -> None:
        engine.destroy(handle)

    return app


@pytest.fixture
def daemon(engine: Engine, tmp_path: Path) -> Iterator[Daemon]:
    fds_before = set(os.listdir("/proc/self/fd"))
    table = ProcessTable(engine)
    socket = tmp_path / "api.sock"
    server = _Server(engine, table, socket)
    try:
        yield Daemon(socket, engine, table, server)
    finally:
        server.stop()
        for info in engine.list():  # everything our tests made goes, even on failure
            engine.destroy(info.handle)
    left = {fd: target for fd in set(os.listdir("/proc/self/fd")) - fds_before
            if (target := _target(fd))}
    assert not left, f"the process table left fds open: {left}"


def _target(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # the listing's own fd, gone by now
        return ""


@pytest.fixture
def null() -> Iterator[int]:
    """An fd for output a test does not look at."""
    fd = os.open(os.devnull, os.O_WRONLY)
    yield fd
    os.close(fd)


@pytest.fixture
def box(daemon: Daemon) -> str:
    """A running container to exec into."""
    return start_detached(daemon.engine, ["sleep", "600"])


def _frames(ws: ClientConnection, until: Callable[[bytes], bool],
            timeout: float = 30) -> bytes:
    """Output frames' data (either stream) until `until` holds for all of it so far."""
    seen = b""
    deadline = time.monotonic() + timeout
    while not until(seen):
        message = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        if isinstance(message, str):
            parsed = wsproto.parse_server_message(message)
            assert isinstance(parsed, wsproto.CursorMessage), f"unexpected {message!r}"
            continue
        seen += wsproto.decode_output(message)[1]
    return seen


def _rest(ws: ClientConnection) -> tuple[bytes, wsproto.ExitMessage]:
    """Everything until the exit message, and the message."""
    data = b""
    for message in ws:
        if isinstance(message, str):
            parsed = wsproto.parse_server_message(message)
            if isinstance(parsed, wsproto.ExitMessage):
                return data, parsed
            continue
        data += wsproto.decode_output(message)[1]
    raise AssertionError(f"closed without an exit message: {ws.close_code} {ws.close_reason}")


# -- running a process --------------------------------------------------------------------

def test_echo_prints_and_exits_zero(daemon: Daemon, box: str) -> None:
    assert streams.run_captured(daemon.transport, box, ["echo", "hello"]) == (0, b"hello\n", b"")


def test_the_exit_code_comes_back(daemon: Daemon, box: str) -> None:
    code, _, _ = streams.run_captured(daemon.transport, box, ["sh", "-c", "exit 3"])
    assert code == 3


def test_stdout_and_stderr_stay_apart(daemon: Daemon, box: str) -> None:
    result = streams.run_captured(daemon.transport, box,
                                  ["sh", "-c", "echo out; echo err >&2; echo out2"])
    assert result == (0, b"out\nout2\n", b"err\n")


def test_stdin_is_piped_through_and_nothing_is_lost(daemon: Daemon, box: str) -> None:
    """Both ways at once, well beyond every buffer: the reader paces the process, the
    process paces the writer, and neither side deadlocks the other."""
    data = os.urandom(8 << 20)
    result: list[tuple[int, bytes, bytes]] = []
    worker = threading.Thread(target=lambda: result.append(
        streams.run_captured(daemon.transport, box, ["cat"], stdin=data)), daemon=True)
    worker.start()
    worker.join(120)  # a hang fails here; teardown destroys the container, freeing it
    assert result, "the stream deadlocked"
    code, out, err = result[0]
    assert (code, err) == (0, b"")
    assert out == data


def test_env_cwd_user_and_rlimits_take_effect(daemon: Daemon, box: str) -> None:
    script = "echo $GREETING; pwd; id -u; ulimit -n; ulimit -u"
    result = streams.run_captured(daemon.transport, box, ["sh", "-c", script],
                                  env={"GREETING": "hi"}, cwd="/tmp", user="nobody",
                                  rlimits={"nofile": 256, "nproc": 50})
    assert result == (0, b"hi\n/tmp\n65534\n256\n50\n", b"")


def test_an_exec_cannot_raise_a_hard_limit_of_the_init(daemon: Daemon, box: str) -> None:
    with pytest.raises(InvalidSpec, match="hard limit"):
        streams.run_captured(daemon.transport, box, ["true"], rlimits={"core": 1 << 20})
    assert [p.id for p in daemon.table.list(box)] == ["init"]


def test_a_missing_command_is_refused_before_a_process_exists(daemon: Daemon,
                                                             box: str) -> None:
    """Judged in the container's own root (its mounts in place): CommandNotFound (the CLI's
    127) or CommandNotRunnable (126) from the POST, and no session is left."""
    with pytest.raises(CommandNotFound, match="no-such-command"):
        streams.run_captured(daemon.transport, box, ["no-such-command"])
    with pytest.raises(CommandNotRunnable, match="directory"):
        streams.run_captured(daemon.transport, box, ["/etc"])
    with pytest.raises(CommandNotRunnable, match="not executable"):
        streams.run_captured(daemon.transport, box, ["/etc/passwd"])
    # /dev is the container's own tmpfs, mounted at run time: what is there is seen
    with pytest.raises(CommandNotRunnable, match="not a regular file"):
        streams.run_captured(daemon.transport, box, ["/dev/null"])
    assert [p.id for p in daemon.table.list(box)] == ["init"]


def test_the_init_is_the_backstop_for_what_the_check_lets_through(
        daemon: Daemon, box: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the daemon's check, the init's execvp fails and it exits 127 or 126 itself,
    with its own line on the process's stderr."""
    monkeypatch.setattr(commands, "check_command", lambda *args, **kwargs: None)
    code, _, err = streams.run_captured(daemon.transport, box, ["no-such-command"])
    assert code == 127 and b"stockade-init: exec no-such-command" in err
    code, _, err = streams.run_captured(daemon.transport, box, ["/etc"])
    assert code == 126 and b"Permission denied" in err


def test_a_bad_request_is_refused(daemon: Daemon, box: str) -> None:
    bodies: list[dict[str, Any]] = [
        {"args": []}, {"args": ["x"], "rlimits": {"nofiles": 1}}, {"args": ["x"], "user": "a b"},
        {"args": ["x"], "surprise": 1}, {"args": ["x"], "window": {"rows": 2, "cols": 2}}]
    with daemon.http() as client:
        for body in bodies:
            response = client.post(f"/v1/containers/{box}/processes", json=body)
            assert response.status_code == 422, body


# -- terminals ------------------------------------------------------------------------------

def test_a_tty_process_gets_a_terminal_of_the_asked_size(daemon: Daemon, box: str) -> None:
    read_end, write_end = os.pipe()
    try:
        request = ProcessRequest(args=["sh", "-c", "tty; stty size"], tty=True,
                                 window=Window(rows=33, cols=99))
        code = streams.run_process(daemon.transport, box, request, stdout_fd=write_end)
        os.close(write_end)
        write_end = -1
        out = os.read(read_end, 65536).decode()
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    assert code == 0
    assert out.startswith("/dev/pts/") and "33 99" in out


def test_a_resize_reaches_the_terminal(daemon: Daemon, box: str) -> None:
    process_id = daemon.spawn(box, args=["sh"], tty=True)
    with daemon.ws(box, process_id, stdin=True) as ws:
        ws.send(json.dumps({"resize": {"rows": 10, "cols": 20}}))
        ws.send(b"stty size; exit 5\n")
        data, ended = _rest(ws)
    assert b"10 20" in data and ended.exit_code == 5


def test_a_local_terminal_is_relayed_raw_and_its_size_followed(daemon: Daemon,
                                                               box: str) -> None:
    """As `stockade exec -it`: our terminal (here a pty of the test's) in raw mode, its
    size at start and after SIGWINCH, keys forwarded."""
    master, slave = os.openpty()
    _set_window(master, 30, 70)
    seen: list[bytes] = []

    def type_at_the_terminal() -> None:
        _read_until(master, b"30 70", seen)
        _set_window(master, 40, 100)
        os.kill(os.getpid(), signal.SIGWINCH)  # what the kernel sends a terminal's owner
        time.sleep(0.5)
        os.write(master, b"stty size; exit 3\r")
        _read_until(master, b"40 100", seen)

    typist = threading.Thread(target=type_at_the_terminal, daemon=True)
    typist.start()
    try:
        request = ProcessRequest(args=["sh", "-c", "stty size; exec sh"], tty=True)
        code = streams.run_process(daemon.transport, box, request, stdin_fd=slave,
                                   stdout_fd=slave, stderr_fd=slave)
        typist.join(30)
        assert termios.tcgetattr(slave)[3] & termios.ECHO  # raw mode was undone
    finally:
        os.close(slave)
        os.close(master)
    assert code == 3 and not typist.is_alive(), b"".join(seen)


def _set_window(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _read_until(fd: int, wanted: bytes, seen: list[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while wanted not in b"".join(seen):
        assert time.monotonic() < deadline, b"".join(seen)
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            seen.append(os.read(fd, 4096))


# -- attaching ----------------------------------------------------------------------------

def test_a_dropped_stream_leaves_the_process_running_and_reattach_replays(
        daemon: Daemon, box: str) -> None:
    process_id = daemon.spawn(box, args=["sh", "-c", "echo one; read x; echo two $x"])
    with daemon.ws(box, process_id, stdin=True) as first:
        assert _frames(first, lambda seen: b"one\n" in seen) == b"one\n"
    assert daemon.table.info(box, process_id).running
    with daemon.ws(box, process_id, stdin=True) as second:
        assert _frames(second, lambda seen: b"one\n" in seen) == b"one\n"  # replayed
        with daemon.ws(box, process_id, stdin=True) as third, \
                pytest.raises(ConnectionClosed) as refused:
            third.recv(timeout=10)
        assert refused.value.rcvd is not None
        assert refused.value.rcvd.code == wsproto.CLOSE_CONFLICT
        second.send(b"three\n")
        data, ended = _rest(second)
    assert data == b"two three\n" and ended.exit_code == 0
    info = daemon.table.info(box, process_id)
    assert (info.running, info.exit_code) == (False, 0)
    assert info.finished_at is not None and info.finished_at >= info.started_at


def test_an_ended_process_can_still_be_read(daemon: Daemon, box: str, null: int) -> None:
    process_id = daemon.spawn(box, args=["sh", "-c", "echo done; exit 2"])
    deadline = time.monotonic() + 30
    while daemon.table.info(box, process_id).running:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    code = streams.attach(daemon.transport, box, process_id, None, null, null, tty=False)
    assert code == 2
    with daemon.http() as client:
        listed = client.get(f"/v1/containers/{box}/processes").json()
        one = client.get(f"/v1/containers/{box}/processes/{process_id}").json()
    assert [p["id"] for p in listed] == ["init", process_id]
    assert one["exit_code"] == 2 and one["args"] == ["sh", "-c", "echo done; exit 2"]


def test_bytes_without_the_stdin_attachment_break_the_protocol(daemon: Daemon,
                                                               box: str) -> None:
    process_id = daemon.spawn(box, args=["sleep", "600"])
    with daemon.ws(box, process_id) as ws:
        ws.send(b"data")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == wsproto.CLOSE_BAD_REQUEST
    assert "stdin=true" in closed.value.rcvd.reason
    with daemon.ws(box, process_id) as ws:
        ws.send('{"resize": {"rows": 0}}')
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == wsproto.CLOSE_BAD_REQUEST


# -- signals ------------------------------------------------------------------------------

def test_signal_a_process_by_route(daemon: Daemon, box: str, null: int) -> None:
    process_id = daemon.spawn(box, args=["sleep", "600"])
    with daemon.http() as client:
        bad = client.post(f"/v1/containers/{box}/processes/{process_id}/signal",
                          json={"signal": "NOPE"})
        sent = client.post(f"/v1/containers/{box}/processes/{process_id}/signal",
                           json={"signal": "TERM"})
    assert bad.status_code == 422 and sent.status_code == 204
    code = streams.attach(daemon.transport, box, process_id, None, null, null, tty=False)
    assert code == 128 + 15
    with pytest.raises(Conflict, match="ended"):
        daemon.table.signal(box, process_id, "TERM")


def test_signal_a_process_over_its_stream(daemon: Daemon, box: str) -> None:
    process_id = daemon.spawn(box, args=["sleep", "600"])
    with daemon.ws(box, process_id) as ws:
        ws.send('{"signal": "KILL"}')
        _, ended = _rest(ws)
    assert ended.exit_code == 128 + 9


def test_our_first_interrupt_goes_to_the_process(daemon: Daemon, box: str) -> None:
    """As for a process in our foreground: ^C (SIGINT to us) reaches the process."""
    script = "trap 'echo caught; exit 7' INT; echo ready; while :; do sleep 0.1; done"
    read_end, write_end = os.pipe()
    seen: list[bytes] = []

    def press_ctrl_c() -> None:
        _read_until(read_end, b"ready", seen)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    presser.start()
    try:
        code = streams.run_process(daemon.transport, box, ProcessRequest(args=["sh", "-c", script]),
                                   stdout_fd=write_end)
        _read_until(read_end, b"caught", seen)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert code == 7


# -- the container's init -----------------------------------------------------------------

def test_the_init_is_attachable_and_its_output_also_logged(daemon: Daemon) -> None:
    request = spec(["sh", "-c", "echo from-init; echo oops >&2; exit 4"])
    info = daemon.table.create_attached(request)
    assert info.state == "created"
    captured: dict[wsproto.Stream, bytes] = {}

    def collect(stream: wsproto.Stream, data: bytes) -> None:
        captured[stream] = captured.get(stream, b"") + data

    with daemon.lean_ws(request.handle, "init") as ws:
        daemon.engine.start(request.handle)
        ended = streams.receive(ws, collect)
    assert (ended.exit_code, ended.oom_killed) == (4, False)
    assert captured == {wsproto.Stream.STDOUT: b"from-init\n", wsproto.Stream.STDERR: b"oops\n"}
    assert containerkit.output(daemon.engine, request.handle) == (b"from-init\n", b"oops\n")
    assert daemon.table.info(request.handle, "init").exit_code == 4


def test_an_init_with_a_terminal(daemon: Daemon) -> None:
    request = spec(["sh", "-c", "read line; echo got $line; tty"],
                   process={"terminal": True})
    daemon.table.create_attached(request)
    with daemon.ws(request.handle, "init", stdin=True) as ws:
        daemon.engine.start(request.handle)
        ws.send(b"hello\r")
        data, ended = _rest(ws)
    assert ended.exit_code == 0
    assert b"got hello" in data and b"/dev/pts/" in data


def test_remote_run_streams_and_returns_the_code(daemon: Daemon,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    request = spec(["sh", "-c", "echo remote; echo warn >&2; exit 6"])
    code = remote_foreground.run(Client(daemon.socket), request.model_dump(mode="json"),
                                 interactive=False, remove=True)
    out, err = capfd.readouterr()
    assert (code, out, err) == (6, "remote\n", "warn\n")
    # removing it is the daemon's sweep (test_cli checks it); this harness has none
    ended = daemon.engine.inspect(request.handle)
    assert ended.exit_code == 6
    daemon.engine.destroy(request.handle)


def test_a_daemon_restart_during_an_attached_run_loses_no_output(daemon: Daemon) -> None:
    """The init prints numbered lines for a few seconds; the daemon stops in the middle and
    comes back. The attached client reconnects after its last cursor: every line once, in
    order, and the exit code."""
    request = spec(["sh", "-c", "i=0; while [ $i -lt 60 ]; do i=$((i+1)); echo line$i; "
                                "sleep 0.05; done; exit 5"])
    daemon.table.create_attached(request)
    read_end, write_end = os.pipe()
    result: list[int] = []

    def start() -> None:
        daemon.engine.start(request.handle)

    def attached() -> None:
        result.append(streams.attach(daemon.transport, request.handle, "init", None, write_end,
                                     write_end, tty=False, close_stdin=True,
                                     on_attached=start))

    client = threading.Thread(target=attached, daemon=True)
    client.start()
    seen: list[bytes] = []
    try:
        _read_until(read_end, b"line10\n", seen)
        daemon.server.stop()  # attachers are told to come back; the container runs on
        time.sleep(1.0)
        daemon.server.start()
        client.join(60)
        os.close(write_end)
        write_end = -1
        while chunk := os.read(read_end, 65536):
            seen.append(chunk)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    assert result == [5]
    assert b"".join(seen).decode().split() == [f"line{i}" for i in range(1, 61)]


def test_remote_exec(daemon: Daemon, box: str, capfd: pytest.CaptureFixture[str]) -> None:
    code = remote_foreground.exec_(daemon.transport, box, ["sh", "-c", "echo $A; exit 9"],
                                   {"A": "b"}, None, interactive=False, tty=False)
    assert (code, capfd.readouterr().out) == (9, "b\n")


def test_destroy_ends_the_stream_of_an_attached_init(daemon: Daemon) -> None:
    request = spec(["sleep", "600"])
    daemon.table.create_attached(request)
    with daemon.ws(request.handle, "init") as ws:
        daemon.engine.start(request.handle)
        with daemon.http() as client:
            assert client.delete(f"/v1/containers/{request.handle}").status_code == 204
        try:  # killed: its exit code, unless the record went with the container first
            assert _rest(ws)[1].exit_code == 128 + 9
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == wsproto.CLOSE_GONE


# -- not found ------------------------------------------------------------------------------

def test_unknown_containers_and_processes_are_not_found(daemon: Daemon, box: str,
                                                        null: int) -> None:
    missing = f"missing-{secrets.token_hex(3)}"
    with pytest.raises(NotFound, match=missing):
        streams.run_captured(daemon.transport, missing, ["true"])
    with pytest.raises(NotFound, match=missing):
        streams.attach(daemon.transport, missing, "init", None, null, null, tty=False)
    with pytest.raises(NotFound, match="no process nope"):
        streams.attach(daemon.transport, box, "nope", None, null, null, tty=False)
    with daemon.http() as client:
        assert client.get(f"/v1/containers/{box}/processes/nope").status_code == 404
        assert client.get(f"/v1/containers/{missing}/processes").status_code == 404
        assert client.post(f"/v1/containers/{box}/processes/nope/signal",
                           json={"signal": "TERM"}).status_code == 404
