"""Landlock's denial records from the kernel audit log: switching audit on, reading the
records, and putting each denial's records back together.

Since Landlock ABI 7 (Linux 6.15) every refused access of a restricted process can be
reported as kernel audit records, emitted only while kernel audit is enabled:

    AUDIT_LANDLOCK_ACCESS (1423)  domain=15095d308 blockers=net.bind_tcp src=8080
    AUDIT_LANDLOCK_DOMAIN (1424)  domain=15095d308 status=allocated mode=enforcing pid=4650 ...
    AUDIT_SYSCALL (1300)          arch=c000003e syscall=49 success=no exit=-13 ppid=... pid=...
    AUDIT_EOE (1320)              (end of the event)

The records of one event share the serial in their "audit(<seconds>:<serial>): " prefix.
The DOMAIN record comes only with a domain's first denial and names the process that
created the domain; a later one (status=deallocated) says the domain is gone.

The netlink code is our own: no audit userspace library is a dependency, auditd is not
installed on the hosts we target, and the protocol needed is tiny (AUDIT_GET, AUDIT_SET of
one field, and the read-only multicast group AUDIT_NLGRP_READLOG that any number of
readers may join beside auditd). The parsing is pure and separate from the sockets so it
can be tested against captured records.

Kernel audit is one host-wide switch. `AuditSwitch` keeps it on while any stockade daemon
on the host that found it off still runs, and turns it off again when the last one stops,
so daemons that start and stop in any order leave it as they found it."""

import contextlib
import errno
import fcntl
import json
import os
import re
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

NETLINK_AUDIT = 9
AUDIT_GET = 1000
AUDIT_SET = 1001
AUDIT_SYSCALL = 1300
AUDIT_EOE = 1320
AUDIT_LANDLOCK_ACCESS = 1423
AUDIT_LANDLOCK_DOMAIN = 1424
AUDIT_NLGRP_READLOG = 1
AUDIT_STATUS_ENABLED = 1
AUDIT_FAIL_PANIC = 2
AUDIT_LOCKED = 2  # enabled=2: on, and no one may change the configuration until reboot
LANDLOCK_LOG_ABI = 7  # the ABI that brought audit records and LOG_NEW_EXEC_ON (Linux 6.15)

_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_NLM_F_REQUEST = 1
_NLM_F_ACK = 4
_HEADER = struct.Struct("=LHHLL")
_STATUS_FIELDS = ("mask", "enabled", "failure", "pid", "rate_limit", "backlog_limit", "lost",
                  "backlog")
_PREFIX = re.compile(r"audit\((\d+)\.(\d+):(\d+)\):\s?")
_FIELD = re.compile(r'(\w+)=("[^"]*"|\S*)')
# Fields the kernel writes with audit_log_untrustedstring: quoted when plain, hex when not.
_UNTRUSTED = frozenset({"path", "exe", "comm", "name", "ocomm", "proctitle", "cwd"})
_HEX = re.compile(r"^(?:[0-9A-F]{2})+$")
_PENDING_S = 1.0  # an event whose end never comes is reported with what it has
_MAX_PENDING = 1024
STATE_DIR = Path("/run/stockade")
CLAIMS_FILE = "kernel-audit.json"


# -- status -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditStatus:
    """The kernel's struct audit_status (the fields every kernel has)."""

    mask: int
    enabled: int  # 0 off, 1 on, 2 on and locked
    failure: int  # what a lost record does: 0 nothing, 1 printk, 2 panic
    pid: int  # auditd's pid, 0 when none is registered
    rate_limit: int
    backlog_limit: int
    lost: int
    backlog: int

    @classmethod
    def from_bytes(cls, payload: bytes) -> "AuditStatus":
        values = struct.unpack_from(f"={len(_STATUS_FIELDS)}I", payload)
        return cls(**dict(zip(_STATUS_FIELDS, values, strict=True)))


def request(kind: int, seq: int, body: bytes = b"") -> bytes:
    """One netlink request that asks for an acknowledgement."""
    return _HEADER.pack(_HEADER.size + len(body), kind, _NLM_F_REQUEST | _NLM_F_ACK, seq,
                        0) + body


def set_enabled_body(enabled: int) -> bytes:
    """An audit_status that changes only `enabled` (the mask says which field counts)."""
    return struct.pack(f"={len(_STATUS_FIELDS)}I", AUDIT_STATUS_ENABLED, enabled,
                       *([0] * (len(_STATUS_FIELDS) - 2)))


def messages(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, payload) of each netlink message in one datagram."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, _, _, _ = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size:
            return
        yield kind, data[offset + _HEADER.size: offset + length]
        offset += (length + 3) & ~3


