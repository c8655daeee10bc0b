"""One audit record: its fields, its canonical bytes and its hash."""

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

GENESIS = "0" * 64  # the `prev` of record 0; no record hashes to it
MAX_LINE_BYTES = 256 * 1024  # one record's line; bounds what append and verify hold per line
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
DAMAGE_ACTION = "audit-damaged"  # reserved: the note an append writes when it finds damage
_REASON_CHARS = 160  # parse errors quote attacker-controlled text; keep messages readable

AuditKind = Literal["api", "security", "lifecycle"]
Hex256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Text = Annotated[str, Field(min_length=1)]


def canonical(value: Any) -> bytes:
    """Sorted keys, no spaces, ASCII only: exactly one byte string per value, so hashes and
    lines can be recomputed and compared byte for byte."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


def utc_now() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


def plain_json(details: dict[str, Any]) -> dict[str, Any]:
    """`details` as it will read back from the file (tuples become lists, and so on)."""
    try:
        value = json.loads(canonical(details))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"audit details must be plain JSON data: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError("audit details must be a JSON object")
    return value


class AuditRecord(BaseModel):
    """`hash` covers every other field; `prev` is the previous record's `hash`."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    seq: int = Field(ge=0)
    time: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
    kind: AuditKind
    action: Text
    actor: Text
    target: str
    result: Text
    details: dict[str, Any]
    prev: Hex256
    hash: Hex256

    @field_validator("time")
    @classmethod
    def _real_instant(cls, value: str) -> str:
        datetime.fromisoformat(value)  # the pattern fixes the shape; this rejects month 13
        return value

    @classmethod
    def build(cls, body: dict[str, Any]) -> "AuditRecord":
        """A new record from every field but `hash`; ValueError if invalid or too large."""
        record = cls.model_validate({**body, "hash": digest(body)})
        size = len(record.line())
        if size > MAX_LINE_BYTES:
            raise ValueError(f"audit record too large: {size} bytes (limit {MAX_LINE_BYTES})")
        return record

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude={"hash"})

    def hash_matches(self) -> bool:
        return digest(self.body()) == self.hash

    def line(self) -> bytes:
        return canonical(self.model_dump()) + b"\n"


def parse_line(raw: bytes) -> AuditRecord:
    """The record on one line (without its newline); ValueError says why it is not one."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ValueError(short(f"not JSON ({exc})")) from exc
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    try:
        return AuditRecord.model_validate(data)
    except ValidationError as exc:
        raise ValueError(describe(exc)) from exc


def describe(exc: ValidationError) -> str:
    """The first complaint, short: the input may be anything an attacker wrote."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "value"
    return short(f"{where}: {first['msg']}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def short(text: str) -> str:
    return text if len(text) <= _REASON_CHARS else text[:_REASON_CHARS] + "..."
