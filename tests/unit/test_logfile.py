"""conmon's k8s-file log: the parser, cursors, reading (tail, since, until, after, streams)
across rotated files in bounded memory, following across rotation and truncation, and
rotation itself. A scripted `Conmon` writes the files the way conmon does."""

import datetime
import os
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TypeVar
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.errors import InvalidSpec
from stockade.runtime import logfile
from stockade.runtime.logfile import (
    Cursor,
    Follower,
    LogFiles,
    Record,
    last_cursor,
    parse_line,
    read,
    read_with_cursors,
)
from stockade.wire.stream import Stream

T = TypeVar("T")
NS = 1_000_000_000
T0 = 1_796_471_699_143_266_302  # 2026-12-05T11:54:59.143266302Z
OUT, ERR = Stream.STDOUT, Stream.STDERR
_NAMES = {OUT: "stdout", ERR: "stderr"}
_FUZZ = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def stamp(time_ns: int, offset_minutes: int = 0, digits: int = 9) -> str:
    """RFC 3339 as conmon writes it: nanoseconds and a numeric offset."""
    seconds, ns = divmod(time_ns, NS)
    zone = datetime.timezone(datetime.timedelta(minutes=offset_minutes))
    moment = datetime.datetime.fromtimestamp(seconds, zone)
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    fraction = f".{ns:09d}"[:digits + 1] if digits else ""
    return f"{moment:%Y-%m-%dT%H:%M:%S}{fraction}{sign}{hours:02d}:{minutes:02d}"


def record(time_ns: int, data: bytes = b"", stream: Stream = OUT,
           partial: bool = False) -> Record:
    return Record(time_ns, stamp(time_ns), stream, partial, data)


def line(item: Record) -> bytes:
    return f"{item.time} {_NAMES[item.stream]} {'P' if item.partial else 'F'} ".encode() + \
        item.data + b"\n"


def write(path: Path, *items: Record | bytes) -> None:
    """Records, or raw bytes (malformed lines, a half-written one), appended."""
    with path.open("ab") as out:
        for item in items:
            out.write(item if isinstance(item, bytes) else line(item))


class Conmon:
    """Appends records to the live file through one open file, as conmon does; `reopen`
    opens the live name again (after a rotation), `truncate` renames a new empty file over
    the live one (conmon's --log-size-max)."""

    def __init__(self, files: LogFiles) -> None:
        self.files = files
        self.file = files.path.open("ab", buffering=0)
        self.time = T0

    def write(self, data: bytes, stream: Stream = OUT, partial: bool = False,
              same_time: bool = False) -> Record:
        self.time += 0 if same_time else 1000
        made = record(self.time, data, stream, partial)
        self.file.write(line(made))
        return made

    def reopen(self) -> bool:
        self.file.close()
        self.file = self.files.path.open("ab", buffering=0)
        return True

    def truncate(self) -> None:
        fresh = self.files.path.with_name("ctr.log.tmp")
        new = fresh.open("ab", buffering=0)
        os.rename(fresh, self.files.path)
        self.file.close()
        self.file = new

    def close(self) -> None:
        self.file.close()


@pytest.fixture
def files(tmp_path: Path) -> LogFiles:
    return LogFiles(tmp_path / "ctr.log", 3)


@pytest.fixture
def conmon(files: LogFiles) -> Iterator[Conmon]:
    writer = Conmon(files)
    yield writer
    writer.close()


# -- the format ------------------------------------------------------------------------------

_DATA = st.binary(max_size=200).map(lambda data: data.replace(b"\n", b""))
_TIMES = st.integers(2 * 86400 * NS, 253_402_000_000 * NS)  # 1970-01-03 .. 9999-12-29


@_FUZZ
@given(time_ns=_TIMES, data=_DATA, stream=st.sampled_from(Stream), partial=st.booleans(),
       offset=st.integers(-(23 * 60 + 59), 23 * 60 + 59), newline=st.booleans())
def test_a_record_round_trips(time_ns: int, data: bytes, stream: Stream, partial: bool,
                              offset: int, newline: bool) -> None:
    made = Record(time_ns, stamp(time_ns, offset), stream, partial, data)
    text = line(made)
    assert parse_line(text if newline else text[:-1]) == made
    assert made.payload() == data + (b"" if partial else b"\n")