class AuditControl:
    """A unicast audit socket for reading and setting the status (needs CAP_AUDIT_CONTROL
    in the initial user and pid namespaces)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                   NETLINK_AUDIT)
        self._sock.settimeout(5)
        self._seq = 0
        try:
            self._sock.bind((0, 0))
        except OSError:
            self._sock.close()
            raise

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "AuditControl":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ask(self, kind: int, body: bytes = b"") -> bytes | None:
        """Send one request; the AUDIT_GET reply if any, once the ack has come."""
        self._seq += 1
        self._sock.send(request(kind, self._seq, body))
        reply, acked = None, False
        while not acked or (kind == AUDIT_GET and reply is None):
            for got, payload in messages(self._sock.recv(65536)):
                if got == _NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code:
                        raise OSError(code, os.strerror(code))
                    acked = True
                elif got == AUDIT_GET:
                    reply = payload
                elif got == _NLMSG_DONE:
                    acked = True
        return reply

    def status(self) -> AuditStatus:
        reply = self._ask(AUDIT_GET)
        assert reply is not None
        return AuditStatus.from_bytes(reply)

    def set_enabled(self, enabled: int) -> None:
        self._ask(AUDIT_SET, set_enabled_body(enabled))


# -- records ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    kind: int
    time: float
    serial: int
    fields: dict[str, str]


def parse_fields(text: str) -> dict[str, str]:
    """key=value pairs; quotes removed, hex-encoded untrusted strings decoded."""
    found = {}
    for key, raw in _FIELD.findall(text):
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            value = raw[1:-1]
        elif key in _UNTRUSTED and _HEX.match(raw):
            value = bytes.fromhex(raw).decode(errors="replace")
        else:
            value = raw
        found[key] = value
    return found


def parse_record(kind: int, payload: bytes) -> Record | None:
    """One audit record, or None when it lacks the audit(...) prefix."""
    text = payload.rstrip(b"\0").decode(errors="replace")
    match = _PREFIX.match(text)
    if match is None:
        return None
    seconds, millis, serial = match.groups()
    return Record(kind, int(seconds) + int(millis) / 1000, int(serial),
                  parse_fields(text[match.end():]))


@dataclass(frozen=True)
class Denial:
    """One refused access, with what the event's other records said about the process."""

    serial: int
    time: float
    domain: str
    blockers: tuple[str, ...]  # e.g. ("net.bind_tcp",) or ("fs.write_file", "fs.truncate")
    fields: dict[str, str]  # the rest of the ACCESS record: src, daddr, dest, path, ...
    domain_pid: int | None = None  # who created the domain (first denial of a domain only)
    pid: int | None = None  # from the SYSCALL record, when the denial was in a syscall
    ppid: int | None = None
    exe: str | None = None
    comm: str | None = None


@dataclass(frozen=True)
class DomainGone:
    """The kernel freed a Landlock domain: nothing will be denied in its name again."""

    domain: str


@dataclass
class _Pending:
    seen: float
    accesses: list[Record] = field(default_factory=list)
    domain_pids: dict[str, int] = field(default_factory=dict)
    syscall: dict[str, str] = field(default_factory=dict)


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


class Assembler:
    """Puts the records of each event together. Records of different events interleave
    (the ACCESS record is written at the denial, the SYSCALL record at the syscall's
    exit), so events are kept by serial until their end record or a short timeout."""

    def __init__(self, timeout_s: float = _PENDING_S) -> None:
        self._pending: dict[int, _Pending] = {}
        self._timeout_s = timeout_s

    def feed(self, record: Record, now: float) -> list[Denial | DomainGone]:
        """What this record completes; `now` is a monotonic clock."""
        out: list[Denial | DomainGone] = self.expire(now)
        fields = record.fields
        if record.kind == AUDIT_LANDLOCK_DOMAIN and fields.get("status") == "deallocated":
            return [*out, DomainGone(fields.get("domain", ""))]
        if record.kind == AUDIT_LANDLOCK_ACCESS:
            if len(self._pending) >= _MAX_PENDING:  # ends lost: report the oldest now
                oldest = min(self._pending, key=lambda s: self._pending[s].seen)
                out += self._complete(oldest)
            self._pending.setdefault(record.serial, _Pending(now)).accesses.append(record)
            return out
        pending = self._pending.get(record.serial)
        if pending is None:
            return out  # an event without a Landlock denial
        if record.kind == AUDIT_LANDLOCK_DOMAIN:
            pid = _int(fields.get("pid"))
            if pid is not None:
                pending.domain_pids[fields.get("domain", "")] = pid
        elif record.kind == AUDIT_SYSCALL:
            pending.syscall = fields
        elif record.kind == AUDIT_EOE:
            out += self._complete(record.serial)
        return out

    def expire(self, now: float) -> list[Denial | DomainGone]:
        """Events whose end did not come in time (a denial outside any syscall has none)."""
        late = [s for s, p in self._pending.items() if now - p.seen >= self._timeout_s]
        return [d for serial in late for d in self._complete(serial)]

    def _complete(self, serial: int) -> list[Denial | DomainGone]:
        pending = self._pending.pop(serial)
        sys = pending.syscall
        denials: list[Denial | DomainGone] = []
        for access in pending.accesses:
            fields = dict(access.fields)
            domain = fields.pop("domain", "")
            blockers = tuple(b for b in fields.pop("blockers", "").split(",") if b)
            denials.append(Denial(
                serial=serial, time=access.time, domain=domain, blockers=blockers,
                fields=fields, domain_pid=pending.domain_pids.get(domain),
                pid=_int(sys.get("pid")), ppid=_int(sys.get("ppid")), exe=sys.get("exe"),
                comm=sys.get("comm")))
        return denials


