"""The logs wire: the time forms --since and --until read, and the NDJSON record."""

import base64
import datetime
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from stockade.errors import InvalidSpec
from stockade.wire.logs import LogRecord, parse_since, unix_text, utc_text

NS = 1_000_000_000
T0 = 1_796_471_699_143_266_302  # 2026-12-05T11:54:59.143266302Z
NOW = 1_796_471_699.0  # 2026-12-05T11:54:59Z as the caller's clock
NOW_NS = 1_796_471_699 * NS


@pytest.fixture
def utc_plus_2(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time two hours ahead of UTC (POSIX TZ counts the other way)."""
    monkeypatch.setenv("TZ", "XYZ-2")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-05T11:54:59.143266302Z", T0),
    ("2026-12-05T11:54:59.143266302+00:00", T0),
    ("2026-12-05T12:54:59.143266302+01:00", T0),
    ("2026-12-05T06:24:59.143266302-05:30", T0),
    ("2026-12-05t11:54:59.143266302z", T0),
    ("2026-12-05 11:54:59.143266302Z", T0),
    ("2026-12-05T11:54:59Z", NOW_NS),
    ("2026-12-05T11:54:59.5Z", NOW_NS + NS // 2),
    ("2026-12-05T11:54:59.1432663029999Z", T0),  # finer than a nanosecond: dropped
    ("2026-12-05T11:54Z", NOW_NS - 59 * NS),
    (" 2026-12-05T11:54:59Z\n", NOW_NS),
    ("1796471699", NOW_NS),
    ("1796471699.143266302", T0),
    ("1796471699.5", NOW_NS + NS // 2),
    ("1796471699.", NOW_NS),
    ("0", 0),
    ("10m", NOW_NS - 600 * NS),
    ("1h30m", NOW_NS - 5400 * NS),
    ("45s", NOW_NS - 45 * NS),
    ("500ms", NOW_NS - NS // 2),
    ("1.5h", NOW_NS - 5400 * NS),
    ("2us", NOW_NS - 2000),
    ("3µs", NOW_NS - 3000),
    ("7ns", NOW_NS - 7),
    ("1h1h", NOW_NS - 7200 * NS),  # as Go reads it
    ("0s", NOW_NS),
])
def test_the_forms_since_reads(text: str, expected: int) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.usefixtures("utc_plus_2")
def test_a_time_without_an_offset_is_local_time() -> None:
    assert parse_since("2026-12-05T13:54:59.143266302", NOW) == T0
    assert parse_since("2026-12-05", NOW) == int(
        datetime.datetime(2026, 12, 4, 22, tzinfo=datetime.UTC).timestamp()) * NS


@pytest.mark.parametrize("bad", [
    "", " ", "yesterday", "-10m", "+10m", "10x", "1h-30m", "10 m", "1e9", "nan", "0x10",
    "2026-13-01", "2026-02-30T00:00Z", "2026-12-05T25:00Z", "2026-12-05T11:60Z",
    "2026-12-05T11:54:59+25:00", "2026-12-05T11:54:59+01", "2026-12-05T11:54:59.Z",
    "0000-01-01T00:00:00Z", "10m\n5s", "x" * 100, "1" * 65, "١٢", "²",
])
def test_a_bad_time_is_one_clear_line(bad: str) -> None:
    with pytest.raises(InvalidSpec, match="invalid time") as caught:
        parse_since(bad, NOW)
    assert "\n" not in str(caught.value)


@given(st.text(max_size=80), st.floats(0, 4e9))
def test_any_text_is_a_time_or_invalid(text: str, now: float) -> None:
    try:
        found = parse_since(text, now)
    except InvalidSpec as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(found, int)


@given(st.integers(0, 253_402_300_799 * NS))
def test_unix_and_utc_texts_read_back_exactly(time_ns: int) -> None:
    assert parse_since(unix_text(time_ns), NOW) == time_ns
    assert parse_since(utc_text(time_ns), NOW) == time_ns


def test_utc_text_is_rfc3339_with_nanoseconds() -> None:
    assert utc_text(T0) == "2026-12-05T11:54:59.143266302Z"
    assert unix_text(T0) == "1796471699.143266302"
    assert unix_text(-5) == "0.000000000"  # before the epoch: from the start


@given(st.integers(0, 10**4), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999))
def test_durations_add_up(hours: int, minutes: int, seconds: int, millis: int) -> None:
    text = f"{hours}h{minutes}m{seconds}s{millis}ms"
    ago = ((hours * 60 + minutes) * 60 + seconds) * NS + millis * 1_000_000
    assert parse_since(text, NOW) == NOW_NS - ago


# -- the record ------------------------------------------------------------------------------


def test_a_record_carries_text_or_base64() -> None:
    text = LogRecord(time="t", stream="stdout", data="hi\n", cursor="1.1")
    assert text.payload() == b"hi\n"
    raw = LogRecord(time="t", stream="stderr", data_b64=base64.b64encode(b"\xff\n").decode(),
                    cursor="1.2")
    assert raw.payload() == b"\xff\n"
    assert LogRecord.model_validate_json(raw.model_dump_json(exclude_none=True)) == raw
    assert "data" not in raw.model_dump(exclude_none=True)


@pytest.mark.parametrize("fields", [
    {}, {"data": "a", "data_b64": "YQ=="}, {"data": "a", "extra": 1},
    {"data": "a", "stream": "stdin"},
])
def test_a_record_has_exactly_one_payload(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        LogRecord.model_validate({"time": "t", "stream": "stdout", "cursor": "1.1", **fields})


def test_bad_base64_is_one_line() -> None:
    with pytest.raises(InvalidSpec, match="not base64"):
        LogRecord(time="t", stream="stdout", data_b64="%%%", cursor="1.1").payload()
