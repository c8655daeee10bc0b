"""The engine's durable record of containers, in sqlite."""

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stockade.errors import Conflict, NotFound
from stockade.spec import ContainerSpec

_SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    handle      TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    state       TEXT NOT NULL,
    pid         INTEGER,
    command     TEXT NOT NULL DEFAULT '[]',
    created_at  REAL NOT NULL,
    started_at  REAL
);
"""


@dataclass(frozen=True)
class Record:
    handle: str
    spec: ContainerSpec
    state: str
    pid: int | None
    command: str
    created_at: float
    started_at: float | None


class StateStore:
    """One connection, serialised by a lock so a threaded daemon can share it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    @contextmanager
    def _cursor(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            yield self._db.cursor()

    def insert(self, spec: ContainerSpec) -> None:
        """Claim the handle; a second claim of the same handle is a Conflict."""
        try:
            with self._cursor() as cur:
                cur.execute(
                    "INSERT INTO containers (handle, spec, state, created_at) VALUES (?,?,?,?)",
                    (spec.handle, spec.model_dump_json(), "creating", time.time()),
                )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"a container named {spec.handle!r} already exists") from exc

    def update(self, handle: str, **fields: object) -> None:
        allowed = {"state", "pid", "command", "started_at"}
        if not fields or set(fields) - allowed:
            raise ValueError(f"cannot update {sorted(set(fields) - allowed)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self._cursor() as cur:
            cur.execute(f"UPDATE containers SET {assignments} WHERE handle = ?",
                        (*fields.values(), handle))

    def get(self, handle: str) -> Record:
        with self._cursor() as cur:
            row = cur.execute("SELECT * FROM containers WHERE handle = ?", (handle,)).fetchone()
        if row is None:
            raise NotFound(f"no such container: {handle}")
        return self._record(row)

    def all(self) -> list[Record]:
        with self._cursor() as cur:
            rows = cur.execute("SELECT * FROM containers ORDER BY created_at").fetchall()
        return [self._record(row) for row in rows]

    def delete(self, handle: str) -> None:
        with self._cursor() as cur:
            cur.execute("DELETE FROM containers WHERE handle = ?", (handle,))

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def _record(row: tuple[object, ...]) -> Record:
        handle, spec, state, pid, command, created, started = row
        return Record(str(handle), ContainerSpec.model_validate_json(str(spec)), str(state),
                      pid if isinstance(pid, int) else None, str(command), float(str(created)),
                      float(str(started)) if started is not None else None)
