"""After a restart: which containers are whole, which were cut off half-way through create."""

import contextlib
import os
from pathlib import Path
from typing import Any

from stockade.engine.state import Record


def supervisor_alive(container_dir: Path) -> bool:
    """The per-container supervisor records its pid; it outlives any daemon."""
    try:
        pid = int((container_dir / "shim.pid").read_text())
    except (OSError, ValueError):
        return False
    with contextlib.suppress(OSError):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        return b"stockade.runtime.shim" in cmdline
    return False


def is_complete(record: Record, container_dir: Path, exit_file: Path,
                runc_knows: bool) -> bool:
    """Whole: create finished, and either the container still runs under its supervisor
    or its exit was recorded (so the exit code can still be reported)."""
    if record.state == "creating" or not container_dir.is_dir():
        return False
    if exit_file.exists():
        return True
    return runc_knows and supervisor_alive(container_dir)


def started_unrecorded(record: Record, runc_state: dict[str, Any] | None) -> bool:
    """runc ran the application, but the record still says created."""
    return record.state == "created" and runc_state is not None and \
        runc_state.get("status") == "running"


def stray_runc_ids(runc_root: Path, known: set[str]) -> list[str]:
    """runc state directories that no record owns (a create killed before its record)."""
    if not runc_root.is_dir():
        return []
    return sorted(entry.name for entry in runc_root.iterdir()
                  if entry.is_dir() and entry.name not in known)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
