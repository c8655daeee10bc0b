"""The lifecycle: create, start, exec, stop, destroy, with rollback at every step."""

import builtins
import contextlib
import functools
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, BinaryIO

from stockade import images, native, network, policy, volumes
from stockade.engine import archive, binds, modes, noexec_dirs, recovery, sessions, usage
from stockade.engine.config import EngineConfig
from stockade.engine.landlock_events import LandlockEvents, Setting
from stockade.engine.layout import Layout
from stockade.engine.netops import NetworkOps
from stockade.engine.phases import PhaseLog
from stockade.engine.reach import check_reachable
from stockade.engine.sessions import Session
from stockade.engine.state import (
    DEFAULT_TARGET,
    LOCAL_OWNER,
    ExitStatus,
    Record,
    StateStore,
)
from stockade.errors import Conflict, HostUnsupported, InvalidSpec, NotFound
from stockade.host import HostFeatures
from stockade.images import commands, users, vulndb
from stockade.images.limits import UnpackLimits
from stockade.images.progress import Progress
from stockade.images.unpack import IdShift, UnpackReport
from stockade.linux import private
from stockade.network import netlog
from stockade.policy import landlock
from stockade.policy import noexec as noexec_policy
from stockade.policy import runtime as runtime_policy
from stockade.policy.compile import DEFAULT_PATH
from stockade.policy.exec import exec_process
from stockade.runtime import apparmor, cgroups, memfd, processes
from stockade.runtime import conmon as monitor
from stockade.runtime.conmon import Conmon
from stockade.runtime.logfile import LogFiles
from stockade.runtime.runc import Runc, RuncError, Stdio
from stockade.spec import (
    BindMount,
    Capacity,
    ContainerInfo,
    ContainerMetrics,
    ContainerSpec,
    DiskInfo,
    Limits,
    LimitsInfo,
    LimitsPatch,
    LogInfo,
    LogOptions,
    PortMapping,
    format_ports,
)
from stockade.wire.images import GcReport

_POLL_S = 0.02
_LOST_POLL_S = 0.2  # a container whose monitor was lost is watched through runc: dearer
_MONITOR_CHECK_S = 0.5  # how often a waiter looks whether the monitor still lives
_ROTATE_AT = 0.75  # rotate a live log at this share of its cap (conmon truncates at the cap)
EVENTS_SHOWN = 20  # the newest events inspect lists
_SESSION_ID = re.compile(r"[0-9a-f]{12}")
_LAYERS_FILE = "layers.json"  # the layer keys a container runs on, kept from gc
_INIT_PID_GRACE_S = 5.0  # audit records are read late: an init pid outlives its exit so long


class Undo:
    """A stack of compensating actions, run newest first when a create fails."""

    def __init__(self) -> None:
        self._steps: list[Callable[[], None]] = []

    def push(self, step: Callable[[], None]) -> None:
        self._steps.append(step)

    def run(self) -> None:
        while self._steps:
            with contextlib.suppress(Exception):
                self._steps.pop()()