@pytest.mark.parametrize(("written", "time_ns"), [
    ("2026-12-05T11:54:59.143266302+00:00", T0),
    ("2026-12-05T11:54:59.143266302Z", T0),
    ("2026-12-05T12:54:59.143266302+01:00", T0),
    ("2026-12-05T11:24:59.143266302-00:30", T0),
    ("2026-12-05T11:54:59.5+00:00", T0 - 143_266_302 + 500_000_000),
    ("2026-12-05T11:54:59+00:00", T0 - 143_266_302),
    ("1970-01-01T00:00:00Z", 0),
    ("2016-12-31T23:59:60Z", 1_483_228_800 * NS),  # a leap second reads as the next one
])
def test_timestamps(written: str, time_ns: int) -> None:
    found = parse_line(f"{written} stderr F x".encode())
    assert found == Record(time_ns, written, ERR, False, b"x")


def test_data_keeps_spaces_and_bytes_and_may_be_empty() -> None:
    found = parse_line(b"2026-12-05T11:54:59.143266302+00:00 stdout P  a  b \xff\r\n")
    assert found is not None and found.data == b" a  b \xff\r" and found.partial
    empty = parse_line(b"2026-12-05T11:54:59.143266302+00:00 stdout F \n")
    assert empty is not None and empty.data == b"" and empty.payload() == b"\n"


@pytest.mark.parametrize("bad", [
    b"", b"\n", b"garbage", b"2026-12-05T11:54:59.1+00:00 stdout F",  # no separator
    b"2026-12-05T11:54:59.1+00:00 stdin F x", b"2026-12-05T11:54:59.1+00:00 stdout X x",
    b"2026-12-05T11:54:59.1+00:00 stdout FP x", b"2026-12-05 11:54:59.1+00:00 stdout F x",
    b"2026-12-05T11:54:59.1 stdout F x", b"2026-13-05T11:54:59.1Z stdout F x",
    b"2026-02-30T11:54:59.1Z stdout F x", b"2026-12-05T24:00:00Z stdout F x",
    b"2026-12-05T11:54:59.1234567890Z stdout F x", b"2026-12-05T11:54:59.1+24:00 stdout F x",
    b"2026-12-05T11:54:59.1+00:00 stdout F a\nb", b"\xff\xfe stdout F x",
    b"0000-01-01T00:00:00Z stdout F x", b"2026-12-05T11:54:59.+00:00 stdout F x",
])
def test_a_malformed_line_is_none(bad: bytes) -> None:
    assert parse_line(bad) is None


@_FUZZ
@given(st.binary(max_size=120) | st.builds(
    lambda head, tail: head + b" stdout F " + tail,
    st.sampled_from([b"2026-12-05T11:54:59.1+00:00", b"2026-12-05T11:54:59Z"]),
    st.binary(max_size=40)))
def test_the_parser_never_raises(text: bytes) -> None:
    found = parse_line(text)
    assert found is None or b"\n" not in found.data


def test_partial_records_join_into_one_line(files: LogFiles) -> None:
    write(files.path, record(T0, b"ab", partial=True), record(T0, b"cd", ERR),
          record(T0 + 1, b"ef", partial=True), record(T0 + 2, b"g"))
    out = b"".join(item.payload() for item in read(files, streams=frozenset({OUT})))
    assert out == b"abefg\n"


# -- cursors ---------------------------------------------------------------------------------


@given(time_ns=st.integers(0, 10**20 - 1), seen=st.integers(1, 10**9 - 1))
def test_a_cursor_round_trips(time_ns: int, seen: int) -> None:
    cursor = Cursor(time_ns, seen)
    assert Cursor.decode(cursor.encode()) == cursor
    assert Cursor(1764935699143266302, 2).encode() == "1764935699143266302.2"


@given(st.text(max_size=60))
def test_decoding_any_text_is_a_cursor_or_one_clear_line(text: str) -> None:
    try:
        cursor = Cursor.decode(text)
    except InvalidSpec as exc:
        assert "\n" not in str(exc) and "cursor" in str(exc)
    else:
        assert cursor.seen >= 1 and Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("bad", ["", "1", "1.", ".1", "1.0", "-1.1", "1.1.1", "a.b", "1 .1",
                                 "1" * 41 + ".1", "1.1\n"])
def test_a_bad_cursor_is_refused(bad: str) -> None:
    with pytest.raises(InvalidSpec, match="invalid cursor"):
        Cursor.decode(bad)


# -- reading across rotated files ------------------------------------------------------------

