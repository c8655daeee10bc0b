"""The daemon's moving parts around one engine: locks per handle, the audit trail, metrics,
and the background work (exits, OOM kills, lost monitors, log rotation, auto-remove, grace
time, pruning, egress log, Landlock denials)."""

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stockade.api import access
from stockade.api.access import Identity
from stockade.api.config import ServerConfig
from stockade.api.hostwatch import HostWatch
from stockade.api.metrics import Metrics
from stockade.attach.table import ProcessTable
from stockade.audit import AuditLog
from stockade.engine import Engine
from stockade.errors import LimitReached, NotFound, StockadeError
from stockade.settings import Loaded
from stockade.spec import ContainerInfo
from stockade.wire.models import CreateRequest

log = logging.getLogger("stockade.daemon")
# how long a --rm container that has ended waits for the streams following its init to
# send the exit code before it is removed anyway
_FOLLOWED_REMOVAL_S = 10.0
_MONITOR_CHECK_S = 5.0  # how often every container's monitor is looked at (cheap, not free)
_PRUNE_S = 60.0  # ended exec sessions and old events


class HandleLocks:
    """One lock per container handle, so create, destroy and stop of one container never
    interleave while different containers proceed in parallel."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextlib.contextmanager
    def held(self, handle: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(handle, threading.Lock())
        with lock:
            yield


class Daemon:
    def __init__(self, engine: Engine, config: ServerConfig,
                 settings: Loaded | None = None) -> None:
        self.engine = engine
        self.config = config
        # where each setting came from, for `config show`
        self.settings = settings or Loaded(config=config, file=None, sources={})
        self.audit = AuditLog(engine.layout.audit_log)
        self.metrics = Metrics(engine)
        self.processes = ProcessTable(engine)
        self.stopping = threading.Event()  # attachers are told to come back later
        engine.notice = self._engine_notice
        self._next_monitor_check = 0.0
        self._next_prune = 0.0
        # --rm containers that have ended, removed once no stream follows their init:
        # handle -> when to remove anyway (monotonic); those left by an earlier run now
        self._removals: dict[str, float] = dict.fromkeys(engine.ended_removals(), 0.0)
        self.locks = HandleLocks()
        self._places_lock = threading.Lock()
        self._creating: Counter[str] = Counter()  # creates under way per identity
        self.netlog_status = "not started"
        self.landlock = engine.landlock_events(config.landlock_events, self._landlock_denied)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.host = HostWatch(self)

    def sockets(self) -> list[Path]:
        """Where this daemon listens: verify checks none of it is visible in a container."""
        return [self.config.socket]

    # -- audit ------------------------------------------------------------------------------

    def record_request(self, actor: str, action: str, target: str, result: str) -> None:
        self.audit.append(kind="api", action=action, actor=actor, target=target, result=result)

    def security(self, action: str, target: str, details: dict[str, Any] | None = None,
                 actor: str = "stockade") -> None:
        self.audit.append(kind="security", action=action, actor=actor, target=target,
                          result="recorded", details=details)

    def touch(self, handle: str) -> None:
        with contextlib.suppress(NotFound):
            self.engine.touch(handle)

    # -- container lifecycle with locking and timing ----------------------------------------

    def create(self, request: CreateRequest, actor: str,
               identity: Identity = access.ROOT) -> ContainerInfo:
        spec = request.spec
        access.check_create(identity, spec, self.config.access)
        for weakening in spec.unsafe.in_use():
            self.security("unsafe option", spec.handle, {"option": weakening}, actor)
        started = time.monotonic()
        with self._place_for(identity), self.locks.held(spec.handle):
            if request.attach:
                info = self.processes.create_attached(spec, identity.name,
                                                      auto_remove=request.auto_remove)
            else:
                info = self.engine.create(spec, stdin=request.stdin,
                                          auto_remove=request.auto_remove, owner=identity.name)
                if request.start:
                    info = self.engine.start(spec.handle)
        self.metrics.create_seconds.observe(time.monotonic() - started)
        return info

    @contextlib.contextmanager
    def _place_for(self, identity: Identity) -> Iterator[None]:
        """Holds one of the identity's container places while its create runs. Creates
        under way count with the stored ones, so parallel creates cannot both take the
        last place; the lock is held only for the count, not the create."""
        allowed = identity.limits.containers if identity.limits else None
        if allowed is None:
            yield
            return
        with self._places_lock:
            held = self.engine.state.count_owned(identity.name) + self._creating[identity.name]
            if held >= allowed:
                raise LimitReached(f"{identity.describe()} has {held} containers: limit "
                                   f"containers is {allowed}")
            self._creating[identity.name] += 1
        try:
            yield
        finally:
            with self._places_lock:
                self._creating[identity.name] -= 1

    def check_visible(self, identity: Identity, handle: str) -> None:
        access.check_visible(self.engine, identity, handle)

    def visible(self, identity: Identity, infos: list[ContainerInfo]) -> list[ContainerInfo]:
        return [info for info in infos if access.may_see(identity, info.owner)]

    def destroy(self, handle: str) -> None:
        started = time.monotonic()
        with self.locks.held(handle):
            self.engine.destroy(handle)
        self.metrics.destroy_seconds.observe(time.monotonic() - started)

    def stop(self, handle: str, timeout_s: float | None) -> ContainerInfo:
        with self.locks.held(handle):
            return self.engine.stop(handle, timeout_s)

    def start(self, handle: str) -> ContainerInfo:
        with self.locks.held(handle):
            return self.engine.start(handle)

    def restart(self, handle: str, timeout_s: float | None) -> ContainerInfo:
        with self.locks.held(handle):
            return self.engine.restart(handle, timeout_s)

    # -- background work --------------------------------------------------------------------

    def start_background(self) -> None:
        opened = self.landlock.open()
        if opened.claim is not None and opened.claim.turned_on:
            self.security("kernel audit enabled", "", {
                "why": "Landlock denial events", "until": "the last stockade daemon stops"})
        log.info("Landlock denial events: %s", opened.status.detail)
        self.host.start()
        for target, name in ((self._watch, "watcher"), (self._read_netlog, "netlog"),
                             (self._read_landlock, "landlock"), (self._watch_host, "host")):
            thread = threading.Thread(target=target, name=f"stockade-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop_background(self) -> None:
        self.stopping.set()
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._remove_before_stopping()
        if self.landlock.close():
            self.security("kernel audit disabled", "", {"why": "as found at start"})

    def _watch(self) -> None:
        while not self._stop.wait(self.config.reaper_interval_s):
            try:
                self.sweep()
            except Exception:  # one bad container must not stop the watcher
                log.exception("watcher sweep failed")

    def sweep(self) -> None:
        """Exits (also those that happened while the daemon was down), OOM kills,
        auto-remove, containers whose grace time ran out, log rotation; now and then lost
        monitors and pruning."""
        for handle in self.engine.enforce_oom():
            log.warning("container %s ran out of memory: its other processes were killed",
                        handle)
        for record, status in self.engine.unreported_exits():
            self.engine.report_exit(record.handle)
            if status.oom_killed:
                self.security("out of memory kill", record.handle,
                              {"exit_code": status.exit_code})
            if record.auto_remove:
                self._removals[record.handle] = time.monotonic() + _FOLLOWED_REMOVAL_S
        self._remove_exited()
        for handle in self.engine.expired(time.time()):
            self._reap(handle, "grace time expired")
        self.engine.rotate_logs()
        now = time.monotonic()
        if now >= self._next_monitor_check:
            self._next_monitor_check = now + _MONITOR_CHECK_S
            self.engine.check_monitors()
        if now >= self._next_prune:
            self._next_prune = now + _PRUNE_S
            self.processes.prune()
            self.engine.prune_events()
        self._guard_firewall()

    def _remove_exited(self) -> None:
        """Containers made with --rm go once their init has ended, and once no stream
        follows the init any more (it has sent the exit code: `run --rm` returns as soon
        as it has it, and the removal happens here), or after _FOLLOWED_REMOVAL_S."""
        now = time.monotonic()
        for handle, deadline in list(self._removals.items()):
            if self.processes.followed(handle) and now < deadline:
                continue
            del self._removals[handle]
            self._reap(handle, "auto-remove after exit")

    def _remove_before_stopping(self) -> None:
        """The --rm containers that have ended go now, followed or not: a `run --rm` that
        returned just before the daemon stopped must not leave its container behind."""
        try:
            for record, _ in self.engine.unreported_exits():
                self.engine.report_exit(record.handle)
                if record.auto_remove:
                    self._removals[record.handle] = 0.0
        except Exception:  # the removals below still run
            log.exception("collecting exits before stopping failed")
        for handle in list(self._removals):
            del self._removals[handle]
            self._reap(handle, "auto-remove after exit")

    def _engine_notice(self, action: str, handle: str, details: dict[str, Any]) -> None:
        """What the engine noticed by itself (a lost monitor): logged and audited."""
        log.warning("container %s: %s", handle, action)
        self.security(action, handle, details)

    def _guard_firewall(self) -> None:
        """Someone removed the firewall (nft flush ruleset, the nftables service); the
        port guards pass nothing to the containers until it is back, which is now."""
        try:
            restored = self.engine.guard_firewall()
        except StockadeError as exc:
            log.error("cannot restore the firewall: %s", exc)
            return
        if restored:
            log.warning("firewall rules were removed; restored for %d containers",
                        len(restored))
            self.security("firewall restored", "", {"containers": restored})

    def _reap(self, handle: str, why: str) -> None:
        try:
            self.destroy(handle)
        except NotFound:
            return
        except StockadeError as exc:
            log.warning("cannot destroy %s (%s): %s", handle, why, exc)
            return
        self.audit.append(kind="lifecycle", action="destroy", actor="stockade",
                          target=handle, result=f"ok: {why}")

    def _read_netlog(self) -> None:
        try:
            reader = self.engine.network_log_reader(self._egress_record)
        except (StockadeError, OSError) as exc:
            self.netlog_status = f"unavailable: {exc}"
            log.warning("network log not recorded: %s", exc)
            return
        self.netlog_status = "recording"
        try:
            reader.run(self._stop)
        finally:
            reader.close()

    def _watch_host(self) -> None:
        self.host.run(self._stop)

    def _read_landlock(self) -> None:
        self.landlock.run(self._stop)

    def _landlock_denied(self, handle: str, detail: str) -> None:
        self.security("landlock denied", handle, {"detail": detail})

    def _egress_record(self, entry: dict[str, Any]) -> None:
        if entry.get("verdict") == "denied" and entry.get("scope") == self.engine.network.scope:
            self.security("egress denied", str(entry.get("handle", "")),
                          {k: entry.get(k) for k in ("destination", "protocol", "port")})
