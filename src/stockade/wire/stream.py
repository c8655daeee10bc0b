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
"""

import enum
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stockade.errors import WIRE_KINDS, InvalidSpec, StockadeError
from stockade.spec.validation import first_error
from stockade.wire.process import SignalName, Window

MAX_CONTROL_CHARS = 4096  # a control message is tiny; anything longer is not one
MAX_REASON_BYTES = 123  # RFC 6455: a close frame's reason fits in 123 bytes

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


def encode_output(stream: Stream, data: bytes) -> bytes:
    return bytes([stream]) + data


def decode_output(frame: bytes) -> tuple[Stream, bytes]:
    if not frame:
        raise ProtocolError("an output frame needs a stream tag")
    try:
        return Stream(frame[0]), frame[1:]
    except ValueError:
        raise ProtocolError(f"unknown stream tag {frame[0]}") from None


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Control(_Message):
    """One client request besides stdin data; exactly one field is set."""

    eof: Literal[True] | None = None
    resize: Window | None = None
    signal: SignalName | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "Control":
        given = [name for name in ("eof", "resize", "signal") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("a control message has exactly one of eof, resize, signal")
        return self


class ExitMessage(_Message):
    exit_code: int
    oom_killed: bool | None = None


class CursorMessage(_Message):
    """Where the output sent so far ends, for a later `?after=`."""

    cursor: str = Field(max_length=64)


def _parse(model: type[_Message], text: str | bytes) -> _Message:
    if len(text) > MAX_CONTROL_CHARS:
        raise ProtocolError(f"a text message is at most {MAX_CONTROL_CHARS} characters")
    try:
        return model.model_validate(json.loads(text))
    except (ValueError, RecursionError) as exc:  # JSON (even deeply nested) and pydantic
        raise ProtocolError(f"malformed message: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return first_error(exc.errors())
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def parse_control(text: str | bytes) -> Control:
    message = _parse(Control, text)
    assert isinstance(message, Control)
    return message


def parse_exit(text: str | bytes) -> ExitMessage:
    message = _parse(ExitMessage, text)
    assert isinstance(message, ExitMessage)
    return message


def parse_server_message(text: str | bytes) -> ExitMessage | CursorMessage:
    """A text frame from the daemon: a cursor, or the exit message."""
    if len(text) > MAX_CONTROL_CHARS:
        raise ProtocolError(f"a text message is at most {MAX_CONTROL_CHARS} characters")
    try:
        data = json.loads(text)
        if isinstance(data, dict) and "cursor" in data:
            return CursorMessage.model_validate(data)
        return ExitMessage.model_validate(data)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"malformed message: {_first_line(exc)}") from None


def encode_message(message: _Message) -> str:
    return message.model_dump_json(exclude_none=True)


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