# Three files; equal timestamps (one read of conmon's) run across both file boundaries.
_LOG = [record(T0, b"a1"), record(T0 + 5, b"a2", ERR), record(T0 + 5, b"a3"),
        record(T0 + 5, b"b1", ERR), record(T0 + 9, b"b2", partial=True),
        record(T0 + 9, b"b3"), record(T0 + 20, b"b4", ERR),
        record(T0 + 20, b"c1"), record(T0 + 30, b"c2", ERR), record(T0 + 31, b"c3")]
# the cursor after each record of _LOG: (time, place in its run of equal times)
_CURSORS = [Cursor(T0, 1), Cursor(T0 + 5, 1), Cursor(T0 + 5, 2), Cursor(T0 + 5, 3),
            Cursor(T0 + 9, 1), Cursor(T0 + 9, 2), Cursor(T0 + 20, 1), Cursor(T0 + 20, 2),
            Cursor(T0 + 30, 1), Cursor(T0 + 31, 1)]


@pytest.fixture
def three(files: LogFiles) -> LogFiles:
    write(files.rotated(2), *_LOG[:3])
    write(files.rotated(1), _LOG[3], b"not a record\n", *_LOG[4:7], b"\n")
    write(files.path, *_LOG[7:], b"2026-12-05T11:54:59.9Z stdout F still being wri")
    return files


def _only(*streams: Stream) -> list[Record]:
    return [item for item in _LOG if item.stream in streams]


def test_paths_are_oldest_first_with_the_live_file_last(three: LogFiles) -> None:
    assert [path.name for path in three.paths()] == ["ctr.log.2", "ctr.log.1", "ctr.log"]
    assert three.total_bytes() == sum(path.stat().st_size for path in three.paths())
    three.rotated(2).unlink()
    assert [path.name for path in three.paths()] == ["ctr.log.1", "ctr.log"]


def test_read_everything_in_order_skipping_malformed_and_unfinished_lines(
        three: LogFiles) -> None:
    assert list(read(three)) == _LOG
    assert [cursor for _, cursor in read_with_cursors(three)] == _CURSORS
    assert last_cursor(three) == _CURSORS[-1]


@pytest.mark.parametrize("tail", [0, 1, 2, 4, 7, 10, 11, 1000])
def test_tail(three: LogFiles, tail: int) -> None:
    assert list(read(three, tail=tail)) == (_LOG[-tail:] if tail else [])
    found = list(read_with_cursors(three, tail=tail, streams=frozenset({ERR})))
    assert [item for item, _ in found] == (_only(ERR)[-tail:] if tail else [])
    assert [cursor for _, cursor in found] == [
        _CURSORS[_LOG.index(item)] for item, _ in found]  # counted as in a whole read


def test_since_and_until_take_both_ends(three: LogFiles) -> None:
    assert list(read(three, since_ns=T0 + 9)) == _LOG[4:]
    assert list(read(three, until_ns=T0 + 9)) == _LOG[:6]
    assert list(read(three, since_ns=T0 + 5, until_ns=T0 + 20, tail=3,
                     streams=frozenset({OUT}))) == [_LOG[4], _LOG[5], _LOG[7]]
    assert list(read(three, since_ns=T0 + 100)) == []


@pytest.mark.parametrize("index", range(len(_LOG)))
def test_after_each_cursor_comes_the_rest(three: LogFiles, index: int) -> None:
    assert list(read(three, after=_CURSORS[index])) == _LOG[index + 1:]
    assert list(read(three, after=_CURSORS[index], tail=2)) == _LOG[index + 1:][-2:]
    assert list(read(three, after=_CURSORS[index], streams=frozenset({OUT}))) == [
        item for item in _LOG[index + 1:] if item.stream is OUT]
    with Follower(three, _CURSORS[index]) as follower:
        assert follower.poll() == _LOG[index + 1:]


def test_a_cursor_older_or_newer_than_everything(three: LogFiles) -> None:
    assert list(read(three, after=Cursor(T0 - 1, 1))) == _LOG
    assert list(read(three, after=Cursor(T0 + 1000, 1))) == []
    assert list(read(three, after=Cursor(T0 + 5, 9))) == _LOG[4:]  # a longer run than kept


def test_an_empty_log(files: LogFiles) -> None:
    assert list(read(files)) == [] and list(read(files, tail=3)) == []
    assert last_cursor(files) is None
    assert list(read(files, after=Cursor(T0, 1))) == []


