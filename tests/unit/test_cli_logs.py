"""`stockade logs` without a daemon: its flags, what reaches the client, the bytes written
to stdout and stderr, -t, and the exits (125 for a bad flag in one line, 130 on ^C)."""

import base64
import io
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from stockade.cli import logs_view, session
from stockade.cli import main as cli
from stockade.errors import InvalidSpec
from stockade.wire.logs import LogRecord, StreamName

T = "2026-12-05T12:54:59.143266302+01:00"  # 11:54:59.143266302 UTC
OTHER = "2026-12-05T11:55:00.5+00:00"


def _record(stream: StreamName, data: bytes, time: str = T) -> LogRecord:
    try:
        return LogRecord(time=time, stream=stream, data=data.decode(), cursor="1.1")
    except UnicodeDecodeError:
        return LogRecord(time=time, stream=stream, data_b64=base64.b64encode(data).decode(),
                         cursor="1.1")


@pytest.mark.parametrize(("text", "count"), [("all", None), ("ALL", None), ("0", 0),
                                             ("10", 10), (" 7 ", 7)])
def test_tail_counts(text: str, count: int | None) -> None:
    assert logs_view.tail_count(text) == count


@pytest.mark.parametrize("bad", ["-1", "x", "", "1.5", "1e3"])
def test_a_bad_tail_is_refused(bad: str) -> None:
    with pytest.raises(InvalidSpec, match="invalid --tail"):
        logs_view.tail_count(bad)


def test_since_is_sent_as_a_unix_time_on_this_clock() -> None:
    assert logs_view.moment("--since", None) is None
    assert logs_view.moment("--since", "10m", now=1000.25) == "400.250000000"
    assert logs_view.moment("--until", "2026-12-05T11:54:59.5Z") == "1796471699.500000000"
    with pytest.raises(InvalidSpec, match=r"^--since: invalid time 'soon'"):
        logs_view.moment("--since", "soon")


class Recording(io.BytesIO):
    def __init__(self, flushes: list[str], name: str) -> None:
        super().__init__()
        self.flushes, self.name = flushes, name

    def flush(self) -> None:
        self.flushes.append(self.name)


def test_each_stream_to_its_file_flushed_when_the_stream_changes() -> None:
    flushes: list[str] = []
    out, err = Recording(flushes, "out"), Recording(flushes, "err")
    printer = logs_view.Printer(out, err)
    for record in (_record("stdout", b"a\n"), _record("stdout", b"b\n"),
                   _record("stderr", b"\xffe\n"), _record("stdout", b"c")):
        printer.write(record)
    assert (out.getvalue(), err.getvalue()) == (b"a\nb\nc", b"\xffe\n")
    assert flushes == ["out", "err"]


def test_timestamps_begin_each_line_in_utc() -> None:
    out, err = io.BytesIO(), io.BytesIO()
    printer = logs_view.Printer(out, err, timestamps=True)
    for record in (_record("stdout", b"one\n"), _record("stdout", b"two, ", OTHER),
                   _record("stderr", b"err\n"), _record("stdout", b"in parts\n", OTHER)):
        printer.write(record)
    assert out.getvalue() == (b"2026-12-05T11:54:59.143266302Z one\n"
                              b"2026-12-05T11:55:00.500000000Z two, in parts\n")
    assert err.getvalue() == b"2026-12-05T11:54:59.143266302Z err\n"


class FakeClient:
    def __init__(self, batches: list[list[LogRecord]], interrupt: bool = False) -> None:
        self.batches = batches
        self.interrupt = interrupt
        self.asked: list[dict[str, Any]] = []

    def log_batches(self, handle: str, **options: Any) -> Iterator[list[LogRecord]]:
        self.asked.append({"handle": handle, **options})
        yield from self.batches
        if self.interrupt:
            raise KeyboardInterrupt


def _run(monkeypatch: pytest.MonkeyPatch, client: FakeClient, *args: str) -> int:
    monkeypatch.setattr(session, "open_client", lambda options: client)
    monkeypatch.setattr(sys, "argv", ["stockade", "logs", *args])
    with pytest.raises(SystemExit) as ended:
        cli.main()
    return int(ended.value.code or 0)


def test_logs_writes_the_bytes_as_written(monkeypatch: pytest.MonkeyPatch,
                                          capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    client = FakeClient([[_record("stdout", b"out\n"), _record("stderr", b"err\n")],
                         [_record("stdout", b"\xff\n")]])
    assert _run(monkeypatch, client, "c1") == 0
    assert capsysbinary.readouterr() == (b"out\n\xff\n", b"err\n")
    assert client.asked == [{"handle": "c1", "follow": False, "tail": None, "since": None,
                             "until": None, "stdout": True, "stderr": True}]


@pytest.mark.parametrize(("flags", "asked"), [
    (["-f", "--tail", "5", "-t"], {"follow": True, "tail": 5}),
    (["--stdout"], {"stdout": True, "stderr": False}),
    (["--stderr"], {"stdout": False, "stderr": True}),
    (["--stdout", "--stderr"], {"stdout": True, "stderr": True}),
    (["--since", "1796471699.5", "--until", "2026-12-05T11:54:59Z"],
     {"since": "1796471699.500000000", "until": "1796471699.000000000"}),
])
def test_the_flags_reach_the_client(monkeypatch: pytest.MonkeyPatch, flags: list[str],
                                    asked: dict[str, Any]) -> None:
    client = FakeClient([])
    assert _run(monkeypatch, client, "c1", *flags) == 0
    assert asked.items() <= client.asked[0].items()


@pytest.mark.parametrize(("flags", "message"), [
    (["--since", "whenever"], "--since: invalid time 'whenever'"),
    (["--until", "1h-1m"], "--until: invalid time '1h-1m'"),
    (["--tail", "some"], "invalid --tail 'some'"),
])
def test_a_bad_flag_is_one_line_and_125_before_asking(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        flags: list[str], message: str) -> None:
    client = FakeClient([])
    assert _run(monkeypatch, client, "c1", *flags) == cli.PLATFORM_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert client.asked == []


def test_ctrl_c_exits_130_quietly(monkeypatch: pytest.MonkeyPatch,
                                  capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    client = FakeClient([[_record("stdout", b"so far\n")]], interrupt=True)
    assert _run(monkeypatch, client, "c1", "-f") == 130
    assert capsysbinary.readouterr() == (b"so far\n", b"")
