"""The process-stream WebSocket protocol, shared by the daemon and the client.

Server to client: binary frames of one stream tag byte (1 stdout, 2 stderr) and the data;
after each batch a text frame `{"cursor": C}` (attach again with `?after=C` to go on from
there: the daemon restarted); at the end one text frame `{"exit_code": N}` (init adds
`"oom_killed"`), then a normal close.
Client to server: binary frames are stdin bytes; text frames are one control message each:
`{"eof": true}`, `{"resize": {"rows": R, "cols": C}}` or `{"signal": "INT"}`.
Errors close the connection with a 4xxx code (the error's HTTP status in
`errors.WIRE_KINDS` + 4000) and a one-line reason; 4410 says the process is gone without an
exit code, 1001 that the daemon is stopping (attach again).

The messages are checked by hand here, not with pydantic models: the CLI speaks this
protocol on every foreground `run`, and loading pydantic costs more than the CLI's whole
budget for that command (issue 18: 40 ms; docs/performance.md, section 7). There are three
messages of one or two fields each, so the checks are short and unit-tested with
hypothesis (tests/unit/test_wsproto.py).
"""

import enum
import json
from typing import Any, NamedTuple

from stockade.errors import WIRE_KINDS, InvalidSpec, StockadeError

MAX_CONTROL_CHARS = 4096  # a control message is tiny; anything longer is not one
MAX_REASON_BYTES = 123  # RFC 6455: a close frame's reason fits in 123 bytes
MAX_CURSOR_CHARS = 64
MAX_WINDOW = 65535  # a terminal's rows and columns are 16-bit (struct winsize)

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # the daemon is stopping: attach again (with the last cursor)
CLOSE_INTERNAL = 1011
_CLOSE_BASE = 4000  # + the HTTP status of the error's kind (errors.WIRE_KINDS)
_CLOSE_STATUS = {cls: _CLOSE_BASE + status for cls, _, status in WIRE_KINDS}
CLOSE_BAD_REQUEST = _CLOSE_STATUS[InvalidSpec]  # a malformed frame or control message
CLOSE_NOT_FOUND = _CLOSE_STATUS[next(c for c, kind, _ in WIRE_KINDS if kind == "not_found")]
CLOSE_CONFLICT = _CLOSE_STATUS[next(c for c, kind, _ in WIRE_KINDS if kind == "conflict")]
CLOSE_GONE = _CLOSE_BASE + 410  # destroyed, or its monitor lost: there is no exit code


class ProtocolError(InvalidSpec):
    """A frame or message that breaks the protocol."""


class Stream(enum.IntEnum):
    STDOUT = 1
    STDERR = 2


class Size(NamedTuple):
    """A terminal's size in character cells."""

    rows: int
    cols: int


class Control(NamedTuple):
    """One client request besides stdin data; exactly one field is set."""

    eof: bool = False
    resize: Size | None = None
    signal: str | None = None


class ExitMessage(NamedTuple):
    exit_code: int
    oom_killed: bool | None = None


class CursorMessage(NamedTuple):
    """Where the output sent so far ends, for a later `?after=`."""

    cursor: str


def encode_output(stream: Stream, data: bytes) -> bytes:
    return bytes([stream]) + data


def decode_output(frame: bytes) -> tuple[Stream, bytes]:
    if not frame:
        raise ProtocolError("an output frame needs a stream tag")
    try:
        return Stream(frame[0]), frame[1:]
    except ValueError:
        raise ProtocolError(f"unknown stream tag {frame[0]}") from None


def _malformed(message: str) -> ProtocolError:
    return ProtocolError(f"malformed message: {message}")


def _load(text: str | bytes) -> dict[str, Any]:
    if len(text) > MAX_CONTROL_CHARS:
        raise ProtocolError(f"a text message is at most {MAX_CONTROL_CHARS} characters")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSON, even deeply nested
        raise _malformed(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) \
            from None
    if not isinstance(data, dict):
        raise _malformed("a message is a dictionary (a JSON object)")
    return data


def _integer(value: object, where: str, low: int, high: int) -> int:
    # bool is an int in Python, but `true` is not a number in JSON
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _malformed(f"{where}: an integer from {low} to {high}")
    return value


def parse_control(text: str | bytes) -> Control:
    data = _load(text)
    for name in data:
        if name not in Control._fields:
            raise _malformed(f"{name}: not a field of a control message")
    if len(data) != 1:
        raise _malformed("a control message has exactly one of eof, resize, signal")
    [(name, value)] = data.items()
    if name == "eof":
        if value is not True:
            raise _malformed("eof: must be true")
        return Control(eof=True)
    if name == "signal":
        if not isinstance(value, str):
            raise _malformed("signal: a signal's name")
        from stockade.wire.signals import signal_name  # the daemon's side only

        try:
            return Control(signal=signal_name(value))
        except ValueError as exc:
            raise _malformed(f"signal: {exc}") from None
    if not isinstance(value, dict):
        raise _malformed("resize: a dictionary of rows and cols")
    for field in value:
        if field not in Size._fields:
            raise _malformed(f"resize.{field}: not a field of a size")
    rows, cols = (_integer(value.get(field), f"resize.{field}", 1, MAX_WINDOW)
                  for field in Size._fields)
    return Control(resize=Size(rows, cols))


def _exit(data: dict[str, Any]) -> ExitMessage:
    for name in data:
        if name not in ExitMessage._fields:
            raise _malformed(f"{name}: not a field of an exit message")
    code = _integer(data.get("exit_code"), "exit_code", -(1 << 31), (1 << 31) - 1)
    oom = data.get("oom_killed")
    if oom is not None and not isinstance(oom, bool):
        raise _malformed("oom_killed: true or false")
    return ExitMessage(code, oom)


def parse_exit(text: str | bytes) -> ExitMessage:
    return _exit(_load(text))


def parse_server_message(text: str | bytes) -> ExitMessage | CursorMessage:
    """A text frame from the daemon: a cursor, or the exit message."""
    data = _load(text)
    if "cursor" not in data:
        return _exit(data)
    cursor = data["cursor"]
    if len(data) != 1 or not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_CHARS:
        raise _malformed(f"a cursor message is {{\"cursor\": C}}, C at most "
                         f"{MAX_CURSOR_CHARS} characters")
    return CursorMessage(cursor)


def encode_message(message: Control | ExitMessage | CursorMessage) -> str:
    """The message as JSON, without its unset fields."""
    fields: dict[str, object] = {}
    for name, value in message._asdict().items():
        if value is None or (value is False and name == "eof"):
            continue
        fields[name] = value._asdict() if isinstance(value, Size) else value
    return json.dumps(fields, separators=(",", ":"))


def close_reason(text: str) -> str:
    """One line, cut to what a close frame can carry (whole UTF-8 characters)."""
    line = text.splitlines()[0] if text else ""
    return line.encode()[:MAX_REASON_BYTES].decode(errors="ignore")


def close_code_for(error: StockadeError) -> int:
    for cls, _, status in WIRE_KINDS:
        if isinstance(error, cls):
            return _CLOSE_BASE + status
    return CLOSE_INTERNAL


def error_for_close(code: int | None, reason: str) -> StockadeError:
    """The error a client raises when a stream ends without an exit message."""
    text = reason or f"the process stream closed (code {code})"
    for cls, _, status in WIRE_KINDS:
        if code == _CLOSE_BASE + status:
            return cls(text)
    return StockadeError(text)