@contextmanager
def _small_blocks(block: int, max_line: int) -> Iterator[None]:
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(logfile, "BLOCK", block))
        stack.enter_context(mock.patch.object(logfile, "MAX_LINE", max_line))
        yield


_ITEMS = st.lists(st.one_of(
    st.tuples(st.sampled_from([0, 0, 1, 1000]), st.sampled_from(Stream), st.booleans(),
              st.binary(max_size=30).map(lambda data: data.replace(b"\n", b"."))),
    st.sampled_from([b"junk\n", b"\n", b"x" * 150 + b"\n"])),  # malformed, overlong
    max_size=40)


@_FUZZ
@given(items=_ITEMS, cuts=st.lists(st.integers(0, 40), min_size=2, max_size=2),
       unfinished=st.booleans(), block=st.integers(1, 80), data=st.data())
def test_reading_agrees_with_the_records_written(
        items: list[tuple[int, Stream, bool, bytes] | bytes], cuts: list[int],
        unfinished: bool, block: int, data: st.DataObject) -> None:
    """Any log split over three files, read in tiny blocks: every reader returns exactly
    the records written (an overlong or malformed line skipped), tail counts from the end,
    and each record's cursor resumes right after it."""
    written: list[bytes] = []
    expected: list[Record] = []
    time_ns = T0
    for item in items:
        if isinstance(item, bytes):
            written.append(item)
            continue
        step, stream, partial, payload = item
        time_ns += step
        made = record(time_ns, payload, stream, partial)
        written.append(line(made))
        expected.append(made)
    first, second = sorted(min(cut, len(written)) for cut in cuts)
    with tempfile.TemporaryDirectory() as directory, _small_blocks(block, 100):
        files = LogFiles(Path(directory) / "ctr.log", 3)
        write(files.rotated(2), *written[:first])
        write(files.rotated(1), *written[first:second])
        write(files.path, *written[second:], *([b"2026-12-05T11:54:59Z stdout F no"]
                                               if unfinished else []))
        found = list(read_with_cursors(files))
        assert [item for item, _ in found] == expected
        tail = data.draw(st.integers(0, len(expected) + 1))
        streams = data.draw(st.sampled_from([frozenset(Stream), frozenset({OUT})]))
        assert list(read(files, tail=tail, streams=streams)) == (
            [item for item in expected if item.stream in streams][-tail:] if tail else [])
        if expected:
            index = data.draw(st.integers(0, len(expected) - 1))
            after = found[index][1]
            assert list(read(files, after=after)) == expected[index + 1:]
            with Follower(files, after) as follower:
                assert follower.poll(1 << 20) == expected[index + 1:]
        with Follower(files) as follower:
            assert follower.poll(1 << 20) == expected


# -- bounded memory --------------------------------------------------------------------------


def _many_records(directory: Path, per_file: int) -> LogFiles:
    """Two files of 200-byte stdout records numbered from 0, in runs of 100 equal times."""
    files = LogFiles(directory / "ctr.log", 2)
    payload = b"x" * 150
    for path, first in ((files.rotated(1), 0), (files.path, per_file)):
        with path.open("wb") as out:
            for start in range(first, first + per_file, 100):
                head = f"{stamp(T0 + start)} stdout F ".encode()
                out.write(b"".join(head + payload + b"%06d\n" % (start + k)
                                   for k in range(100)))
    return files


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> LogFiles:
    files = _many_records(tmp_path_factory.mktemp("big"), 80_000)
    assert files.total_bytes() > 30 << 20
    return files


@pytest.fixture(scope="module")
def medium_log(tmp_path_factory: pytest.TempPathFactory) -> LogFiles:
    """Twice what a whole scan may hold at its peak (tracemalloc makes a scan slow)."""
    files = _many_records(tmp_path_factory.mktemp("medium"), 22_000)
    assert files.total_bytes() > 8 << 20
    return files


def _peak(work: Callable[[], T]) -> tuple[T, int]:
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_tail_of_a_large_log_reads_little(big_log: LogFiles) -> None:
    found, peak = _peak(lambda: list(read(big_log, tail=5)))
    assert [item.data[-6:] for item in found] == [b"%06d" % n for n in range(159_995, 160_000)]
    assert peak < 1 << 20, peak
    after = Cursor(T0 + 159_900, 97)  # the 97th of the last run
    found, peak = _peak(lambda: list(read(big_log, after=after)))
    assert [item.data[-6:] for item in found] == [b"159997", b"159998", b"159999"]
    assert peak < 1 << 20, peak


