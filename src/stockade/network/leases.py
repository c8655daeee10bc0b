"""Host-wide network bookkeeping: address leases, published ports, what nftables holds.

Every mutation happens under an exclusive file lock (see `HostLock`), so processes that
share one network never hand out the same address or host port."""

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (
    address    INTEGER PRIMARY KEY,
    scope      TEXT NOT NULL,
    handle     TEXT NOT NULL,
    created_at REAL NOT NULL,
    installed  INTEGER NOT NULL DEFAULT 0,
    UNIQUE (scope, handle)
);
CREATE TABLE IF NOT EXISTS ports (
    protocol       TEXT NOT NULL,
    host_port      INTEGER NOT NULL,
    address        INTEGER NOT NULL,
    container_port INTEGER NOT NULL,
    host_ip        INTEGER NOT NULL DEFAULT 0,  -- 0: every address of the host
    PRIMARY KEY (protocol, host_port, host_ip)
);
CREATE TABLE IF NOT EXISTS installed_groups (
    scope  TEXT NOT NULL,
    name   TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (scope, name)
);
CREATE TABLE IF NOT EXISTS installed_defaults (
    scope TEXT PRIMARY KEY,
    names TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS saved_sysctls (
    path  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Lease:
    address: IPv4Address
    scope: str
    handle: str
    installed: bool


# Databases written before mappings could name a host address: the key was (protocol,
# host port); their rows publish on every address.
_PORTS_V2 = """
ALTER TABLE ports RENAME TO ports_v1;
CREATE TABLE ports (
    protocol       TEXT NOT NULL,
    host_port      INTEGER NOT NULL,
    address        INTEGER NOT NULL,
    container_port INTEGER NOT NULL,
    host_ip        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (protocol, host_port, host_ip)
);
INSERT INTO ports (protocol, host_port, address, container_port, host_ip)
    SELECT protocol, host_port, address, container_port, 0 FROM ports_v1;
DROP TABLE ports_v1;
"""


@dataclass(frozen=True)
class PortLease:
    protocol: str
    host_port: int
    address: IPv4Address  # the container's
    container_port: int
    host_ip: IPv4Address | None = None  # the host address it is published on; None: all

    def entry(self) -> tuple[str, int, int, str | None]:
        """What nftjson compiles: (protocol, host port, container port, host address)."""
        return (self.protocol, self.host_port, self.container_port,
                None if self.host_ip is None else str(self.host_ip))

    def where(self) -> str:
        """The host side as people write it: 127.0.0.1:8080/tcp, or 8080/tcp for all."""
        at = f"{self.host_ip}:" if self.host_ip is not None else ""
        return f"{at}{self.host_port}/{self.protocol}"


def overlaps(a: IPv4Address | None, b: IPv4Address | None) -> bool:
    """Whether two mappings' host addresses share an address (None is every address)."""
    return a is None or b is None or a == b


class HostLock:
    """An flock on a file in the state directory; one per operation, so threads and
    processes alike wait for each other."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "lock"

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock


class LeaseStore:
    """sqlite under the state directory; callers hold the HostLock for changes."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(state_dir / "network.db", timeout=30,
                                   isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)
        self._upgrade()

    def _upgrade(self) -> None:
        if self._has_host_ip():
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if not self._has_host_ip():  # another process may have just done it
                for statement in _PORTS_V2.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _has_host_ip(self) -> bool:
        return any(row[1] == "host_ip" for row in self._db.execute("PRAGMA table_info(ports)"))

    def close(self) -> None:
        self._db.close()

    # -- addresses ------------------------------------------------------------------------

    def lease(self, scope: str, handle: str) -> Lease | None:
        row = self._db.execute("SELECT address, scope, handle, installed FROM leases "
                               "WHERE scope = ? AND handle = ?", (scope, handle)).fetchone()
        return _lease(row) if row else None

    def by_address(self, address: IPv4Address) -> Lease | None:
        row = self._db.execute("SELECT address, scope, handle, installed FROM leases "
                               "WHERE address = ?", (int(address),)).fetchone()
        return _lease(row) if row else None

    def all(self, scope: str | None = None) -> list[Lease]:
        query = "SELECT address, scope, handle, installed FROM leases"
        rows = (self._db.execute(query + " WHERE scope = ?", (scope,)) if scope is not None
                else self._db.execute(query)).fetchall()
        return [_lease(row) for row in rows]

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM leases").fetchone()[0])

    def allocate(self, scope: str, handle: str, candidates: list[IPv4Address]) -> Lease | None:
        """The lowest free candidate, claimed for (scope, handle); None when all are taken."""
        taken = {int(r[0]) for r in self._db.execute("SELECT address FROM leases")}
        for address in candidates:
            if int(address) not in taken:
                self._db.execute("INSERT INTO leases (address, scope, handle, created_at) "
                                 "VALUES (?,?,?,?)", (int(address), scope, handle, time.time()))
                return Lease(address, scope, handle, False)
        return None

    def mark_installed(self, address: IPv4Address) -> None:
        self._db.execute("UPDATE leases SET installed = 1 WHERE address = ?", (int(address),))

    def release(self, address: IPv4Address) -> None:
        self._db.execute("DELETE FROM ports WHERE address = ?", (int(address),))
        self._db.execute("DELETE FROM leases WHERE address = ?", (int(address),))

    # -- published ports --------------------------------------------------------------------

    def ports(self, address: IPv4Address) -> list[PortLease]:
        rows = self._db.execute("SELECT protocol, host_port, address, container_port, host_ip "
                                "FROM ports WHERE address = ? ORDER BY host_port, host_ip",
                                (int(address),))
        return [PortLease(str(p), int(h), IPv4Address(int(a)), int(c),
                          IPv4Address(int(i)) if int(i) else None) for p, h, a, c, i in rows]

    def port_taken(self, protocol: str, host_port: int,
                   host_ip: IPv4Address | None = None) -> bool:
        """Whether a published port overlaps (protocol, host_ip:host_port); a mapping on
        every address overlaps each one-address mapping of that port, and the reverse."""
        wanted = _ip_column(host_ip)
        row = self._db.execute("SELECT 1 FROM ports WHERE protocol = ? AND host_port = ? "
                               "AND (host_ip = 0 OR ? = 0 OR host_ip = ?)",
                               (protocol, host_port, wanted, wanted)).fetchone()
        return row is not None

    def add_port(self, port: PortLease) -> None:
        self._db.execute("INSERT INTO ports (protocol, host_port, address, container_port, "
                         "host_ip) VALUES (?,?,?,?,?)",
                         (port.protocol, port.host_port, int(port.address), port.container_port,
                          _ip_column(port.host_ip)))

    def release_port(self, port: PortLease) -> None:
        self._db.execute("DELETE FROM ports WHERE protocol = ? AND host_port = ? AND host_ip = ?",
                         (port.protocol, port.host_port, _ip_column(port.host_ip)))

    # -- what nftables holds ----------------------------------------------------------------

    def group_digest(self, scope: str, name: str) -> str | None:
        row = self._db.execute("SELECT digest FROM installed_groups WHERE scope = ? AND name = ?",
                               (scope, name)).fetchone()
        return str(row[0]) if row else None

    def installed_groups(self, scope: str) -> list[str]:
        rows = self._db.execute("SELECT name FROM installed_groups WHERE scope = ?", (scope,))
        return [str(r[0]) for r in rows]

    def set_group(self, scope: str, name: str, digest: str | None) -> None:
        if digest is None:
            self._db.execute("DELETE FROM installed_groups WHERE scope = ? AND name = ?",
                             (scope, name))
        else:
            self._db.execute("INSERT OR REPLACE INTO installed_groups VALUES (?,?,?)",
                             (scope, name, digest))

    def defaults(self, scope: str) -> list[str] | None:
        row = self._db.execute("SELECT names FROM installed_defaults WHERE scope = ?",
                               (scope,)).fetchone()
        return list(json.loads(row[0])) if row else None

    def set_defaults(self, scope: str, names: list[str]) -> None:
        self._db.execute("INSERT OR REPLACE INTO installed_defaults VALUES (?,?)",
                         (scope, json.dumps(names)))

    def forget_table(self) -> None:
        """The table is gone, so is everything recorded as installed in it."""
        self._db.execute("DELETE FROM installed_groups")
        self._db.execute("DELETE FROM installed_defaults")
        self._db.execute("UPDATE leases SET installed = 0")

    # -- host settings we changed -------------------------------------------------------------

    def save_sysctl(self, path: str, value: str) -> None:
        """Remember the first value seen, so a restore returns the host to how we found it."""
        self._db.execute("INSERT OR IGNORE INTO saved_sysctls VALUES (?,?)", (path, value))

    def saved_sysctls(self) -> dict[str, str]:
        return {str(p): str(v) for p, v in self._db.execute("SELECT * FROM saved_sysctls")}

    def forget_sysctl(self, path: str) -> None:
        self._db.execute("DELETE FROM saved_sysctls WHERE path = ?", (path,))


def _ip_column(host_ip: IPv4Address | None) -> int:
    return 0 if host_ip is None else int(host_ip)


def _lease(row: tuple[object, ...]) -> Lease:
    address, scope, handle, installed = row
    return Lease(IPv4Address(int(str(address))), str(scope), str(handle), bool(installed))
