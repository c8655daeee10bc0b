"""Build small audit logs and tamper with them the way an intruder with an editor would."""

import json
from pathlib import Path
from typing import Any

from stockade.audit import AuditLog, VerifyReport, verify_log
from stockade.audit.record import canonical, digest


def make_log(directory: Path, count: int) -> AuditLog:
    log = AuditLog(directory / "audit" / "audit.jsonl")
    for number in range(count):
        log.append(kind="api", action="create", actor=f"uid=0 pid={100 + number}",
                   target=f"c{number}", result="ok", details={"n": number})
    return log


def lines(log: AuditLog) -> list[bytes]:
    return log.path.read_bytes().splitlines(keepends=True)


def write(log: AuditLog, new: list[bytes]) -> None:
    log.path.write_bytes(b"".join(new))


def fields(line: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(line)
    return value


def encode(record: dict[str, Any]) -> bytes:
    """As the log writes it, so only the content differs from a genuine line."""
    return canonical(record) + b"\n"


def rehash(record: dict[str, Any]) -> dict[str, Any]:
    """What an intruder who knows the format does after an edit."""
    body = {key: value for key, value in record.items() if key != "hash"}
    return {**body, "hash": digest(body)}


def found(log: AuditLog, anchor: str | None = None) -> list[tuple[str, int | None]]:
    return [(p.kind, p.seq) for p in verify_log(log.path, anchor).problems]


def messages(report: VerifyReport) -> list[str]:
    return [p.message for p in report.problems]


def located(report: VerifyReport) -> list[tuple[str, int | None, int | None]]:
    """(kind, seq, line) of each problem: what it is, whose record, where in the file."""
    return [(p.kind, p.seq, p.line) for p in report.problems]
