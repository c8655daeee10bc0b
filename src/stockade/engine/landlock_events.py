"""Landlock denials of this engine's containers as container events, each with a hint.

A server that binds a port it did not declare sees only `bind: Permission denied`. Where
the kernel writes Landlock's audit records (ABI 7+, with kernel audit on), this watch
reads them (see `host.kaudit`), finds the container by pid, and adds an event such as
`bind tcp/8080 refused by Landlock: declare it with --listen 8080 or -p 8080`. Events are
rate-limited per container; what the limit holds back is counted in one summary event.

A record belongs to one of our containers when one of its pids is a container init of this
engine, or sits in a cgroup under this engine's cgroup parent with a handle this engine
knows. A domain, once placed, is remembered, because the refused process may be gone
before its records are read. Records of other engines' containers and of the host are
ignored, as are those of `stockade verify`'s probe, which is refused on purpose."""

import contextlib
import errno
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from stockade.host import Mechanism, kaudit
from stockade.policy.landlock import PROBE_PATH

log = logging.getLogger("stockade.landlock")
KIND = "landlock denied"
LIMIT = 5  # events per container ...
WINDOW_S = 10.0  # ... in any window this long
_MAX_DOMAINS = 4096
_FS_ACTIONS = {
    "execute": "execute", "write_file": "write", "read_file": "read",
    "read_dir": "list", "remove_dir": "remove a directory", "remove_file": "remove a file",
    "make_char": "create a character device", "make_dir": "create a directory",
    "make_reg": "create a file", "make_sock": "create a socket", "make_fifo": "create a fifo",
    "make_block": "create a block device", "make_sym": "create a symlink",
    "refer": "link or rename across directories", "truncate": "truncate",
    "ioctl_dev": "device ioctl",
}
# These rights are checked on the directory that holds the entry, and name that directory.
_IN_DIRECTORY = frozenset(a for a in _FS_ACTIONS if a.startswith(("make_", "remove_")))

Setting = Literal["auto", "off"]


# -- what an event says (pure) ----------------------------------------------------------


def hint(denial: kaudit.Denial) -> str:
    """One line: what was refused and, where the spec can allow it, how."""
    fields = denial.fields
    if denial.blockers == ("net.bind_tcp",):
        port = fields.get("src", "?")
        return (f"bind tcp/{port} refused by Landlock: declare it with --listen {port} "
                f"or -p {port}")
    if denial.blockers == ("net.connect_tcp",):
        port = fields.get("dest", "?")
        where = f" to {fields['daddr']}" if "daddr" in fields else ""
        return f"connect tcp/{port}{where} refused by Landlock: add {port} to --connect-ports"
    names = [b.removeprefix("fs.") for b in denial.blockers]
    if names and all(b.startswith("fs.") and n in _FS_ACTIONS
                     for b, n in zip(denial.blockers, names, strict=True)):
        action = " and ".join(_FS_ACTIONS[n] for n in names)
        place = "in" if set(names) <= _IN_DIRECTORY else "on"
        return f"{action} {place} {fields.get('path', '?')} refused by Landlock"
    detail = " ".join(f"{k}={v}" for k, v in fields.items() if k not in ("dev", "ino"))
    return f"{','.join(denial.blockers) or 'access'} refused by Landlock" + (
        f" ({detail})" if detail else "")


def suppressed(count: int) -> str:
    return f"{count} more Landlock denial{'s' if count != 1 else ''} suppressed"


def cgroup_handle(text: str, parent: str) -> str | None:
    """The handle in /proc/<pid>/cgroup text when the process is in `/<parent>/<handle>`."""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == parent and parts[1]:
            return parts[1]
    return None