def test_a_whole_read_and_a_long_tail_stay_bounded(medium_log: LogFiles) -> None:
    count, peak = _peak(lambda: sum(1 for _ in read(medium_log, tail=30_000)))
    assert count == 30_000 and peak < 4 << 20, peak
    last, peak = _peak(lambda: max(item.data for item in read(medium_log)))
    assert last.endswith(b"043999") and peak < 4 << 20, peak


def test_a_follower_from_the_start_stays_bounded(medium_log: LogFiles) -> None:
    def drain() -> int:
        count = 0
        with Follower(medium_log) as follower:
            while not follower.caught_up or count == 0:
                count += len(follower.poll())
        return count

    count, peak = _peak(drain)
    assert count == 44_000 and peak < 4 << 20, peak


# -- following -------------------------------------------------------------------------------


def test_a_follower_holds_back_a_half_written_line(files: LogFiles, conmon: Conmon) -> None:
    first = conmon.write(b"one")
    with Follower(files) as follower:
        assert follower.poll() == [first] and follower.caught_up
        stamp_part = line(record(T0 + 5000, b"two"))
        conmon.file.write(stamp_part[:20])
        assert follower.poll() == []
        conmon.file.write(stamp_part[20:-3])
        assert follower.poll() == []
        conmon.file.write(stamp_part[-3:])
        assert follower.poll() == [record(T0 + 5000, b"two")]
        assert follower.cursor == Cursor(T0 + 5000, 1)


def test_from_the_end_only_what_comes_next(files: LogFiles, conmon: Conmon) -> None:
    conmon.write(b"old")
    conmon.write(b"older", ERR, same_time=True)
    with Follower(files, "end") as follower:
        assert follower.poll() == [] and follower.cursor is None
        new = conmon.write(b"new", same_time=True)
        assert follower.poll_with_cursors() == [(new, Cursor(conmon.time, 3))]


def test_from_the_start_the_rotated_files_come_first(three: LogFiles) -> None:
    with Follower(three) as follower:
        assert follower.poll() == _LOG
    with Follower(three, streams=frozenset({ERR})) as follower:
        assert follower.poll() == _only(ERR)
        assert follower.cursor == _CURSORS[8]


def test_a_follower_waits_for_the_first_file(files: LogFiles) -> None:
    with Follower(files, "end") as follower:
        assert follower.poll() == [] and follower.caught_up
        write(files.path, record(T0, b"hi"))
        assert follower.poll() == [record(T0, b"hi")]


def test_a_follower_follows_a_rotation(files: LogFiles, conmon: Conmon) -> None:
    """Between the rename and conmon's reopen, conmon still writes to the renamed file."""
    got: list[Record] = []
    sent = [conmon.write(b"r1"), conmon.write(b"r2")]
    with Follower(files) as follower:
        got += follower.poll()
        sent.append(conmon.write(b"r3"))

        def reopen() -> bool:
            nonlocal got
            sent.append(conmon.write(b"r4"))  # still the old file, now ctr.log.1
            got += follower.poll()
            assert follower.caught_up and not files.path.exists()
            return conmon.reopen()

        assert files.rotate(reopen)
        sent.append(conmon.write(b"r5"))
        got += follower.poll()
    assert got == sent
    assert [p.name for p in files.paths()] == ["ctr.log.1", "ctr.log"]
    assert list(read(files)) == sent


def test_a_follower_follows_two_rotations_between_polls(files: LogFiles,
                                                        conmon: Conmon) -> None:
    sent = [conmon.write(b"r1")]
    with Follower(files) as follower:
        assert follower.poll() == sent
        sent.append(conmon.write(b"r2"))
        files.rotate(conmon.reopen)
        sent.append(conmon.write(b"r3"))
        files.rotate(conmon.reopen)
        sent.append(conmon.write(b"r4"))
        assert follower.poll() == sent[1:]
        files.rotate(conmon.reopen)  # ctr.log.2 (r1, r2) dropped
        sent.append(conmon.write(b"r5"))
        assert follower.poll() == sent[4:]
    assert list(read(files)) == sent[2:]


