"""The engine's durable record of containers, in sqlite."""

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stockade.errors import Conflict, NotFound
from stockade.spec import ContainerSpec, NetworkPolicy, SecurityGroup

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
CREATE TABLE IF NOT EXISTS events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    time    REAL NOT NULL,
    handle  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_by_handle ON events (handle, seq);
CREATE TABLE IF NOT EXISTS security_groups (
    name        TEXT PRIMARY KEY,
    rules       TEXT NOT NULL,
    digest      TEXT NOT NULL,
    created_at  REAL NOT NULL
);
-- target is a container handle, or '' for a platform default binding
CREATE TABLE IF NOT EXISTS group_bindings (
    name    TEXT NOT NULL REFERENCES security_groups (name),
    target  TEXT NOT NULL,
    PRIMARY KEY (name, target)
);
CREATE TABLE IF NOT EXISTS network_policies (
    source      TEXT NOT NULL,
    destination TEXT NOT NULL,
    protocol    TEXT NOT NULL,
    port        INTEGER NOT NULL,
    PRIMARY KEY (source, destination, protocol, port)
);
"""
DEFAULT_TARGET = ""
LOCAL_OWNER = "local"  # created through the unix socket (root), or before owners existed
# columns added after the first release: (name, declaration), added to older databases
_LATER_COLUMNS = (("last_activity", "REAL"), ("exit_reported", "INTEGER NOT NULL DEFAULT 0"),
                  ("auto_remove", "INTEGER NOT NULL DEFAULT 0"),
                  ("owner", f"TEXT NOT NULL DEFAULT '{LOCAL_OWNER}'"),
                  # the init's end, read from its monitor's files (which are then removed);
                  # finished_at without exit_code: it ended, but its monitor was lost first
                  ("exit_code", "INTEGER"), ("oom_killed", "INTEGER NOT NULL DEFAULT 0"),
                  ("finished_at", "REAL"), ("monitor_lost_at", "REAL"))
# an event keeps its container's owner, so the owner still sees it once the container is gone
_LATER_EVENT_COLUMNS = (("owner", f"TEXT NOT NULL DEFAULT '{LOCAL_OWNER}'"),)
_COLUMNS = ("handle, spec, state, pid, command, created_at, started_at, last_activity, "
            "exit_reported, auto_remove, owner, exit_code, oom_killed, finished_at, "
            "monitor_lost_at")


@dataclass(frozen=True)
class Record:
    handle: str
    spec: ContainerSpec
    state: str
    pid: int | None
    command: str
    created_at: float
    started_at: float | None
    last_activity: float | None = None
    exit_reported: bool = False
    auto_remove: bool = False
    owner: str = LOCAL_OWNER
    exit_code: int | None = None
    oom_killed: bool = False
    finished_at: float | None = None
    monitor_lost_at: float | None = None

    @property
    def ended(self) -> "ExitStatus | None":
        if self.finished_at is None:
            return None
        return ExitStatus(self.exit_code, self.oom_killed, self.finished_at,
                          lost=self.monitor_lost_at is not None and self.exit_code is None)


@dataclass(frozen=True)
class ExitStatus:
    """How a container's init ended. `exit_code` is None when nobody could see it: its
    monitor was lost (killed) before the init ended."""

    exit_code: int | None
    oom_killed: bool
    finished_at: float
    lost: bool = False


@dataclass(frozen=True)
class Event:
    seq: int
    time: float
    handle: str
    kind: str
    detail: str


class StateStore:
    """One connection, serialised by a lock so a threaded daemon can share it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)
        self._migrate()
        self._lock = threading.Lock()

    def _migrate(self) -> None:
        for table, later in (("containers", _LATER_COLUMNS), ("events", _LATER_EVENT_COLUMNS)):
            present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for name, declaration in later:
                if name not in present:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")

    @contextmanager
    def _cursor(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            yield self._db.cursor()

    def insert(self, spec: ContainerSpec, auto_remove: bool = False,
               owner: str = LOCAL_OWNER) -> None:
        """Claim the handle; a second claim of the same handle is a Conflict."""
        now = time.time()
        try:
            with self._cursor() as cur:
                cur.execute(
                    "INSERT INTO containers (handle, spec, state, created_at, last_activity, "
                    "auto_remove, owner) VALUES (?,?,?,?,?,?,?)",
                    (spec.handle, spec.model_dump_json(), "creating", now, now,
                     int(auto_remove), owner),
                )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"a container named {spec.handle!r} already exists") from exc

    def count_owned(self, owner: str) -> int:
        with self._cursor() as cur:
            row = cur.execute("SELECT COUNT(*) FROM containers WHERE owner = ?",
                              (owner,)).fetchone()
        return int(row[0])

    def update(self, handle: str, **fields: object) -> None:
        allowed = {"state", "pid", "command", "started_at", "last_activity", "exit_reported"}
        if not fields or set(fields) - allowed:
            raise ValueError(f"cannot update {sorted(set(fields) - allowed)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self._cursor() as cur:
            cur.execute(f"UPDATE containers SET {assignments} WHERE handle = ?",
                        (*fields.values(), handle))

    def get(self, handle: str) -> Record:
        with self._cursor() as cur:
            row = cur.execute(f"SELECT {_COLUMNS} FROM containers WHERE handle = ?",
                              (handle,)).fetchone()
        if row is None:
            raise NotFound(f"no such container: {handle}")
        return self._record(row)

    def all(self) -> list[Record]:
        with self._cursor() as cur:
            rows = cur.execute(f"SELECT {_COLUMNS} FROM containers ORDER BY created_at").fetchall()
        return [self._record(row) for row in rows]

    def replace_spec(self, spec: ContainerSpec) -> None:
        """Limits and properties change on a live container; the record follows."""
        with self._cursor() as cur:
            cur.execute("UPDATE containers SET spec = ? WHERE handle = ?",
                        (spec.model_dump_json(), spec.handle))
            if cur.rowcount == 0:
                raise NotFound(f"no such container: {spec.handle}")

    def delete(self, handle: str) -> None:
        with self._cursor() as cur:
            cur.execute("DELETE FROM containers WHERE handle = ?", (handle,))

    # -- events -------------------------------------------------------------------------------

    def add_event(self, handle: str, kind: str, detail: str = "") -> Event:
        now = time.time()
        with self._cursor() as cur:
            cur.execute("INSERT INTO events (time, handle, kind, detail, owner) VALUES "
                        "(?,?,?,?, COALESCE((SELECT owner FROM containers WHERE handle = ?), ?))",
                        (now, handle, kind, detail, handle, LOCAL_OWNER))
            seq = int(cur.lastrowid or 0)
        return Event(seq, now, handle, kind, detail)

    def events(self, since: int = 0, handle: str | None = None, limit: int = 1000,
               owner: str | None = None) -> list[Event]:
        """Events after `since`, of one container and/or of one owner's containers."""
        query = "SELECT seq, time, handle, kind, detail FROM events WHERE seq > ?"
        params: tuple[object, ...] = (since,)
        if handle is not None:
            query += " AND handle = ?"
            params += (handle,)
        if owner is not None:
            query += " AND owner = ?"
            params += (owner,)
        with self._cursor() as cur:
            rows = cur.execute(query + " ORDER BY seq LIMIT ?", (*params, limit)).fetchall()
        return [Event(int(a), float(b), str(c), str(d), str(e)) for a, b, c, d, e in rows]

    def prune_events(self, older_than: float, keep: int) -> int:
        """Drop events before `older_than` and all but the newest `keep`; how many went."""
        with self._cursor() as cur:
            cur.execute("DELETE FROM events WHERE time < ? OR seq <= "
                        "(SELECT COALESCE(MAX(seq), 0) FROM events) - ?", (older_than, keep))
            return int(cur.rowcount)

    def latest_events(self, handle: str, limit: int) -> list[Event]:
        """A container's newest events, oldest of them first."""
        with self._cursor() as cur:
            rows = cur.execute("SELECT seq, time, handle, kind, detail FROM events "
                               "WHERE handle = ? ORDER BY seq DESC LIMIT ?",
                               (handle, limit)).fetchall()
        return [Event(int(a), float(b), str(c), str(d), str(e)) for a, b, c, d, e in
                reversed(rows)]

    # -- how inits end ------------------------------------------------------------------------

    def record_exit(self, handle: str, status: ExitStatus, pid: int | None) -> bool:
        """Write down the end of the init whose pid was `pid` once; False when it already
        was, the record is gone, or the container has since run again (a restart: a reader
        of the old monitor's files must not end the new run)."""
        with self._cursor() as cur:
            cur.execute("UPDATE containers SET exit_code = ?, oom_killed = ?, finished_at = ? "
                        "WHERE handle = ? AND finished_at IS NULL AND pid IS ?",
                        (status.exit_code, int(status.oom_killed), status.finished_at, handle,
                         pid))
            return cur.rowcount == 1

    def clear_exit(self, handle: str) -> None:
        """A restart: the container is about to run again under a new monitor."""
        with self._cursor() as cur:
            cur.execute("UPDATE containers SET exit_code = NULL, oom_killed = 0, "
                        "finished_at = NULL, monitor_lost_at = NULL, exit_reported = 0, "
                        "pid = NULL, started_at = NULL WHERE handle = ?", (handle,))

    def record_monitor_lost(self, handle: str, when: float) -> bool:
        with self._cursor() as cur:
            cur.execute("UPDATE containers SET monitor_lost_at = ? "
                        "WHERE handle = ? AND monitor_lost_at IS NULL AND finished_at IS NULL",
                        (when, handle))
            return cur.rowcount == 1

    def close(self) -> None:
        self._db.close()

    # -- security groups --------------------------------------------------------------------

    def save_group(self, group: SecurityGroup, replace: bool) -> None:
        rules = json.dumps([r.model_dump(mode="json") for r in group.rules])
        with self._cursor() as cur:
            exists = cur.execute("SELECT 1 FROM security_groups WHERE name = ?",
                                 (group.name,)).fetchone()
            if exists and not replace:
                raise Conflict(f"security group {group.name!r} already exists")
            if not exists and replace:
                raise NotFound(f"no such security group: {group.name}")
            cur.execute("INSERT OR REPLACE INTO security_groups VALUES (?,?,?,?)",
                        (group.name, rules, group.digest, time.time()))

    def group(self, name: str) -> SecurityGroup:
        with self._cursor() as cur:
            row = cur.execute("SELECT rules FROM security_groups WHERE name = ?",
                              (name,)).fetchone()
        if row is None:
            raise NotFound(f"no such security group: {name}")
        return SecurityGroup.model_validate({"name": name, "rules": json.loads(row[0])})

    def group_digest(self, name: str) -> str:
        with self._cursor() as cur:
            row = cur.execute("SELECT digest FROM security_groups WHERE name = ?",
                              (name,)).fetchone()
        if row is None:
            raise NotFound(f"no such security group: {name}")
        return str(row[0])

    def group_summaries(self) -> list[tuple[str, int, list[str]]]:
        """(name, rule count, bindings) for every group; '' in bindings is the default."""
        with self._cursor() as cur:
            groups = cur.execute("SELECT name, json_array_length(rules) FROM security_groups "
                                 "ORDER BY name").fetchall()
            binds = cur.execute("SELECT name, target FROM group_bindings").fetchall()
        return [(str(n), int(c), sorted(str(t) for g, t in binds if g == n)) for n, c in groups]

    def delete_group(self, name: str) -> None:
        with self._cursor() as cur:
            cur.execute("DELETE FROM security_groups WHERE name = ?", (name,))

    def bind(self, name: str, target: str) -> None:
        with self._cursor() as cur:
            cur.execute("INSERT OR IGNORE INTO group_bindings VALUES (?,?)", (name, target))

    def unbind(self, name: str, target: str) -> bool:
        with self._cursor() as cur:
            cur.execute("DELETE FROM group_bindings WHERE name = ? AND target = ?",
                        (name, target))
            return cur.rowcount > 0

    def bound(self, target: str) -> list[str]:
        """Groups bound to a container handle, or to DEFAULT_TARGET, in binding order."""
        with self._cursor() as cur:
            rows = cur.execute("SELECT name FROM group_bindings WHERE target = ? "
                               "ORDER BY rowid", (target,)).fetchall()
        return [str(r[0]) for r in rows]

    def bindings_of_group(self, name: str) -> list[str]:
        with self._cursor() as cur:
            rows = cur.execute("SELECT target FROM group_bindings WHERE name = ?",
                               (name,)).fetchall()
        return [str(r[0]) for r in rows]

    def unbind_target(self, target: str) -> None:
        with self._cursor() as cur:
            cur.execute("DELETE FROM group_bindings WHERE target = ?", (target,))

    # -- network policies -------------------------------------------------------------------

    def add_policy(self, policy: NetworkPolicy) -> None:
        with self._cursor() as cur:
            cur.execute("INSERT OR IGNORE INTO network_policies VALUES (?,?,?,?)",
                        (policy.source, policy.destination, policy.protocol, policy.port))

    def remove_policy(self, policy: NetworkPolicy) -> bool:
        with self._cursor() as cur:
            cur.execute("DELETE FROM network_policies WHERE source = ? AND destination = ? "
                        "AND protocol = ? AND port = ?",
                        (policy.source, policy.destination, policy.protocol, policy.port))
            return cur.rowcount > 0

    def policies(self, handle: str | None = None) -> list[NetworkPolicy]:
        query = "SELECT source, destination, protocol, port FROM network_policies"
        with self._cursor() as cur:
            rows = (cur.execute(query + " WHERE source = ? OR destination = ?", (handle, handle))
                    if handle is not None else cur.execute(query)).fetchall()
        return [NetworkPolicy(source=s, destination=d, protocol=p, port=n)
                for s, d, p, n in rows]

    @staticmethod
    def _record(row: tuple[object, ...]) -> Record:
        (handle, spec, state, pid, command, created, started, activity, reported, remove,
         owner, code, oom, finished, lost) = row
        return Record(str(handle), ContainerSpec.model_validate_json(str(spec)), str(state),
                      pid if isinstance(pid, int) else None, str(command), float(str(created)),
                      _real(started), _real(activity), bool(reported), bool(remove), str(owner),
                      code if isinstance(code, int) else None, bool(oom), _real(finished),
                      _real(lost))


def _real(value: object) -> float | None:
    return float(str(value)) if value is not None else None
