"""`stockade logs`: its flags read into the client's arguments, and the records written out
as the container wrote them (stdout records to stdout, stderr records to stderr)."""

import os
import sys
import time
from argparse import Namespace
from typing import TYPE_CHECKING, BinaryIO

from stockade.cli import session
from stockade.errors import InvalidSpec

if TYPE_CHECKING:
    from stockade.wire.logs import LogRecord


def tail_count(text: str) -> int | None:
    """`--tail`: a number of records, or `all` (None)."""
    if text.strip().lower() == "all":
        return None
    if not text.strip().isdigit():
        raise InvalidSpec(f"invalid --tail {text[:40]!r}: a number of lines, or all")
    return int(text)


def moment(flag: str, text: str | None, now: float | None = None) -> str | None:
    """`--since`/`--until` as the unix time the daemon is sent: a duration is measured on
    this machine's clock, as docker does; InvalidSpec in one line for a bad one."""
    if text is None:
        return None
    from stockade.wire.logs import parse_since, unix_text

    try:
        return unix_text(parse_since(text, time.time() if now is None else now))
    except InvalidSpec as exc:
        raise InvalidSpec(f"{flag}: {exc}") from None


class Printer:
    """Writes records' bytes to two binary files; with `timestamps` each line begins with
    its record's time (RFC 3339, UTC, nanoseconds) and a space, as `docker logs -t` does."""

    def __init__(self, out: BinaryIO, err: BinaryIO, timestamps: bool = False) -> None:
        self._files = {"stdout": out, "stderr": err}
        self._line_start = {"stdout": True, "stderr": True}
        self._timestamps = timestamps
        self._last: str | None = None

    def write(self, record: "LogRecord") -> None:
        if self._last is not None and self._last != record.stream:
            self._files[self._last].flush()  # one terminal shows both in the order written
        self._last = record.stream
        data = record.payload()
        file = self._files[record.stream]
        if self._timestamps and self._line_start[record.stream]:
            file.write(_stamp(record.time).encode() + b" ")
        file.write(data)
        if data:
            self._line_start[record.stream] = data.endswith(b"\n")

    def flush(self) -> None:
        for file in self._files.values():
            file.flush()


def _stamp(written: str) -> str:
    from stockade.wire.logs import parse_since, utc_text

    try:
        return utc_text(parse_since(written, 0))
    except InvalidSpec:
        return written


def logs(args: Namespace) -> int:
    """`stockade logs`: the records to stdout and stderr as written; 130 on ^C, 141 when
    the reader goes away (`logs | head`)."""
    count = tail_count(args.tail)
    begin, end = moment("--since", args.since), moment("--until", args.until)
    printer = Printer(sys.stdout.buffer, sys.stderr.buffer, args.timestamps)
    batches = session.open_client(args.options).log_batches(
        args.handle, follow=args.follow, tail=count, since=begin, until=end,
        stdout=args.stdout or not args.stderr, stderr=args.stderr or not args.stdout)
    try:
        for batch in batches:
            for record in batch:
                printer.write(record)
            printer.flush()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 141
    return 0
