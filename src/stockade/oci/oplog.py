"""Where stockade-oci reports: its own JSON-lines log and runc's --log file."""

import json
import os
import time
from pathlib import Path
from typing import Any


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def append_record(path: str, record: dict[str, Any]) -> None:
    """One JSON object per line; raises OSError when the log cannot be written."""
    log = Path(path)
    log.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    line = json.dumps({"time": _now(), **record}, sort_keys=True) + "\n"
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def runc_log(path: str | None, log_format: str, level: str, message: str) -> None:
    """A line in runc's own log, in its format, so the shim shows it like runc's errors."""
    if not path:
        return
    if log_format == "json":
        line = json.dumps({"level": level, "msg": message, "time": _now()})
    else:
        line = f'time="{_now()}" level={level} msg="{message}"'
    try:
        with open(path, "a") as handle:
            handle.write(line + "\n")
    except OSError:
        pass  # runc's log is a courtesy; our own log is the record