def test_a_follower_follows_conmons_truncation(files: LogFiles, conmon: Conmon) -> None:
    """conmon renames a new empty file over the live one: what the old one got before is
    drained, then the new one is read from its start."""
    sent = [conmon.write(b"r1")]
    with Follower(files) as follower:
        assert follower.poll() == sent
        sent.append(conmon.write(b"r2"))
        conmon.truncate()
        sent.append(conmon.write(b"r3"))
        assert follower.poll() == sent[1:]
        sent.append(conmon.write(b"r4"))
        assert follower.poll() == sent[3:]
    assert list(read(files)) == sent[2:]


def test_a_follower_reads_a_file_truncated_in_place_from_its_start(
        files: LogFiles, conmon: Conmon) -> None:
    conmon.write(b"long gone, and longer than what comes next")
    with Follower(files) as follower:
        follower.poll()
        os.truncate(files.path, 0)
        new = conmon.write(b"r2")
        assert follower.poll() == [new]


def test_resuming_across_a_rotation_inside_a_run_of_equal_times(
        files: LogFiles, conmon: Conmon) -> None:
    """A, B in ctr.log.1 and C, D in ctr.log carry one timestamp: B's cursor is the run's
    second, and C is the third, across the file boundary."""
    run = [conmon.write(b"A"), conmon.write(b"B", ERR, same_time=True)]
    files.rotate(conmon.reopen)
    run += [conmon.write(b"C", same_time=True), conmon.write(b"D", ERR, same_time=True)]
    cursors = [cursor for _, cursor in read_with_cursors(files)]
    assert cursors == [Cursor(conmon.time, n) for n in (1, 2, 3, 4)]
    for index, cursor in enumerate(cursors):
        assert list(read(files, after=cursor)) == run[index + 1:]
        assert list(read(files, after=cursor, tail=1)) == run[index + 1:][-1:]
        with Follower(files, cursor) as follower:
            assert follower.poll() == run[index + 1:]
    with Follower(files, cursors[1]) as follower:
        assert follower.poll() == run[2:]
        later = conmon.write(b"E", same_time=True)
        assert follower.poll_with_cursors() == [(later, Cursor(conmon.time, 5))]


def test_a_poll_reads_at_most_its_budget(files: LogFiles, conmon: Conmon) -> None:
    sent = [conmon.write(b"%03d" % n) for n in range(100)]
    got: list[Record] = []
    with Follower(files) as follower:
        polls = 0
        while not follower.caught_up or not got:
            got += follower.poll(max_bytes=500)
            polls += 1
    assert got == sent and polls > 5


def test_an_overlong_line_is_skipped_by_a_follower(files: LogFiles, conmon: Conmon) -> None:
    with _small_blocks(16, 100), Follower(files) as follower:
        conmon.write(b"y" * 300)
        assert follower.poll() == []
        kept = conmon.write(b"fits")
        assert follower.poll() == [kept]


# -- rotation --------------------------------------------------------------------------------


def test_rotate_drops_the_oldest_and_shifts_the_rest(three: LogFiles) -> None:
    before = {path.name: path.read_bytes() for path in three.paths()}
    calls: list[str] = []

    def reopen() -> bool:
        calls.append("reopen")
        assert not three.path.exists()  # renamed first, then the monitor is asked
        return True

    assert three.rotate(reopen)
    assert calls == ["reopen"]
    assert {path.name: path.read_bytes() for path in three.paths()} == {
        "ctr.log.2": before["ctr.log.1"], "ctr.log.1": before["ctr.log"]}


def test_rotate_with_one_file_replaces_the_live_one(tmp_path: Path) -> None:
    files = LogFiles(tmp_path / "ctr.log", 1)
    calls: list[str] = []

    def reopen() -> bool:
        calls.append("reopen")
        return False  # the monitor is gone: the rotation stands

    assert not files.rotate(reopen)  # no file yet
    write(files.path)
    assert not files.rotate(reopen)  # nothing in it
    write(files.path, record(T0, b"x"))
    inode = files.path.stat().st_ino
    assert files.rotate(reopen) and calls == ["reopen"]
    assert files.path.stat().st_size == 0 and files.path.stat().st_ino != inode
    assert [path.name for path in tmp_path.iterdir()] == ["ctr.log"]


def test_max_files_is_at_least_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one"):
        LogFiles(tmp_path / "ctr.log", 0)


def test_a_negative_tail_is_refused(files: LogFiles) -> None:
    with pytest.raises(ValueError, match="count"):
        list(read(files, tail=-1))
