"""The process table against a fake engine: output, ends, caps, retention, forgetting."""

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from stockade.api.proctable import ProcessTable, TableSettings
from stockade.engine import Engine
from stockade.errors import Conflict, InvalidSpec, NotFound
from stockade.runtime.runc import Stdio
from stockade.wire.process import ProcessRequest
from stockade.wire.stream import Stream


class FakeEngine:
    """Runs "processes" as Python: `echo` writes its args, `block` waits, `fail` refuses."""

    def __init__(self, root: Path) -> None:
        self.layout = SimpleNamespace(root=root)
        self.state = "running"
        self.release = threading.Event()

    def inspect(self, handle: str) -> SimpleNamespace:
        if handle != "box":
            raise NotFound(f"container {handle} not found")
        return SimpleNamespace(state=self.state)

    def exec(self, handle: str, args: list[str], stdio: Stdio, *_: Any,
             pid_file: Path, **__: Any) -> int:
        if args[0] == "fail":
            raise InvalidSpec("refused")
        pid_file.write_text(str(os.getpid()))  # as runc does once it runs (never signalled)
        if args[0] == "block":
            self.release.wait(10)
        os.write(stdio.stdout, " ".join(args[1:]).encode())
        os.write(stdio.stderr, b"e")
        return len(args)


@pytest.fixture
def fake(tmp_path: Path) -> FakeEngine:
    return FakeEngine(tmp_path)


@pytest.fixture
def no_fd_leaks() -> Iterator[None]:
    before = set(os.listdir("/proc/self/fd"))
    yield
    left = set(os.listdir("/proc/self/fd")) - before
    assert not [fd for fd in left if os.path.exists(f"/proc/self/fd/{fd}")]


def _table(fake: FakeEngine, **settings: Any) -> ProcessTable:
    return ProcessTable(cast(Engine, fake), TableSettings(drain_s=1, **settings))


def _ended(table: ProcessTable, process_id: str) -> int:
    deadline = time.monotonic() + 10
    while (info := table.info("box", process_id)).running:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert info.exit_code is not None
    return info.exit_code


def _output(table: ProcessTable, process_id: str) -> dict[Stream, bytes]:
    buffer = table.get("box", process_id).output
    cursor = buffer.attach(lambda: None)
    got: dict[Stream, bytes] = {}
    while (batch := buffer.read(cursor)[0]):
        for chunk in batch:
            got[chunk.stream] = got.get(chunk.stream, b"") + chunk.data
        buffer.advance(cursor, batch[-1].end)
    buffer.detach(cursor)
    return got


@pytest.mark.usefixtures("no_fd_leaks")
def test_output_and_exit_code(fake: FakeEngine) -> None:
    table = _table(fake)
    info = table.spawn("box", ProcessRequest(args=["echo", "hi", "there"]))
    assert info.handle == "box" and info.args == ["echo", "hi", "there"]
    assert _ended(table, info.id) == 3
    assert _output(table, info.id) == {Stream.STDOUT: b"hi there", Stream.STDERR: b"e"}
    assert [p.id for p in table.list("box")] == [info.id]
    table.close()


@pytest.mark.usefixtures("no_fd_leaks")
def test_refusals_leave_nothing(fake: FakeEngine) -> None:
    table = _table(fake)
    with pytest.raises(InvalidSpec, match="refused"):
        table.spawn("box", ProcessRequest(args=["fail"]))
    with pytest.raises(NotFound, match="container nope"):
        table.spawn("nope", ProcessRequest(args=["echo"]))
    fake.state = "stopped"
    with pytest.raises(Conflict, match="not running"):
        table.spawn("box", ProcessRequest(args=["echo"]))
    assert table.list("box") == []
    with pytest.raises(NotFound, match="no process x"):
        table.get("box", "x")
    table.close()


@pytest.mark.usefixtures("no_fd_leaks")
def test_running_processes_are_capped_per_container(fake: FakeEngine) -> None:
    table = _table(fake, max_running_per_container=1)
    first = table.spawn("box", ProcessRequest(args=["block"]))
    with pytest.raises(Conflict, match="already runs 1"):
        table.spawn("box", ProcessRequest(args=["echo"]))
    fake.release.set()
    _ended(table, first.id)
    table.spawn("box", ProcessRequest(args=["echo"]))
    table.close()


@pytest.mark.usefixtures("no_fd_leaks")
def test_ended_processes_are_kept_for_a_while_and_only_so_many(fake: FakeEngine) -> None:
    table = _table(fake, max_ended_per_container=2)
    ids = []
    for _ in range(4):
        ids.append(table.spawn("box", ProcessRequest(args=["echo"])).id)
        _ended(table, ids[-1])
    assert [p.id for p in table.list("box")] == ids[-2:]
    short = _table(fake, retention_s=0)
    gone = short.spawn("box", ProcessRequest(args=["echo"])).id
    deadline = time.monotonic() + 10
    while short.list("box"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(NotFound):
        short.info("box", gone)
    table.close()
    short.close()


@pytest.mark.usefixtures("no_fd_leaks")
def test_forgetting_a_container_abandons_its_processes(fake: FakeEngine) -> None:
    table = _table(fake)
    process = table.get("box", table.spawn("box", ProcessRequest(args=["block"])).id)
    table.forget_container("box")
    assert process.gone and not process.running and process.exit_message() is None
    assert table.list("box") == []
    fake.release.set()
    assert process.join(10)
    table.close()