class DenialReader:
    """A member of the read-only audit multicast group (needs CAP_AUDIT_READ)."""

    def __init__(self, poll_s: float = 0.5) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                   NETLINK_AUDIT)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self._sock.bind((0, 1 << (AUDIT_NLGRP_READLOG - 1)))
        except OSError:
            self._sock.close()
            raise
        self._sock.settimeout(poll_s)
        self.lost = 0  # datagrams the kernel dropped because we fell behind

    def receive(self) -> list[Record]:
        """The records of one datagram; [] when none came within the poll time."""
        try:
            data = self._sock.recv(1 << 16)
        except TimeoutError:
            return []
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                self.lost += 1
                return []
            raise
        found = (parse_record(kind, payload) for kind, payload in messages(data))
        return [r for r in found if r is not None]

    def close(self) -> None:
        self._sock.close()


# -- the host-wide switch ---------------------------------------------------------------


class Control(Protocol):
    def status(self) -> AuditStatus: ...

    def set_enabled(self, enabled: int) -> None: ...

    def close(self) -> None: ...


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks: a pid with it names one process for good."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def this_process() -> str:
    return f"{os.getpid()}:{_start_time(os.getpid())}"


def process_alive(holder: str) -> bool:
    pid, _, started = holder.partition(":")
    return pid.isdigit() and _start_time(int(pid)) == started


@dataclass(frozen=True)
class Claim:
    before: AuditStatus
    turned_on: bool  # this call switched audit on
    held: bool  # audit is on because stockade turned it on; release() may turn it off


class AuditSwitch:
    """Keeps kernel audit on while a stockade daemon that needs it runs.

    The holders are listed in one small file under /run/stockade (tmpfs), changed under an
    flock of that directory: a daemon that finds audit off turns it on and lists itself;
    one that finds it on because of stockade lists itself too; the last holder to leave
    turns it off again, unless an auditd has registered meanwhile. Holders that died
    without leaving are dropped by the next daemon that looks."""

    def __init__(self, control: Callable[[], Control] = AuditControl,
                 state_dir: Path = STATE_DIR, holder: str | None = None,
                 alive: Callable[[str], bool] = process_alive) -> None:
        self._control = control
        self._dir = state_dir
        self._holder = holder or this_process()
        self._alive = alive
        self._holding = False

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Path]:
        self._dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd = os.open(self._dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self._dir / CLAIMS_FILE
        finally:
            os.close(fd)

    def _holders(self, path: Path) -> list[str] | None:
        """The live holders, or None when stockade did not turn audit on."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return [h for h in data.get("holders", []) if h != self._holder and self._alive(h)]

    @staticmethod
    def _save(path: Path, holders: list[str]) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"holders": holders, "updated": time.time()}))
        os.replace(tmp, path)

    def acquire(self) -> Claim:
        """Turn audit on if it is off (unless a lost record would panic the host)."""
        with self._locked() as path:
            control = self._control()
            try:
                before = control.status()
                holders = self._holders(path)
                if before.enabled == 0:
                    if before.failure == AUDIT_FAIL_PANIC:
                        return Claim(before, turned_on=False, held=False)
                    control.set_enabled(1)
                    self._save(path, [*(holders or []), self._holder])
                    self._holding = True
                    return Claim(before, turned_on=True, held=True)
                if holders is not None:  # on because another stockade daemon turned it on
                    self._save(path, [*holders, self._holder])
                    self._holding = True
                    return Claim(before, turned_on=False, held=True)
                return Claim(before, turned_on=False, held=False)
            finally:
                control.close()

    def release(self) -> bool:
        """Leave; the last holder turns audit off again. True when this call did."""
        if not self._holding:
            return False
        self._holding = False
        with self._locked() as path:
            # A missing file (someone cleared /run/stockade) leaves us the last holder we
            # know of: turning audit off then restores what the first holder found.
            holders = self._holders(path) or []
            if holders:
                self._save(path, holders)
                return False
            path.unlink(missing_ok=True)
            control = self._control()
            try:
                now = control.status()
                if now.enabled != 1 or now.pid != 0:
                    return False  # locked, already off, or an auditd took over: leave it
                control.set_enabled(0)
                return True
            finally:
                control.close()