class RateLimiter:
    """At most `limit` events per key in any `window_s` seconds, summaries included.

    What is held back is counted, and the count goes out as one summary as soon as a slot
    is free again (`summaries`). Pure: the caller passes the (monotonic) time."""

    def __init__(self, limit: int = LIMIT, window_s: float = WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._sent: dict[str, deque[float]] = {}
        self._held: dict[str, int] = {}

    def _free(self, key: str, now: float) -> bool:
        sent = self._sent.setdefault(key, deque())
        while sent and sent[0] <= now - self.window_s:
            sent.popleft()
        return len(sent) < self.limit

    def admit(self, key: str, now: float) -> bool:
        """True: send it. False: it is counted for the next summary."""
        if self._held.get(key, 0) == 0 and self._free(key, now):
            self._sent[key].append(now)
            return True
        self._held[key] = self._held.get(key, 0) + 1
        return False

    def summaries(self, now: float) -> list[tuple[str, int]]:
        """(key, count held back) for every key whose window has room again."""
        due = []
        for key, count in list(self._held.items()):
            if self._free(key, now):
                self._sent[key].append(now)
                del self._held[key]
                due.append((key, count))
        for key in [k for k, sent in self._sent.items()
                    if k not in self._held and (not sent or sent[-1] <= now - self.window_s)]:
            del self._sent[key]  # idle keys take no memory
        return due

    def held(self, key: str) -> int:
        return self._held.get(key, 0)


# -- the watch --------------------------------------------------------------------------


class Containers(Protocol):
    """What the watch needs of the engine."""

    def init_pids(self, at: float) -> dict[int, str]: ...

    def owns(self, handle: str) -> bool: ...

    def add_container_event(self, handle: str, kind: str, detail: str) -> bool: ...


class Reader(Protocol):
    def receive(self) -> list[kaudit.Record]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Opened:
    status: Mechanism
    claim: kaudit.Claim | None  # set when kernel audit is on and this watch took part


def _unavailable(why: str) -> Mechanism:
    return Mechanism(available=False, detail=why)


def _audit_error(exc: OSError) -> str:
    if exc.errno == errno.EPROTONOSUPPORT:
        return "kernel audit is unavailable: this kernel has no audit support (CONFIG_AUDIT)"
    if exc.errno in (errno.EPERM, errno.EACCES):
        return ("kernel audit is unavailable: not permitted (needs root in the initial user "
                "and pid namespaces)")
    return f"kernel audit is unavailable: {exc.strerror or exc}"


class LandlockEvents:
    """Open (turn audit on if needed), run until stopped, close (turn it back off)."""

    def __init__(self, containers: Containers, cgroup_parent: str, landlock_abi: int,
                 setting: Setting = "auto",
                 listener: Callable[[str, str], None] | None = None,
                 switch: kaudit.AuditSwitch | None = None,
                 reader: Callable[[], Reader] = kaudit.DenialReader) -> None:
        self._containers = containers
        self._cgroup_parent = cgroup_parent
        self._abi = landlock_abi
        self._setting = setting
        self._listener = listener
        self._switch = switch or kaudit.AuditSwitch()
        self._make_reader = reader
        self._reader: Reader | None = None
        self._claim: kaudit.Claim | None = None
        self._assembler = kaudit.Assembler()
        self.limiter = RateLimiter()
        self._domains: dict[str, str | None] = {}  # domain -> handle, None: not ours
        self.status = _unavailable("not started")

    def open(self) -> Opened:
        self.status = self._open()
        return Opened(self.status, self._claim)

    def _open(self) -> Mechanism:
        if self._setting == "off":
            return _unavailable("off: the server setting landlock_events is off")
        if self._abi < kaudit.LANDLOCK_LOG_ABI:
            return _unavailable(
                f"Landlock ABI {self._abi} writes no audit records (needs ABI "
                f"{kaudit.LANDLOCK_LOG_ABI}, Linux 6.15)" if self._abi else "no Landlock")
        try:
            claim = self._switch.acquire()
        except OSError as exc:
            return _unavailable(_audit_error(exc))
        if claim.before.enabled == 0 and not claim.turned_on:
            return _unavailable("kernel audit is off and a lost record would panic the host "
                                "(failure mode 2): not turning it on")
        self._claim = claim
        try:
            self._reader = self._make_reader()
        except OSError as exc:
            self.close()
            return _unavailable(_audit_error(exc))
        source = f"Landlock audit records (ABI {self._abi}) from kernel audit"
        if claim.turned_on:
            how = "turned on by this daemon until it stops"
        elif claim.held:
            how = "kept on for another stockade daemon that turned it on"
        elif claim.before.enabled == kaudit.AUDIT_LOCKED:
            how = "locked on"
        else:
            how = "already on"
        return Mechanism(available=True, detail=f"on: {source}, {how}")

    def close(self) -> bool:
        """Stop reading; True when this turned kernel audit back off."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._claim = None
        return self._switch.release()

    def run(self, stop: threading.Event) -> None:
        """Read until `stop`; a failing socket ends it with the status saying why."""
        try:
            self._run(stop)
        except OSError as exc:
            self.status = _unavailable(f"stopped: reading kernel audit failed: {exc}")
            log.warning("Landlock denial events stopped: %s", exc)

    def _run(self, stop: threading.Event) -> None:
        reader = self._reader
        if reader is None:
            return
        while not stop.is_set():
            records = reader.receive()
            now = time.monotonic()
            items = [i for record in records for i in self._assembler.feed(record, now)]
            try:
                for item in items + self._assembler.expire(now):
                    self.handle(item, now)
                self.tick(now)
            except Exception:  # a store that failed once must not end the watch
                log.exception("a Landlock denial was not recorded")

    def handle(self, item: kaudit.Denial | kaudit.DomainGone, now: float) -> None:
        if isinstance(item, kaudit.DomainGone):
            self._domains.pop(item.domain, None)
            return
        if item.exe == PROBE_PATH:
            return  # verify's probe asks for refusals on purpose
        handle = self._owner(item)
        if handle is None:
            return
        self.tick(now)  # a summary goes before the next event it made room for
        if self.limiter.admit(handle, now):
            self._emit(handle, hint(item))

    def tick(self, now: float) -> None:
        """Send the summaries that are due (the run loop calls it at least twice a second)."""
        for handle, count in self.limiter.summaries(now):
            self._emit(handle, suppressed(count))

    def _emit(self, handle: str, detail: str) -> None:
        if self._containers.add_container_event(handle, KIND, detail) and self._listener:
            self._listener(handle, detail)

    def _owner(self, denial: kaudit.Denial) -> str | None:
        if denial.domain in self._domains:
            return self._domains[denial.domain]
        inits = self._containers.init_pids(denial.time)
        for pid in (denial.domain_pid, denial.ppid, denial.pid):
            if pid in inits:
                return self._remember(denial.domain, inits[pid])
        settled = False  # a live process of the domain is known to be elsewhere
        for pid, in_domain in ((denial.pid, True), (denial.domain_pid, True),
                               (denial.ppid, False)):
            text = _cgroups(pid)
            if text is None:
                continue
            handle = cgroup_handle(text, self._cgroup_parent)
            if handle is not None and self._containers.owns(handle):
                return self._remember(denial.domain, handle)
            settled = settled or in_domain
        if settled:
            self._remember(denial.domain, None)
        return None

    def _remember(self, domain: str, handle: str | None) -> str | None:
        if len(self._domains) >= _MAX_DOMAINS:
            self._domains.pop(next(iter(self._domains)))
        self._domains[domain] = handle
        return handle


def _cgroups(pid: int | None) -> str | None:
    if pid is None:
        return None
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cgroup").read_text()
    return None
