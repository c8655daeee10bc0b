"""GET /v1/containers/{handle}/logs against a fake engine that has only what the route
may use (log_files, has_ended, state.get for the owner check): NDJSON records, the
filters, refusals as one line, and follow ending once the container has ended."""

import json
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI

from stockade.api import errors
from stockade.api.routes import containers
from stockade.errors import NotFound
from stockade.runtime.logfile import LogFiles
from stockade.wire.logs import LogRecord
from stockade.wire.stream import Stream
from tests.unit.test_logfile import T0, Conmon, line, record, write

with warnings.catch_warnings():  # starlette would rather have httpx2, not in the dev extra
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

OUT, ERR = Stream.STDOUT, Stream.STDERR


class FakeEngine:
    def __init__(self, files: LogFiles) -> None:
        self.files = files
        self.ended = False
        self.state = SimpleNamespace(get=self._get)

    def _get(self, handle: str) -> Any:
        if handle != "c1":
            raise NotFound(f"no such container: {handle}")
        return SimpleNamespace(owner="local")

    def log_files(self, handle: str) -> LogFiles:
        self._get(handle)
        return self.files

    def has_ended(self, handle: str) -> bool:
        return self.ended


@pytest.fixture
def engine(tmp_path: Path) -> FakeEngine:
    return FakeEngine(LogFiles(tmp_path / "ctr.log", 2))


@pytest.fixture
def http(engine: FakeEngine) -> Iterator[TestClient]:
    app = FastAPI()
    errors.install(app)
    app.include_router(containers.router)
    app.state.daemon = SimpleNamespace(engine=engine)
    app.state.engine = engine
    with TestClient(app) as client:
        yield client


def _records(http: TestClient, **params: Any) -> list[LogRecord]:
    answer = http.get("/v1/containers/c1/logs", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/x-ndjson"
    return [LogRecord.model_validate_json(text) for text in answer.text.splitlines()]


def test_records_in_order_as_ndjson(http: TestClient, engine: FakeEngine) -> None:
    write(engine.files.rotated(1), record(T0, b"out1"), record(T0, b"err1", ERR))
    write(engine.files.path, record(T0 + 1, b"\xffbin", partial=True),
          record(T0 + 2, b"ary"), b"2026-12-05T11:54:59Z stdout F unfinish")
    answer = http.get("/v1/containers/c1/logs")
    lines = [json.loads(text) for text in answer.text.splitlines()]
    assert lines[0] == {"time": "2026-12-05T11:54:59.143266302+00:00", "stream": "stdout",
                        "data": "out1\n", "cursor": f"{T0}.1"}
    assert lines[1]["stream"] == "stderr" and lines[1]["cursor"] == f"{T0}.2"
    assert lines[2] == {"time": record(T0 + 1).time, "stream": "stdout",
                        "data_b64": "/2Jpbg==", "cursor": f"{T0 + 1}.1"}
    assert b"".join(item.payload() for item in _records(http)) == \
        b"out1\nerr1\n\xffbinary\n"


def test_filters(http: TestClient, engine: FakeEngine) -> None:
    made = [record(T0 + n * 1_000_000_000, b"%d" % n, ERR if n % 2 else OUT)
            for n in range(6)]
    write(engine.files.path, *made)
    assert [r.data for r in _records(http, tail=2)] == ["4\n", "5\n"]
    assert [r.data for r in _records(http, tail=2, stdout=False)] == ["3\n", "5\n"]
    assert [r.data for r in _records(http, stderr="false")] == ["0\n", "2\n", "4\n"]
    assert [r.data for r in _records(http, since="1796471701", until="1796471703.2")] == [
        "2\n", "3\n", "4\n"]
    assert [r.data for r in _records(http, since="2026-12-05T11:55:03Z")] == ["4\n", "5\n"]
    cursor = _records(http)[2].cursor
    assert [r.data for r in _records(http, after=cursor)] == ["3\n", "4\n", "5\n"]
    assert _records(http, tail=0) == []


def test_an_empty_or_missing_log_is_an_empty_answer(http: TestClient) -> None:
    assert _records(http) == []


@pytest.mark.parametrize(("params", "status", "text"), [
    ({"since": "yesterday"}, 422, "invalid time 'yesterday'"),
    ({"until": "10x"}, 422, "invalid time '10x'"),
    ({"after": "nope"}, 422, "invalid cursor 'nope'"),
    ({"stdout": False, "stderr": False}, 422, "no stream chosen"),
    ({"tail": -1}, 422, "tail"),
    ({"since": "1" * 100}, 422, "since"),
])
def test_refusals_are_one_line(http: TestClient, params: dict[str, Any], status: int,
                               text: str) -> None:
    answer = http.get("/v1/containers/c1/logs", params=params)
    assert answer.status_code == status
    message = answer.json()["error"]["message"]
    assert text in message and "\n" not in message


def test_an_unknown_container_is_404(http: TestClient) -> None:
    answer = http.get("/v1/containers/c2/logs")
    assert answer.status_code == 404
    assert answer.json()["error"]["message"] == "no such container: c2"


def test_follow_streams_until_the_container_has_ended_and_the_log_is_drained(
        http: TestClient, engine: FakeEngine) -> None:
    """A writer goes on after the request began, rotates the log, and writes its last
    lines just before the container ends: all arrive, in order, and the answer ends."""
    writer = Conmon(engine.files)
    sent = [writer.write(b"before")]

    def container() -> None:
        time.sleep(0.15)
        sent.append(writer.write(b"during"))
        engine.files.rotate(writer.reopen)
        time.sleep(0.15)
        sent.extend(writer.write(b"last %d" % n) for n in range(3))
        engine.ended = True

    thread = threading.Thread(target=container)
    thread.start()
    started = time.monotonic()
    try:
        got = _records(http, follow=True)
    finally:
        thread.join()
        writer.close()
    assert [item.payload() for item in got] == [item.payload() for item in sent]
    assert time.monotonic() - started < 5


def test_follow_with_a_tail_and_a_stream(http: TestClient, engine: FakeEngine) -> None:
    write(engine.files.path, record(T0, b"a"), record(T0, b"b", ERR), record(T0, b"c"))

    def container() -> None:
        time.sleep(0.1)
        write(engine.files.path, record(T0, b"d", ERR), record(T0 + 1, b"e"))
        engine.ended = True

    thread = threading.Thread(target=container)
    thread.start()
    try:
        got = _records(http, follow=True, tail=1, stderr=False)
    finally:
        thread.join()
    assert [(item.data, item.cursor) for item in got] == [
        ("c\n", f"{T0}.3"), ("e\n", f"{T0 + 1}.1")]


def test_follow_ends_at_until_without_the_container_ending(
        http: TestClient, engine: FakeEngine) -> None:
    write(engine.files.path, record(T0, b"a"), line(record(T0 + 10**9, b"b")))
    got = _records(http, follow=True, until=str(T0 // 10**9 + 0.5))
    assert [item.data for item in got] == ["a\n"]
    assert not engine.ended


def test_follow_of_an_ended_container_is_its_log(http: TestClient,
                                                 engine: FakeEngine) -> None:
    engine.ended = True
    write(engine.files.path, record(T0, b"a"))
    assert [item.data for item in _records(http, follow=True)] == ["a\n"]