class Engine:
    """Owns the state store; the only component that calls more than one subsystem."""

    def __init__(self, config: EngineConfig, host: HostFeatures) -> None:
        self.config = config
        self.host = host
        # before anything is made: a runc without the CVE-2024-21626 fix is refused by name
        runc_fix = runtime_policy.runc_minimum(host)
        if not runc_fix.available:
            raise HostUnsupported(runc_fix.detail)
        self.layout = Layout(config.root)
        # container root is host id_base (uid and gid): it must reach every rootfs
        check_reachable(config.root, config.id_base, config.id_base)
        modes.make_root(config.root)
        # an older root left secrets readable: close it before anything opens it;
        # reconcile hands the changes to the audit log
        self._repaired = modes.repair(config.root, config.id_base)
        modes.make_dir(self.layout.containers, modes.PASSAGE)
        modes.make_dir(self.layout.runc_root, modes.PRIVATE_DIR)
        private.create(self.layout.database)  # sqlite gives its -wal and -shm this mode
        private.create(self.layout.runc_log)
        self.state = StateStore(self.layout.database)
        self.vulndb = vulndb.VulnDB(self.layout.vulndb)
        self.images = images.ImageStore(self.layout.images, config.id_base, policy.IdMap(
            host_base=config.id_base).size)
        self.volumes = volumes.Volumes(volumes.VolumeConfig(
            root=config.root, backend=config.quota_backend,
            store_bytes=config.volume_store_bytes))
        self.runc = Runc(self.layout.runc_root, self.layout.runc_log, config.runc_binary)
        modes.make_dir(self.layout.exit_dir, modes.PRIVATE_DIR)
        self.conmon = Conmon(config.conmon_binary, config.runc_binary, self.layout.runc_root,
                             self.layout.runc_log, self.layout.exit_dir)
        # told of events worth an audit record that the engine notices on its own (a lost
        # monitor): the daemon sets it
        self.notice: Callable[[str, str, dict[str, Any]], None] | None = None
        self.init_binary = native.binary("init", self.layout.helpers)
        self.probe_binary = native.binary("probe", self.layout.helpers)
        if host.apparmor.available:
            apparmor.load_profile()  # the policy names it in every config on such hosts
        self.network = network.NetworkManager(config.network, scope=str(config.root))
        self.net = NetworkOps(self.state, self.network, known=self._exists)
        self.phases = PhaseLog()  # seconds per lifecycle step, for the benchmarks

    def close(self) -> None:
        self.network.close()
        self.state.close()

    def _exists(self, handle: str) -> bool:
        """Asked again right before removing: a create may have begun meanwhile."""
        try:
            self.state.get(handle)
        except NotFound:
            return False
        return True

    # -- create -------------------------------------------------------------------------

    def create(self, spec: ContainerSpec, *, stdin: bool = False, auto_remove: bool = False,
               owner: str = LOCAL_OWNER) -> ContainerInfo:
        """Build every layer, then `runc create` under the container's monitor; on any
        failure undo all of it. With `stdin` the monitor keeps the init's stdin open for an
        attacher (docs/engine.md); without, the init reads /dev/null."""
        self.phases.mark(spec.handle, fresh=True)
        spec = spec.model_copy(update={"log": LogOptions(
            max_bytes=spec.log.max_bytes or self.config.log_max_bytes,
            max_files=spec.log.max_files or self.config.log_max_files)})
        _check_cpuset(spec.limits.cpuset_cpus)
        for name in spec.security_groups:
            self.state.group(name)  # NotFound before anything is built
        self.state.insert(spec, auto_remove, owner)
        undo = Undo()
        undo.push(lambda: self.state.delete(spec.handle))
        undo.push(lambda: self._forget_network_records(spec.handle))
        for name in spec.security_groups:
            self.state.bind(name, spec.handle)
        self.phases.lap(spec.handle, "state")
        try:
            self._build(spec, stdin, undo)
        except BaseException:
            undo.run()
            raise
        return self.inspect(spec.handle)

    def _build(self, spec: ContainerSpec, stdin: bool, undo: Undo) -> None:
        staging = self.layout.binds(spec.handle)
        undo.push(lambda: binds.unstage(staging))
        mounts = binds.stage(spec.mounts, self.config.bind_allowlist, staging)
        directory = self.layout.container(spec.handle)
        directory.mkdir(mode=modes.PRIVATE_DIR)
        undo.push(lambda: shutil.rmtree(directory, ignore_errors=True))
        modes.make_dir(directory, modes.GATE, group=self.config.id_base)  # runc's way in
        for weakening in spec.unsafe.in_use():  # loud and permanent in inspect and events
            self.state.add_event(spec.handle, "unsafe", weakening)
        image = self.images.get(spec.image)
        private.write(directory / _LAYERS_FILE, json.dumps(image.layer_keys))
        self.phases.lap(spec.handle, "image")
        undo.push(lambda: self.volumes.destroy(directory))
        rootfs = self.volumes.create(directory, image.layers, owner=self.config.id_base,
                                     disk_bytes=spec.limits.disk_bytes)
        self.phases.lap(spec.handle, "volume")
        self._bring_up(spec, stdin, image, rootfs.merged, mounts, undo)

    def _bring_up(self, spec: ContainerSpec, stdin: bool, image: images.Image, rootfs: Path,
                  mounts: builtins.list[BindMount], undo: Undo) -> None:
        """Network reservation, the config, the monitor and `runc create`, the wiring: what a
        create does once the root filesystem exists, and a restart does again."""
        staging = self.layout.binds(spec.handle)
        undo.push(lambda: self.network.detach(spec.handle))
        modes.make_dir(self.layout.network_files(spec.handle), modes.GATE,
                       group=self.config.id_base)
        request = self._network_request(spec)
        attachment = self.network.reserve(request)
        self.phases.lap(spec.handle, "network")
        context = self._context(spec, image, rootfs, attachment)
        staged_dirs = noexec_dirs.stage(rootfs, noexec_policy.rootfs_dirs(spec), staging)
        context = context.model_copy(update={"noexec_dirs": tuple(staged_dirs)})
        config = policy.build_config(spec.model_copy(update={"mounts": mounts}), self.host,
                                     context)
        bundle = self.layout.bundle(spec.handle)
        bundle.mkdir(mode=0o700, exist_ok=True)
        private.write(bundle / "config.json", json.dumps(config, indent=1))
        self.phases.lap(spec.handle, "policy")
        undo.push(lambda: self._release_runtime(spec.handle))
        pid = self._launch(spec, stdin)
        memfd.enforce(pid)  # before the application runs: no executable memory files
        binds.unstage(staging)  # the container's mount namespace holds its own copies now
        self.phases.lap(spec.handle, "runc create")
        self.network.connect(request, pid, self.net.groups)
        self.phases.lap(spec.handle, "network")
        self.state.update(spec.handle, state="created", pid=pid,
                          command=json.dumps(list(context.args)))
        self.phases.lap(spec.handle, "state")

    def _network_request(self, spec: ContainerSpec) -> network.AttachRequest:
        """Address, ports, groups and policies; wired once runc has made the namespace."""
        idmap = policy.IdMap(host_base=self.config.id_base)
        return network.AttachRequest(
            handle=spec.handle, files_dir=self.layout.network_files(spec.handle),
            ports=spec.ports, groups=self.state.bound(spec.handle),
            defaults=self.state.bound(DEFAULT_TARGET), policies=self.state.policies(spec.handle),
            ping_gids=(idmap.host_base, idmap.host_base + idmap.size - 1),
            hostname=spec.hostname,
        )

    def _context(self, spec: ContainerSpec, image: images.Image, rootfs: Path,
                 attachment: network.Attachment) -> policy.BundleContext:
        uid, gid = users.resolve(rootfs, spec.process.user or image.config.user)
        if spec.process.entrypoint is not None:  # docker: a new entrypoint drops the CMD too
            args = list(spec.process.entrypoint) + list(spec.process.args)
        else:
            args = list(image.config.entrypoint) + (spec.process.args or
                                                    list(image.config.cmd))
        cwd = commands.start_path(rootfs, spec.process.cwd or image.config.working_dir or "/",
                                  "working directory")
        if args:
            if args[0].startswith("/"):
                commands.start_path(rootfs, args[0], "command")
            # a missing or unrunnable command is refused here, before runc: the create is
            # undone whole and the CLI exits 127 or 126. runc cannot tell us later: it runs
            # our init, which finds the command only after `start` (and exits 127 or 126
            # then, the backstop for whatever this check leaves to it, binds among them)
            env = ({"PATH": DEFAULT_PATH} | dict(e.partition("=")[::2] for e in image.config.env)
                   | spec.process.env)
            commands.require_command(rootfs, args[0], env["PATH"], cwd,
                                     mounted=[m.container_path for m in spec.mounts])
        return policy.BundleContext(
            rootfs=str(rootfs), uid=uid, gid=gid, idmap=policy.IdMap(host_base=self.config.id_base),
            cgroup_parent=self.config.cgroup_parent, image_env=image.config.env, cwd=cwd,
            args=tuple(args), helpers_dir=str(self.layout.helpers),
            top_level_dirs=commands.top_level(rootfs),
            extra_mounts=(_file_mount(attachment.hosts, "/etc/hosts"),
                          _file_mount(attachment.resolv_conf, "/etc/resolv.conf")),
        )

    def _launch(self, spec: ContainerSpec, stdin: bool) -> int:
        paths = self.layout.monitor(spec.handle)
        modes.make_dir(paths.persist, modes.PRIVATE_DIR)
        assert spec.log.max_bytes is not None  # create filled in the default
        pid = self.conmon.create(spec.handle, paths, stdin=stdin,
                                 terminal=spec.process.terminal,
                                 log_max_bytes=spec.log.max_bytes)
        os.chmod(paths.pid_file, private.MODE)  # runc writes it under the umask it runs with
        cgroups.tighten_devices(self._cgroup_path(spec.handle))
        return pid

    def _cgroup_path(self, handle: str) -> str:
        return f"/{self.config.cgroup_parent}/{handle}"

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, handle: str) -> ContainerInfo:
        record = self.state.get(handle)
        if self._status(record) != "created":
            raise Conflict(f"container {handle} is {self._status(record)}, not created")
        self.phases.mark(handle)
        self.runc.start(handle)
        self.phases.lap(handle, "runc start")
        self.state.update(handle, state="running", started_at=time.time())
        return self.inspect(handle)

    def wait(self, handle: str, timeout: float | None = None) -> ExitStatus | None:
        """How the init ended, once it has, or None at the timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        next_check = 0.0  # when to look again whether the monitor lives
        while True:
            record = self.state.get(handle)
            check = time.monotonic() >= next_check
            if check:
                next_check = time.monotonic() + _MONITOR_CHECK_S
            status = self._settle(record, check_monitor=check)
            if status is not None:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(_LOST_POLL_S if record.monitor_lost_at else _POLL_S)

    def signal(self, handle: str, signal: str = "TERM") -> None:
        self.state.get(handle)
        self.runc.kill(handle, signal, all_processes=True)

    def stop(self, handle: str, timeout: float | None = None) -> ContainerInfo:
        """TERM, then KILL after the grace period; stopping a stopped container is fine.
        runc signals the init directly: this works when its monitor was lost too."""
        record = self.state.get(handle)
        if self._status(record) in ("running", "created"):
            with contextlib.suppress(RuncError):
                self.runc.kill(handle, "TERM")
            if self.wait(handle, timeout or self.config.stop_timeout_s) is None:
                with contextlib.suppress(RuncError):
                    self.runc.kill(handle, "KILL")
                self.wait(handle, self.config.stop_timeout_s)
        return self.inspect(handle)

    def restart(self, handle: str, timeout: float | None = None) -> ContainerInfo:
        """Stop (TERM, then KILL after the grace period) if it runs, then run the container
        again on the same writable layer: a new monitor, namespace and network wiring (its
        address may change), the same spec. A failure leaves it stopped, with an event."""
        record = self.state.get(handle)
        if record.state == "creating":
            raise Conflict(f"container {handle} is still being created")
        if record.auto_remove:
            raise Conflict(f"container {handle} is removed when it exits (--rm); it cannot be "
                           "restarted")
        self.stop(handle, timeout)
        self.phases.mark(handle, fresh=True)
        self._release_runtime(handle)
        self.network.detach(handle)
        self.state.clear_exit(handle)
        spec = record.spec
        staging = self.layout.binds(handle)
        undo = Undo()
        try:
            undo.push(lambda: binds.unstage(staging))
            mounts = binds.stage(spec.mounts, self.config.bind_allowlist, staging)
            rootfs = self.volumes.rootfs(self.layout.container(handle)).merged
            self._bring_up(spec, False, self.images.get(spec.image), rootfs, mounts, undo)
        except BaseException as exc:
            undo.run()
            self.state.add_event(handle, "restart failed", str(exc).splitlines()[0]
                                 if str(exc) else type(exc).__name__)
            self.state.record_exit(handle, ExitStatus(None, False, time.time()),
                                   self.state.get(handle).pid)
            raise
        self.state.add_event(handle, "restarted")
        return self.start(handle)

    # -- how inits end ----------------------------------------------------------------------

    def _settle(self, record: Record, check_monitor: bool = True) -> ExitStatus | None:
        """The init's end: from the record, else from its monitor's files (then written
        into the record, with its events, and the files removed), else from runc when the
        monitor was lost. None while it runs."""
        if record.finished_at is not None or record.state not in ("created", "running"):
            return record.ended
        paths = self.layout.monitor(record.handle)
        ended = monitor.ended(paths)
        if ended is not None:
            return self._record_exit(record, ExitStatus(ended.exit_code, ended.oom_killed,
                                                        ended.finished_at))
        if record.monitor_lost_at is None:
            if not check_monitor or monitor.monitor_alive(paths):
                return None
            ended = monitor.ended(paths)  # it wrote the end and left in the meantime
            if ended is not None:
                return self._record_exit(record, ExitStatus(
                    ended.exit_code, ended.oom_killed, ended.finished_at))
            self._monitor_lost(record.handle)
        if self._init_running(record.handle):
            return None
        # nobody saw how it ended; an OOM kill still shows in the cgroup while it exists
        oom = paths.oom_file.exists() or cgroups.oom_kills(self._cgroup_path(record.handle)) > 0
        return self._record_exit(record, ExitStatus(None, oom, time.time(), lost=True))

    def _init_running(self, handle: str) -> bool:
        state = self.runc.state(handle)
        return state is not None and state.get("status") in ("created", "running", "paused")

    def _monitor_lost(self, handle: str) -> None:
        now = time.time()
        if not self.state.record_monitor_lost(handle, now):
            return
        detail = ("the monitor (conmon) is gone; the container is still managed through runc, "
                  "but its exit status will be unknown")
        self.state.add_event(handle, "monitor lost", detail)
        if self.notice is not None:
            self.notice("monitor lost", handle, {"noticed_at": now})

    def _record_exit(self, record: Record, status: ExitStatus) -> ExitStatus:
        """Written down once (concurrent readers race here), with its events; then the
        monitor's files go: the record is the one store. A reader holding a record from
        before a restart writes nothing and removes nothing (state.record_exit)."""
        if not self.state.record_exit(record.handle, status, record.pid):
            try:
                now = self.state.get(record.handle)
            except NotFound:
                return status
            if now.finished_at is None:  # it runs again: these files are the new run's
                return status
        else:
            detail = "unknown: the monitor was lost" if status.exit_code is None \
                else str(status.exit_code)
            self.state.add_event(record.handle, "exited", detail)
            if status.oom_killed:
                self.state.add_event(record.handle, "out of memory")
        paths = self.layout.monitor(record.handle)
        for path in (paths.exit_file, paths.oom_file, self.layout.exit_dir / record.handle):
            path.unlink(missing_ok=True)
        return self.state.get(record.handle).ended or status

    def collect_exits(self) -> builtins.list[str]:
        """Record the ends the monitors wrote to the exit directory since last time (also
        those written while the daemon was down); the handles."""
        found = []
        with contextlib.suppress(FileNotFoundError):
            for entry in os.listdir(self.layout.exit_dir):
                try:
                    record = self.state.get(entry)
                except NotFound:
                    (self.layout.exit_dir / entry).unlink(missing_ok=True)
                    continue
                if self._settle(record, check_monitor=False) is not None:
                    found.append(entry)
        return found

    def check_monitors(self) -> builtins.list[str]:
        """Notice monitors lost since last time, and ends of their inits; the handles whose
        monitor is (now) known to be lost."""
        lost = []
        for record in self.state.all():
            if record.finished_at is None and record.state in ("created", "running"):
                self._settle(record)
                if self.state.get(record.handle).monitor_lost_at is not None:
                    lost.append(record.handle)
        return lost

    def enforce_oom(self) -> builtins.list[str]:
        """The kernel's OOM killer ends one process; the rest of a container that ran out of
        memory goes too, as its limit promises. The handles killed."""
        killed = []
        for record in self.state.all():
            if record.finished_at is None and record.state == "running" and \
                    self.layout.monitor(record.handle).oom_file.exists():
                with contextlib.suppress(RuncError):
                    self.runc.kill(record.handle, "KILL", all_processes=True)
                    killed.append(record.handle)
        return killed

    def destroy(self, handle: str) -> None:
        """Remove every trace; safe to call twice and on half-created containers."""
        self.state.get(handle)
        self.phases.mark(handle)
        self._release_runtime(handle)
        binds.unstage(self.layout.binds(handle))  # left by a daemon killed mid-create
        self.phases.lap(handle, "teardown: runtime")
        self.network.detach(handle)
        self.phases.lap(handle, "teardown: network")
        directory = self.layout.container(handle)
        self.volumes.destroy(directory)
        shutil.rmtree(directory, ignore_errors=True)
        self.phases.lap(handle, "teardown: volume")
        self._forget_network_records(handle)
        self.state.delete(handle)
        self.phases.lap(handle, "teardown: state")

    def _forget_network_records(self, handle: str) -> None:
        """Bindings and policies name handles; a later container of that name starts clean."""
        self.state.unbind_target(handle)
        for item in self.state.policies(handle):
            self.state.remove_policy(item)

    def net_in(self, handle: str, host_port: int, container_port: int,
               protocol: str = "tcp", host_ip: IPv4Address | None = None) -> ContainerInfo:
        """Publish one more port of a container (host port 0 picks a free one), on every
        host address or on `host_ip` alone."""
        mapping = PortMapping(host_port=host_port, container_port=container_port,
                              protocol=protocol, host_ip=host_ip)
        landlock.check_publishable(self.state.get(handle).spec, mapping)
        self.net.publish(handle, mapping)
        return self.inspect(handle)

    def guard_firewall(self) -> builtins.list[str]:
        """Put the firewall back for containers whose rules someone removed (the port
        guards pass them nothing meanwhile); the handles restored. Cheap when all is well."""
        if not self.network.firewall_missing():
            return []
        requests = [self._network_request(record.spec) for record in self.state.all()]
        return self.network.restore(requests, self.net.groups)

    def port_state(self, handle: str) -> network.PortState | None:
        """The container's port guard and table rules, for verify's firewall row."""
        return self.network.port_state(handle)

    def network_log_reader(self, listener: Callable[[dict[str, Any]], None] | None = None,
                           ) -> netlog.NetworkLogReader:
        """Binds the firewall's log group; run it to fill network-log.jsonl (see docs)."""
        return netlog.NetworkLogReader(self.config.network, listener)

    def landlock_events(self, setting: Setting = "auto",
                        listener: Callable[[str, str], None] | None = None) -> LandlockEvents:
        """Landlock denials as container events where the kernel reports them; open it,
        run it until stopped, close it (see docs/security-model.md)."""
        return LandlockEvents(self, self.config.cgroup_parent, self.host.landlock_abi,
                              setting, listener)

    def init_pids(self, at: float) -> dict[int, str]:
        """Host pid of each container's init -> handle, for inits that ran at time `at`."""
        found = {}
        for record in self.state.all():
            if record.pid is None or record.state not in ("created", "running"):
                continue
            if record.finished_at is None or record.finished_at >= at - _INIT_PID_GRACE_S:
                found[record.pid] = record.handle
        return found

    def owns(self, handle: str) -> bool:
        return self._exists(handle)

    def _release_runtime(self, handle: str) -> None:
        self.runc.delete(handle)  # --force kills what is still running, exec'd ones too
        # the monitors write their records and leave; none may outlive the container
        watched = [self.layout.monitor(handle)] + [
            self.layout.exec_session(handle, entry.name) for entry in
            _entries(self.layout.exec_sessions(handle))]
        deadline = time.monotonic() + self.config.stop_timeout_s
        for paths in watched:
            while monitor.monitor_alive(paths) and time.monotonic() < deadline:
                time.sleep(_POLL_S / 2)
        (self.layout.exit_dir / handle).unlink(missing_ok=True)
        cgroups.remove_empty_parents(self._cgroup_path(handle))

    # -- live changes ---------------------------------------------------------------------

    def update_limits(self, handle: str, patch: LimitsPatch) -> ContainerInfo:
        """New cgroup limits through runc, a new disk quota through the volume backend."""
        record = self.state.get(handle)
        changes = patch.model_dump(exclude_none=True)
        limits = Limits.model_validate(record.spec.limits.model_dump() | changes)
        if self._status(record) in ("created", "running"):
            self.runc.update(handle, memory_bytes=limits.memory_bytes,
                             cpu_shares=policy.effective_cpu_shares(limits), pids=limits.pids,
                             cpu_quota=policy.cpu_quota(limits.cpus) if limits.cpus else None)
        if "disk_bytes" in changes:
            self.volumes.resize(self.layout.container(handle), limits.disk_bytes)
        self.state.replace_spec(record.spec.model_copy(update={"limits": limits}))
        return self.inspect(handle)

    def set_properties(self, handle: str, properties: dict[str, str | None]) -> ContainerInfo:
        """Set keys; a None value removes the key."""
        spec = self.state.get(handle).spec
        merged = {**spec.properties, **properties}
        kept = {k: v for k, v in merged.items() if v is not None}
        self.state.replace_spec(ContainerSpec.model_validate(
            spec.model_dump() | {"properties": kept}))
        return self.inspect(handle)

    def touch(self, handle: str) -> None:
        """API activity: postpones the grace-time reaper."""
        self.state.update(handle, last_activity=time.time())

    def expired(self, now: float) -> builtins.list[str]:
        """Containers with a grace time and no activity for that long."""
        return [r.handle for r in self.state.all()
                if r.spec.grace_time_s is not None and r.state != "creating"
                and now - (r.last_activity or r.created_at) > r.spec.grace_time_s]

    def ended_removals(self) -> builtins.list[str]:
        """Containers made with --rm whose end was reported but that are still here (the
        daemon stopped before it removed them): to remove now."""
        return [r.handle for r in self.state.all()
                if r.auto_remove and r.exit_reported and r.finished_at is not None]

    def unreported_exits(self) -> builtins.list[tuple[Record, ExitStatus]]:
        """Ends the daemon has not acted on yet (auto-remove, audit), including those that
        happened while it was down: the monitors' records outlive everything above them."""
        self.collect_exits()
        return [(record, status) for record in self.state.all()
                if not record.exit_reported and (status := record.ended) is not None]

    def report_exit(self, handle: str) -> None:
        self.state.update(handle, exit_reported=1)

    def add_container_event(self, handle: str, kind: str, detail: str) -> bool:
        """An event for `events`, which `inspect` lists too; False when the container is
        gone."""
        if not self._exists(handle):
            return False
        self.state.add_event(handle, kind, detail)
        return True

    def prune_events(self) -> int:
        return self.state.prune_events(time.time() - self.config.events_max_age_s,
                                       self.config.events_max_count)

    def metrics(self, handle: str) -> ContainerMetrics:
        record = self.state.get(handle)
        disk = self.volumes.usage(self.layout.container(handle))
        metrics = usage.container_metrics(record.spec, self._cgroup_path(handle), disk,
                                          self.network.counters(handle))
        return metrics.model_copy(update={"log_bytes": self.log_files(handle).total_bytes()})

    def capacity(self) -> Capacity:
        return usage.host_capacity(self.config.root, self.network.free_addresses(),
                                   len(self.state.all()))

    # -- recovery -------------------------------------------------------------------------

    def reconcile(self) -> builtins.list[str]:
        """Adopt whole containers, tear down half-created ones, then sweep what no record
        owns (runc state, links, rules, volumes, directories). The lines start with the
        file modes the construction repaired."""
        done, self._repaired = self._repaired, []  # modes repaired at construction
        for record in self.state.all():
            runc_state = self.runc.state(record.handle)
            paths = self.layout.monitor(record.handle)
            if not recovery.is_complete(record, self.layout.container(record.handle),
                                        monitor.ended(paths) is not None,
                                        runc_state is not None):
                self.destroy(record.handle)
                done.append(f"tore down half-created container {record.handle}")
                continue
            if recovery.started_unrecorded(record, runc_state):
                # killed between `runc start` and writing it down; the time is the adoption's
                self.state.update(record.handle, state="running", started_at=time.time())
                done.append(f"recorded the start of {record.handle}")
            done += self._adopt(self.state.get(record.handle))
        known = {record.handle for record in self.state.all()}
        for cid in recovery.stray_runc_ids(self.layout.runc_root, known):
            self.runc.delete(cid)
            cgroups.remove_empty_parents(self._cgroup_path(cid))
            done.append(f"deleted runc container {cid} that had no record")
        return done + self.cleanup()

    def _adopt(self, record: Record) -> builtins.list[str]:
        """Exits written while the daemon was down; monitors lost meanwhile."""
        was_lost = record.monitor_lost_at is not None
        status = self._settle(record)
        if not was_lost and self.state.get(record.handle).monitor_lost_at is not None:
            return [f"the monitor of {record.handle} is gone: managed through runc, its exit "
                    "status will be unknown"]
        if status is not None and record.finished_at is None:
            return [f"recorded the exit of {record.handle} ({status.exit_code})"]
        return []

    # -- processes ------------------------------------------------------------------------

    def exec(self, handle: str, args: list[str], stdio: Stdio, env: dict[str, str] | None = None,
             user: str | None = None, *, tty: bool = False, cwd: str | None = None,
             rlimits: dict[str, int] | None = None) -> int:
        """Run `args` inside a running container with the init's hardening and wait for it;
        its exit code. The caller's `stdio` is the process's (no monitor, no log): for the
        platform's own short probes (verify, tests). Users' processes are exec sessions."""
        if self._status(self.state.get(handle)) != "running":
            raise Conflict(f"container {handle} is not running")
        if not args:
            raise InvalidSpec("exec needs a command")
        process = self._exec_process(handle, args, env, user, tty, cwd, rlimits, None)
        process_file = self.layout.container(handle) / f"exec-{os.getpid()}-{time.time_ns()}.json"
        private.write(process_file, json.dumps(process))
        try:
            return self.runc.exec(handle, process_file, stdio)
        finally:
            process_file.unlink(missing_ok=True)

    def _exec_process(self, handle: str, args: builtins.list[str], env: dict[str, str] | None,
                      user: str | None, tty: bool, cwd: str | None,
                      rlimits: dict[str, int] | None,
                      console_size: tuple[int, int] | None) -> dict[str, Any]:
        """The init's process with new args, env, user, cwd; `console_size` is (rows, cols)."""
        base = json.loads((self.layout.bundle(handle) / "config.json").read_text())["process"]
        rootfs = self.volumes.rootfs(self.layout.container(handle)).merged
        if cwd is not None:  # runc exec was the CVE-2024-21626 path too
            cwd = commands.start_path(rootfs, cwd, "working directory")
        ids = users.resolve(rootfs, user) if user else None
        return exec_process(base, args, env or {}, tty, cwd=cwd, user=ids, rlimits=rlimits,
                            console_size=console_size)

    # -- exec sessions: monitored processes that outlive the daemon ----------------------

    def exec_start(self, handle: str, args: list[str], env: dict[str, str] | None = None,
                   user: str | None = None, *, tty: bool = False, cwd: str | None = None,
                   rlimits: dict[str, int] | None = None,
                   console_size: tuple[int, int] | None = None) -> Session:
        """Start `args` in a running container under a monitor of its own, with stdin open
        for an attacher; returns once the process runs (docs/engine.md, "Exec sessions")."""
        if not args:
            raise InvalidSpec("exec needs a command")
        record = self.state.get(handle)
        if self._status(record) != "running":
            raise Conflict(f"container {handle} is {self._status(record)}, not running")
        process = self._exec_process(handle, args, env, user, tty, cwd, rlimits, console_size)
        self._check_exec_command(record, args[0], process)
        session = sessions.new_id(self.layout.exec_sessions(handle))
        paths = self.layout.exec_session(handle, session)
        process_file = sessions.prepare(paths, session, handle, args, tty, process)
        try:
            self.conmon.exec(handle, session, paths, process_file, stdin=True, terminal=tty,
                             log_max_bytes=record.spec.log.max_bytes or
                             self.config.log_max_bytes)
        except BaseException:
            shutil.rmtree(paths.persist, ignore_errors=True)
            raise
        finally:
            process_file.unlink(missing_ok=True)
        return sessions.load(paths)

    def _check_exec_command(self, record: Record, program: str,
                            process: dict[str, Any]) -> None:
        """An exec's command refused before a session exists when the init's execvp would
        fail on it (CommandNotFound, CommandNotRunnable: the CLI exits 127 or 126), judged
        in the running container's own view of its files, /proc/PID/root, where its binds
        and mounts are in place (images/commands.py resolves beneath it). Anything this
        cannot see is left to the init, which exits 127 or 126 itself."""
        if record.pid is None:
            return
        try:
            root_fd = os.open(f"/proc/{record.pid}/root",
                              os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return  # the init is gone: the exec fails on its own
        try:
            # pids are reused: the root is this container's only if the pid is still one
            # of its processes once the root is held
            if not sessions.in_cgroup(record.pid, self._cgroup_path(record.handle)):
                return
            env = dict(item.partition("=")[::2] for item in process.get("env", []))
            commands.check_command(root_fd, program, env.get("PATH", DEFAULT_PATH),
                                   str(process.get("cwd") or "/"))
        finally:
            os.close(root_fd)

    def exec_sessions(self, handle: str) -> builtins.list[Session]:
        self.state.get(handle)
        return sessions.all_in(self.layout.exec_sessions(handle),
                               functools.partial(self.layout.exec_session, handle))

    def exec_session(self, handle: str, session: str) -> Session:
        self.state.get(handle)
        if not _SESSION_ID.fullmatch(session):
            raise NotFound(f"container {handle} has no process {session}")
        try:
            return sessions.load(self.layout.exec_session(handle, session))
        except NotFound:
            raise NotFound(f"container {handle} has no process {session}") from None

    def session_log(self, handle: str, session: str) -> LogFiles:
        """A session's log: one file, capped by conmon like the container's."""
        return LogFiles(self.exec_session(handle, session).paths.log, 1)

    def signal_session(self, handle: str, session: str, signal: str) -> None:
        sessions.signal(self.exec_session(handle, session), self._cgroup_path(handle), signal)

    def prune_sessions(self, retention_s: float, keep_ended: int) -> int:
        """Ended sessions go after `retention_s`, and beyond `keep_ended` per container."""
        gone = 0
        now = time.time()
        for record in self.state.all():
            found = sessions.all_in(self.layout.exec_sessions(record.handle),
                                    functools.partial(self.layout.exec_session, record.handle))
            for session in sessions.expired(found, now, retention_s, keep_ended):
                sessions.remove(session)
                gone += 1
        return gone

    def top(self, handle: str) -> builtins.list[processes.ProcessRow]:
        """The container's processes as its cgroup holds them."""
        self.state.get(handle)
        return processes.in_cgroup(self._cgroup_path(handle), self.config.id_base,
                                   policy.IdMap(host_base=self.config.id_base).size)

    # -- files in and out (stockade cp) ---------------------------------------------------

    def archive_out(self, handle: str, path: str) -> Iterator[bytes]:
        """`path` of the container's tree as a tar stream (engine/archive.py)."""
        record = self.state.get(handle)
        if record.state == "creating":
            raise Conflict(f"container {handle} is still being created")
        return archive.pack(self.volumes.rootfs(self.layout.container(handle)).merged, path,
                            self.config.id_base)

    def archive_in(self, handle: str, path: str, stream: BinaryIO) -> UnpackReport:
        """Unpack a tar stream into the existing directory `path` of the container."""
        record = self.state.get(handle)
        if record.state == "creating":
            raise Conflict(f"container {handle} is still being created")
        ids = IdShift(self.config.id_base, policy.IdMap(host_base=self.config.id_base).size)
        return archive.unpack(self.volumes.rootfs(self.layout.container(handle)).merged, path,
                              stream, ids, UnpackLimits())

    # -- logs -----------------------------------------------------------------------------

    def log_files(self, handle: str) -> LogFiles:
        """The container's log (conmon's k8s-file format), rotated files included."""
        spec = self.state.get(handle).spec
        return LogFiles(self.layout.log_file(handle), spec.log.max_files or
                        self.config.log_max_files)

    def has_ended(self, handle: str) -> bool:
        """The init has ended and its monitor has written all of its output (or the
        container never ran, or its monitor was lost and the init is gone)."""
        try:
            record = self.state.get(handle)
        except NotFound:
            return True  # destroyed: nothing more comes
        if record.state not in ("created", "running"):
            return record.state != "creating"
        if self._settle(record) is None:
            return False
        return not monitor.monitor_alive(self.layout.monitor(handle))

    def rotate_logs(self) -> builtins.list[str]:
        """Rotate the live logs that reached most of their cap: conmon reopens at the path
        when told, and truncates by itself at the cap if nobody rotates in time (a flood,
        or no daemon). Keeps the disk used by logs at max_bytes x max_files per container."""
        rotated = []
        for record in self.state.all():
            if record.state not in ("created", "running") or record.finished_at is not None:
                continue
            cap = record.spec.log.max_bytes or self.config.log_max_bytes
            try:
                size = self.layout.log_file(record.handle).stat().st_size
            except OSError:
                continue
            if size >= cap * _ROTATE_AT:
                paths = self.layout.monitor(record.handle)
                if self.log_files(record.handle).rotate(functools.partial(monitor.reopen_log,
                                                                          paths)):
                    rotated.append(record.handle)
        return rotated

    # -- reporting ------------------------------------------------------------------------

    def _status(self, record: Record) -> str:
        if record.state in ("created", "running") and self._settle(
                record, check_monitor=False) is not None:
            return "stopped"
        return record.state

    def inspect(self, handle: str) -> ContainerInfo:
        return self._info(self.state.get(handle))

    def list(self) -> list[ContainerInfo]:
        return [self._info(record) for record in self.state.all()]

    def _info(self, record: Record) -> ContainerInfo:
        spec = record.spec
        status = self._settle(record, check_monitor=False)
        record = self.state.get(record.handle) if status is not None else record
        events = [f"{e.kind}: {e.detail}" if e.detail else e.kind
                  for e in self.state.latest_events(record.handle, EVENTS_SHOWN)]
        found = self.network.lookup(record.handle)
        ip, ports = (str(found[0]), [PortMapping(host_port=p.host_port,
                                                  container_port=p.container_port,
                                                  protocol=p.protocol, host_ip=p.host_ip)
                                      for p in found[1]]) if found else (None, spec.ports)
        return ContainerInfo(
            handle=record.handle, owner=record.owner,
            state="stopped" if status is not None else record.state, ip=ip,
            image=spec.image, ports=ports, properties=spec.properties,
            listen_ports=format_ports(landlock.bind_ports(spec)),
            connect_ports=landlock.connect_ports_text(spec),
            limits=LimitsInfo(memory_bytes=spec.limits.memory_bytes,
                              cpu_shares=policy.effective_cpu_shares(spec.limits),
                              pids=spec.limits.pids, disk_bytes=spec.limits.disk_bytes,
                              cpus=spec.limits.cpus),
            pid=record.pid if status is None else None, events=events,
            command=json.loads(record.command), created_at=record.created_at,
            started_at=record.started_at,
            finished_at=status.finished_at if status else None,
            exit_code=status.exit_code if status else None,
            exit_detail="unknown: the monitor (conmon) was lost before the container ended"
            if status is not None and status.lost else None,
            oom_killed=bool(status and status.oom_killed),
            disk=self._disk(record.handle), log=self._log_info(record),
            monitor=self._monitor_state(record, status),
        )

    def _log_info(self, record: Record) -> LogInfo:
        files = self.log_files(record.handle)
        return LogInfo(max_bytes=record.spec.log.max_bytes or self.config.log_max_bytes,
                       max_files=record.spec.log.max_files or self.config.log_max_files,
                       used_bytes=files.total_bytes())

    def _monitor_state(self, record: Record, status: ExitStatus | None) -> str:
        if record.monitor_lost_at is not None:
            return "lost"
        if record.state not in ("created", "running"):
            return "none"
        if status is not None:
            return "exited"
        return "running"

    def _disk(self, handle: str) -> DiskInfo | None:
        usage = self.volumes.usage(self.layout.container(handle))
        return DiskInfo.model_validate(usage.model_dump()) if usage else None

    def info(self) -> dict[str, Any]:
        """Host features plus what the engine chose from them."""
        return {"host": self.host.model_dump(mode="json"), "mac": self.host.mac,
                "runc_minimum": runtime_policy.runc_minimum(self.host).model_dump(),
                "root": str(self.config.root), "id_base": self.config.id_base,
                "quota": self.volumes.describe()}

    # -- images -----------------------------------------------------------------------------

    def import_image(self, path: Path, name: str | None = None, keep_setuid: bool = False,
                     progress: Progress | None = None,
                     within: tuple[Path, ...] = (Path("/"),)) -> images.Image:
        """Import from `path`, resolved below one of `within` without following symlinks."""
        return self.images.import_path(path, name, keep_setuid, progress, within)

    def build_base_image(self, name: str = "base",
                         progress: Progress | None = None) -> images.Image:
        return self.images.build_base(name, progress)

    def image(self, name: str) -> images.Image:
        return self.images.get(name)

    def image_users(self) -> dict[str, builtins.list[str]]:
        """Image name -> handles of the containers made from it."""
        users_of: dict[str, builtins.list[str]] = {}
        for record in self.state.all():
            users_of.setdefault(record.spec.image, []).append(record.handle)
        return users_of

    def list_images(self) -> builtins.list[tuple[images.Image, builtins.list[str]]]:
        self.images.get(images.EMBEDDED_NAME)  # the embedded image always exists
        in_use = self.image_users()
        return [(image, in_use.get(image.name, [])) for image in self.images.list()]

    def remove_image(self, name: str) -> GcReport:
        """Refused while a container uses it; layers nothing else needs go with it."""
        handles = self.image_users().get(name)
        if handles:
            raise Conflict(f"image {name} is used by container(s) {', '.join(handles)}; "
                           "destroy them first")
        self.images.remove(name)
        return self.gc_images()

    def gc_images(self) -> GcReport:
        """Layers stay while a container runs on them, even if its image name moved on."""
        return self.images.gc(keep=self._layers_in_use())

    def _layers_in_use(self) -> set[str]:
        keys: set[str] = set()
        for record in self.state.all():
            with contextlib.suppress(OSError, ValueError):
                path = self.layout.container(record.handle) / _LAYERS_FILE
                keys.update(json.loads(path.read_text()))
        return keys

    def cleanup(self) -> builtins.list[str]:
        """Release what no container needs: network leftovers, the idle volume store and its
        loop device, leftover directories."""
        live = {record.handle for record in self.state.all()}
        done = self.network.cleanup(live) + self.volumes.cleanup(live)
        done += binds.sweep(self.layout.bind_staging, self._exists)
        self.images.clear_builds()
        for directory in self.layout.containers.iterdir():
            if directory.name not in live and not self._exists(directory.name):
                self.volumes.destroy(directory)
                shutil.rmtree(directory, ignore_errors=True)
                done.append(f"removed leftover container directory {directory.name}")
        return done


def _cpus(text: str) -> set[int]:
    """CPU numbers of a list such as 0-3,8 (the kernel's and the spec's form)."""
    found: set[int] = set()
    for part in text.strip().split(","):
        first, _, last = part.partition("-")
        found.update(range(int(first), int(last or first) + 1))
    return found


def _check_cpuset(cpus: str | None) -> None:
    """The CPUs asked for must be online here: the kernel would refuse them inside runc."""
    if cpus is None:
        return
    online = _cpus(Path("/sys/devices/system/cpu/online").read_text())
    wanted = cpus.split(",")
    for part in wanted:
        first, _, last = part.partition("-")
        if last and int(last) < int(first):
            raise InvalidSpec(f"cpuset {cpus!r}: range {part} runs backwards")
        if int(last or first) - int(first) > len(online) or \
                not set(range(int(first), int(last or first) + 1)) <= online:
            raise InvalidSpec(f"cpuset {cpus!r} names CPUs this host does not have (online: "
                              f"{Path('/sys/devices/system/cpu/online').read_text().strip()})")


def _entries(directory: Path) -> builtins.list[Path]:
    try:
        return builtins.list(directory.iterdir())
    except OSError:
        return []


def _file_mount(source: Path, destination: str) -> dict[str, object]:
    """A generated file shown read-only inside the container."""
    return {"destination": destination, "type": "bind", "source": str(source),
            "options": ["rbind", "nosuid", "nodev", "noexec", "ro"]}
