"""The process-stream WebSocket protocol, shared by the daemon and the client.

Server to client: binary frames of one stream tag byte (1 stdout, 2 stderr) and the data,
then one text frame `{"exit_code": N}` (init adds `"oom_killed"`), then a normal close.
Client to server: binary frames are stdin bytes; text frames are one control message each:
`{"eof": true}`, `{"resize": {"rows": R, "cols": C}}` or `{"signal": "INT"}`.
Errors close the connection with a 4xxx code (HTTP status + 4000) and a one-line reason.
"""

import enum
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from stockade.errors import Conflict, InvalidSpec, NotFound, StockadeError
from stockade.spec.validation import first_error
from stockade.wire.process import SignalName, Window

MAX_CONTROL_CHARS = 4096  # a control message is tiny; anything longer is not one
MAX_REASON_BYTES = 123  # RFC 6455: a close frame's reason fits in 123 bytes

CLOSE_NORMAL = 1000
CLOSE_INTERNAL = 1011
CLOSE_BAD_REQUEST = 4400  # a malformed frame or control message
CLOSE_NOT_FOUND = 4404  # no such container or process
CLOSE_CONFLICT = 4409  # another attacher holds stdin
CLOSE_GONE = 4410  # the process was forgotten (its container destroyed) before it ended


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


def encode_message(message: _Message) -> str:
    return message.model_dump_json(exclude_none=True)


def close_reason(text: str) -> str:
    """One line, cut to what a close frame can carry (whole UTF-8 characters)."""
    line = text.splitlines()[0] if text else ""
    return line.encode()[:MAX_REASON_BYTES].decode(errors="ignore")


def close_code_for(error: StockadeError) -> int:
    if isinstance(error, NotFound):
        return CLOSE_NOT_FOUND
    if isinstance(error, Conflict):
        return CLOSE_CONFLICT
    if isinstance(error, InvalidSpec):
        return CLOSE_BAD_REQUEST
    return CLOSE_INTERNAL


def error_for_close(code: int | None, reason: str) -> StockadeError:
    """The error a client raises when a stream ends without an exit message."""
    text = reason or f"the process stream closed (code {code})"
    kinds: dict[int | None, type[StockadeError]] = {
        CLOSE_NOT_FOUND: NotFound, CLOSE_CONFLICT: Conflict, CLOSE_BAD_REQUEST: InvalidSpec}
    return kinds.get(code, StockadeError)(text)
