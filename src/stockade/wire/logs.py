"""Container logs on the wire: one `LogRecord` per NDJSON line of `GET .../logs`, and the
time forms `--since` and `--until` accept (`parse_since`), kept here so the CLI refuses a
bad one before it asks the daemon. Pure: pydantic and the standard library only."""

import base64
import binascii
import calendar
import datetime
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from stockade.errors import InvalidSpec

StreamName = Literal["stdout", "stderr"]
STREAM_NAMES: tuple[StreamName, StreamName] = ("stdout", "stderr")

MAX_TIME_CHARS = 64  # the longest RFC 3339 form is 35; anything this long is not a time
_NS = 1_000_000_000

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"  # date
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"  # time, seconds, fraction
    r"(Z|z|[+-]\d{2}:\d{2})?",  # offset; none: local time, as docker reads it
    re.ASCII)
_UNIX = re.compile(r"(\d+)(?:\.(\d*))?", re.ASCII)
_DURATION_PART = re.compile(r"(\d+)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)", re.ASCII)
_UNIT_NS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 1_000_000, "s": _NS,
            "m": 60 * _NS, "h": 3600 * _NS}
_FORMS = "use an RFC 3339 time (2026-12-05T11:54:59Z), a unix time (1764935699.5) or a " \
         "duration ago (10m, 1h30m, 500ms)"


class LogRecord(BaseModel):
    """One record of a container's log: what one stream wrote, a line or part of one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time: str  # RFC 3339 with nanoseconds, as the monitor wrote it
    stream: StreamName
    data: str | None = None  # the payload (a newline ends a whole line) when valid UTF-8
    data_b64: str | None = None  # otherwise the payload in base64
    cursor: str  # resumes after this record (`after=`)

    @model_validator(mode="after")
    def _one_payload(self) -> "LogRecord":
        if (self.data is None) == (self.data_b64 is None):
            raise ValueError("a log record has exactly one of data and data_b64")
        return self

    def payload(self) -> bytes:
        """The bytes the container wrote."""
        if self.data is not None:
            return self.data.encode()
        try:
            return base64.b64decode(self.data_b64 or "", validate=True)
        except binascii.Error:
            raise InvalidSpec("a log record's data_b64 is not base64") from None


def _fraction_ns(digits: str | None) -> int:
    """Up to nine digits of a decimal fraction as nanoseconds; finer ones are dropped."""
    return int((digits or "0")[:9].ljust(9, "0"))


def _rfc3339(match: re.Match[str]) -> int:
    year, month, day, hour, minute, second = (int(g or 0) for g in match.groups()[:6])
    offset = match.group(8)
    # ValueError for a day or hour that does not exist; a leap second reads as :59
    moment = datetime.datetime(year, month, day, hour, minute, min(second, 59))
    if offset is None:  # local time, as docker reads a time without an offset
        seconds = int(moment.timestamp())
    else:
        seconds = calendar.timegm(moment.timetuple())
        if offset not in ("Z", "z"):
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError("offset out of range")
            sign = 1 if offset[0] == "+" else -1
            seconds -= sign * (hours * 3600 + minutes * 60)
    return (seconds + (second == 60)) * _NS + _fraction_ns(match.group(7))


def _duration_ns(text: str) -> int | None:
    """A Go duration (`1h30m`, `1.5s`, `500ms`) in nanoseconds, None if it is not one."""
    total, at = 0, 0
    while at < len(text):
        part = _DURATION_PART.match(text, at)
        if part is None:
            return None
        whole, fraction, unit = part.groups()
        scale = _UNIT_NS[unit]
        total += int(whole) * scale + int((fraction or "0")[:18].ljust(18, "0")) * scale // 10**18
        at = part.end()
    return total if text else None


def parse_since(text: str, now: float) -> int:
    """The moment `text` names, in nanoseconds since the epoch: an RFC 3339 time (with or
    without fraction and offset; without one it is local time), a unix time in seconds
    (`1764935699`, `1764935699.25`), or a duration (`10m`, `1h30m`, `45s`, `500ms`) meaning
    that long before `now` (seconds since the epoch). InvalidSpec, in one line, otherwise."""
    shown = repr(text[:MAX_TIME_CHARS])
    value = text.strip()
    if len(value) > MAX_TIME_CHARS:
        raise InvalidSpec(f"invalid time {shown}: {_FORMS}")
    try:
        if (match := _RFC3339.fullmatch(value)) is not None:
            return _rfc3339(match)
        if (match := _UNIX.fullmatch(value)) is not None:
            return int(match.group(1)) * _NS + _fraction_ns(match.group(2))
        ago = _duration_ns(value)
    except (ValueError, OverflowError, OSError):  # a date that does not exist
        raise InvalidSpec(f"invalid time {shown}: no such date or time") from None
    if ago is None:
        raise InvalidSpec(f"invalid time {shown}: {_FORMS}")
    return round(now * _NS) - ago


def unix_text(time_ns: int) -> str:
    """A moment as the unix time `parse_since` reads back exactly (`1764935699.143266302`);
    the CLI sends this, so a duration is measured on the client's clock, as docker does."""
    seconds, ns = divmod(max(time_ns, 0), _NS)
    return f"{seconds}.{ns:09d}"


def utc_text(time_ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds, as `logs -t` prints a record's time."""
    seconds, ns = divmod(time_ns, _NS)
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ns:09d}Z"
