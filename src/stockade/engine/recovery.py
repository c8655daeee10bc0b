"""After a restart: which containers are whole, which were cut off half-way through create."""

from pathlib import Path
from typing import Any

from stockade.engine.state import Record


def is_complete(record: Record, container_dir: Path, exit_known: bool,
                runc_knows: bool) -> bool:
    """Whole: create finished, and either runc still knows the container (whether or not
    its monitor lives) or its end was recorded (so the exit code can still be reported)."""
    if record.state == "creating" or not container_dir.is_dir():
        return False
    if exit_known or record.finished_at is not None:
        return True
    return runc_knows


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
