"""The daemon's log: time and level on every line, as text for people or JSON for log
shippers, on stderr (the journal under systemd) or in a size-rotated file (`--detach`)."""

import json
import logging
import logging.handlers
import os
import sys
import time
from pathlib import Path
from typing import Any, Literal

ROTATE_BYTES = 10 << 20
ROTATE_KEEP = 5
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _UtcIso(logging.Formatter):
    """ISO 8601 in UTC with milliseconds: one clock for every host in a fleet."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + \
            f".{int(record.msecs):03d}Z"


class JsonFormatter(_UtcIso):
    """One JSON object a line: time, level, logger, message, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"time": self.formatTime(record), "level": record.levelname,
                                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class _RotatingStdio(logging.handlers.RotatingFileHandler):
    """Rotates by size, and points fds 1 and 2 at the new file after each rotation, so a
    traceback that bypasses logging (a crash, faulthandler) lands in the current file too."""

    def _open(self) -> Any:
        stream = super()._open()
        os.chmod(self.baseFilename, 0o600)  # each new file: requests name containers, paths
        return stream

    def doRollover(self) -> None:
        super().doRollover()
        if self.stream is not None:
            for fd in (1, 2):
                os.dup2(self.stream.fileno(), fd)


def configure(level: str, form: Literal["text", "json"], file: Path | None) -> None:
    formatter = JsonFormatter() if form == "json" else _UtcIso(_TEXT)
    handler: logging.Handler
    if file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        rotating = _RotatingStdio(file, maxBytes=ROTATE_BYTES, backupCount=ROTATE_KEEP)
        if rotating.stream is not None:
            for fd in (1, 2):
                os.dup2(rotating.stream.fileno(), fd)
        handler = rotating
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
