"""The layer rows: each is a pure function of the evidence, returning one Check.

A new layer (quota, egress, ...) is one more function added to LAYERS."""

from collections.abc import Callable
from errno import (
    EACCES,
    ECONNREFUSED,
    EHOSTUNREACH,
    ENETUNREACH,
    ENOENT,
    ENOSYS,
    EPERM,
    EROFS,
    ETIMEDOUT,
)

from stockade.policy.compile import APPARMOR_PROFILE
from stockade.spec import format_size
from stockade.verify import capsets
from stockade.verify.facts import ReadonlyPath
from stockade.verify.model import (
    Check,
    Evidence,
    Status,
    Verdict,
    errnos,
    judge,
    not_observed,
    verdict,
)

NAMESPACES = ("pid", "net", "ipc", "uts", "mnt", "user", "cgroup")
WRITE_REFUSED = errnos(EROFS, EACCES, EPERM)
LayerCheck = Callable[[Evidence], Check]


def row(check_id: str, name: str, expected: str, result: Verdict) -> Check:
    return Check(id=check_id, group="layer", name=name, status=result.status,
                 expected=expected, observed=result.observed)


def combine(*results: Verdict) -> Verdict:
    """Fails if any part fails; a gap only when nothing failed."""
    statuses = {r.status for r in results}
    status = Status.FAIL if Status.FAIL in statuses else (
        Status.GAP if Status.GAP in statuses else Status.PASS)
    return Verdict(status, "; ".join(r.observed for r in results))


# -- namespaces and identity -------------------------------------------------------------

def namespace_verdict(inside: str | None, host: str | None, init: str | None) -> Verdict:
    if inside is None or host is None:
        return not_observed("namespace link")
    if inside == host:
        return verdict(False, f"SHARED WITH THE HOST: {inside}")
    if init is not None and inside != init:
        return verdict(False, f"probe in {inside}, but the container's init is in {init}")
    return verdict(True, f"{inside} (host {host})")


def _namespace(kind: str) -> LayerCheck:
    def check(ev: Evidence) -> Check:
        result = namespace_verdict(ev.probe.fact(f"ns.{kind}"),
                                   ev.host.host_namespaces.get(kind),
                                   ev.host.container_namespaces.get(kind))
        return row(f"namespace.{kind}", f"{kind} namespace", "its own, not the host's", result)
    check.__name__ = f"namespace_{kind}"
    return check


def user_mapping(ev: Evidence) -> Check:
    want = f"0 {ev.expect.id_base} {ev.expect.id_size}"
    uid, gid = ev.probe.items("uid_map"), ev.probe.items("gid_map")
    if not uid or not gid:
        result = not_observed("/proc/self/uid_map")
    else:
        root_is_root = any(line.split()[:2] == ["0", "0"] for line in uid)
        text = f"uid_map {' | '.join(uid)}; gid_map {' | '.join(gid)}"
        result = verdict(uid == (want,) and gid == (want,),
                         ("CONTAINER ROOT IS HOST ROOT: " if root_is_root else "") + text)
    return row("user.mapping", "user mapping", f"0..{ev.expect.id_size - 1} -> "
               f"{ev.expect.id_base}.. on the host (root inside is not root outside)", result)


# -- credentials ----------------------------------------------------------------------------

def set_difference(expected: int, observed: int) -> str:
    """'' when equal, else '+CAP_X -CAP_Y' (extra, then missing)."""
    extra = sorted(capsets.names(observed & ~expected))
    missing = sorted(capsets.names(expected & ~observed))
    return " ".join([f"+{n}" for n in extra] + [f"-{n}" for n in missing])


def capability_verdict(expected: frozenset[str], root: dict[str, str],
                       app: dict[str, str]) -> Verdict:
    """Root inside (the probe) holds exactly the bounding set; the application's init has
    that bounding set and holds nothing beyond it; nobody has inheritable or ambient."""
    want = capsets.mask(expected)
    exact = {f"probe {k}": capsets.parse_hex(root.get(k)) for k in ("CapBnd", "CapPrm", "CapEff")}
    exact["app CapBnd"] = capsets.parse_hex(app.get("CapBnd"))
    empty = {f"{who} {k}": capsets.parse_hex(src.get(k))
             for who, src in (("probe", root), ("app", app)) for k in ("CapInh", "CapAmb")}
    within = {f"app {k}": capsets.parse_hex(app.get(k)) for k in ("CapPrm", "CapEff")}
    missing = [k for k, v in {**exact, **empty, **within}.items() if v is None]
    if missing:
        return not_observed(", ".join(missing))
    problems = [f"{k} {set_difference(want, v or 0)}" for k, v in exact.items() if v != want]
    problems += [f"{k} {set_difference(0, v or 0)}" for k, v in empty.items() if v]
    problems += [f"{k} {set_difference(want, (v or 0) & ~want)}" for k, v in within.items()
                 if (v or 0) & ~want]
    if problems:
        return verdict(False, "; ".join(problems))
    short = ", ".join(sorted(name.removeprefix("CAP_") for name in expected))
    return verdict(True, f"bounding {short}; inheritable and ambient empty")


def capabilities(ev: Evidence) -> Check:
    result = capability_verdict(ev.expect.bounding, _status(ev), ev.host.init_status)
    return row("capabilities", "capabilities", f"exactly {len(ev.expect.bounding)} "
               "(Docker's default minus NET_RAW, MKNOD, SYS_CHROOT, SETFCAP, AUDIT_WRITE, "
               "plus --cap-add)", result)


def _status(ev: Evidence) -> dict[str, str]:
    return {k.removeprefix("status."): v for k, v in ev.probe.facts.items()
            if k.startswith("status.")}


def no_new_privs(ev: Evidence) -> Check:
    probe, app = _status(ev).get("NoNewPrivs"), ev.host.init_status.get("NoNewPrivs")
    result = not_observed("NoNewPrivs") if probe is None or app is None else \
        verdict(probe == app == "1", f"probe {probe}, application {app}")
    return row("no_new_privs", "no_new_privs", "1 for the application and for exec", result)


def seccomp_mode(ev: Evidence) -> Check:
    parts = []
    for who, status in (("probe", _status(ev)), ("application", ev.host.init_status)):
        mode, filters = status.get("Seccomp"), status.get("Seccomp_filters")
        if mode is None:
            parts.append(not_observed(f"{who} Seccomp"))
            continue
        count = int(filters) if filters and filters.isdigit() else 0
        parts.append(verdict(mode == "2" and count >= 1,
                             f"{who}: mode {mode}, {count} filter(s)"))
    return row("seccomp.mode", "seccomp mode", "2 (filter), at least one filter",
               combine(*parts))


def seccomp_filter(ev: Evidence) -> Check:
    # clone3 gets ENOSYS only from our filter (the kernel says EINVAL for size 0), and
    # calls outside the allowlist get the default EPERM where the kernel would say EFAULT.
    result = combine(judge(ev.probe, ["userns.clone3"], errnos(ENOSYS)),
                     judge(ev.probe, ["kernel.clock_settime", "io_uring_setup"], errnos(EPERM)))
    return row("seccomp.filter", "seccomp filter", "Stockade's allowlist: clone3 ENOSYS, "
               "unlisted calls EPERM", result)


def mac(ev: Evidence) -> Check:
    want = ev.expect
    parts = []
    if want.apparmor:
        label = ev.probe.fact("mac.label") or ""
        parts.append(verdict(label == f"{APPARMOR_PROFILE} (enforce)", f"AppArmor {label!r}"))
    if want.landlock:
        proof = judge(ev.probe, ["landlock.etc_create", "landlock.proc_write"], errnos(EACCES))
        note = "" if want.apparmor else f" (AppArmor not available: {want.apparmor_detail})"
        parts.append(Verdict(proof.status, f"Landlock{note}: {proof.observed}"))
    if not parts:
        return row("mac", "MAC", "AppArmor or Landlock", verdict(
            False, f"NO MAC LAYER: AppArmor: {want.apparmor_detail}; "
                   f"Landlock: {want.landlock_detail}"))
    expected = " and ".join(
        (["AppArmor profile enforced"] if want.apparmor else []) +
        (["Landlock: root gets EACCES writing outside the writable dirs"]
         if want.landlock else []))
    return row("mac", "MAC", expected, combine(*parts))


def mac_network(ev: Evidence) -> Check:
    want = ev.expect
    bind = want.bind_ports or "none"
    expected = (f"Landlock TCP rules: bind only {bind}; connect "
                + ("left to the firewall" if want.connect_ports is None
                   else f"only {want.connect_ports or 'none'}"))
    if not want.landlock_network:
        return row("mac.network", "Landlock network", expected, Verdict(
            Status.GAP, f"not enforced here: Landlock {want.landlock_detail}"))
    bind_proof = judge(ev.probe, ["landlock.bind"], errnos(EACCES))
    if want.connect_ports is not None:
        connect_proof = judge(ev.probe, ["landlock.connect"], errnos(EACCES))
    else:  # nothing listens there: without a Landlock rule the stack refuses it
        connect_proof = judge(ev.probe, ["landlock.connect"], errnos(ECONNREFUSED))
    return row("mac.network", "Landlock network", expected, combine(bind_proof, connect_proof))


# -- filesystem -----------------------------------------------------------------------------

def masked_paths(ev: Evidence) -> Check:
    seen = {m.path: m for m in ev.probe.masked}
    missing = [p for p in ev.expect.masked_paths if p not in seen]
    if missing:
        result = not_observed(", ".join(missing))
    else:
        exposed = [f"{p} ({seen[p].size} bytes/entries readable)" for p in ev.expect.masked_paths
                   if seen[p].errno == 0 and seen[p].size > 0]
        absent = sum(seen[p].errno == ENOENT for p in ev.expect.masked_paths)
        result = verdict(not exposed, "EXPOSED: " + ", ".join(exposed) if exposed else
                         f"{len(seen) - absent} empty or unreadable, {absent} absent on "
                         "this kernel")
    return row("paths.masked", "masked paths", f"{len(ev.expect.masked_paths)} paths empty "
               "or unreadable (kcore, keys, timer_list, /sys/firmware, ...)", result)


def writable(path: ReadonlyPath) -> bool:
    """On a writable mount, or a file that opened for writing; absent paths are not."""
    if path.read_only is None:
        return False
    return not path.read_only or (path.write_errno is not None
                                  and path.write_errno not in WRITE_REFUSED)


def readonly_paths(ev: Evidence) -> Check:
    seen = {r.path: r for r in ev.probe.readonly}
    missing = [p for p in ev.expect.readonly_paths if p not in seen]
    if missing:
        result = not_observed(", ".join(missing))
    else:
        exposed = [p for p in ev.expect.readonly_paths if writable(seen[p])]
        absent = [p for p in ev.expect.readonly_paths if seen[p].read_only is None]
        result = verdict(not exposed, "WRITABLE: " + ", ".join(exposed) if exposed else
                         f"{len(seen) - len(absent)} read-only mounts"
                         + (f"; absent on this kernel: {', '.join(absent)}" if absent else ""))
    return row("paths.readonly", "read-only paths", "/proc/sys, sysrq-trigger, irq, bus, fs, "
               "/sys/fs/cgroup mounted read-only", result)


def devices(ev: Evidence) -> Check:
    nodes = ev.probe.devices
    allowed = set(ev.expect.allowed_devices)
    foreign = [f"{n.path} {n.kind} {n.major}:{n.minor}" for n in nodes if n.kind != "c" or (
        (n.major, n.minor) not in allowed and (n.major, None) not in allowed)]
    parts = [not_observed("/dev") if not nodes else verdict(
        not foreign, "NOT ALLOWED: " + ", ".join(foreign) if foreign else
        f"/dev: {len(nodes)} allowed character devices, no block devices")]
    rules = ev.host.cgroup.devices_list
    if ev.host.cgroup.version == 1:
        if rules is None:
            parts.append(not_observed("devices.list"))
        else:
            extra = sorted(set(rules) - set(ev.expect.device_rules))
            parts.append(verdict(not extra, "cgroup ALSO ALLOWS: " + ", ".join(extra) if extra
                                 else f"cgroup allows exactly {len(rules)} rules"))
    return row("devices", "devices", "only the platform's character devices; never a block "
               "device", combine(*parts))


# -- executing what the application wrote --------------------------------------------------

NOEXEC_FLAGS = frozenset({"noexec", "nosuid", "nodev"})
EXEC_REFUSED = errnos(EACCES, EPERM)


def writable_noexec(ev: Evidence) -> Check:
    """Landlock's execute right covers execve only: the loader and mmap(PROT_EXEC) are
    stopped by the noexec mount flag on every directory the application may write."""
    expected = ("every writable directory noexec, nosuid, nodev; mmap(PROT_EXEC) of a program "
                "written there EPERM (what ld.so would do)")
    seen = {m.path: m for m in ev.probe.mountflags}
    missing = [p for p in ev.expect.writable_dirs if p not in seen]
    if missing:
        return row("paths.noexec", "writable means not executable", expected,
                   not_observed(", ".join(missing)))
    present = [p for p in ev.expect.writable_dirs if seen[p].absent_errno is None]
    lacking = [f"{p} lacks {','.join(sorted(NOEXEC_FLAGS - seen[p].flags))}" for p in present
               if not seen[p].flags >= NOEXEC_FLAGS]
    maps = ev.probe.named("exec.mmap")
    mapped = [f"{a.detail}: {a.result}" for a in maps if a.errno != EPERM]
    absent = len(ev.expect.writable_dirs) - len(present)
    if lacking or mapped:
        result = verdict(False, "EXECUTABLE: " + "; ".join(lacking + mapped))
    elif present and not maps:
        result = not_observed("exec.mmap (no program could be written to try)")
    else:
        result = verdict(True, f"{len(present)} directories noexec,nosuid,nodev; "
                         f"mmap(PROT_EXEC) EPERM in {len(maps)}"
                         + (f"; {absent} absent in this image" if absent else ""))
    return row("paths.noexec", "writable means not executable", expected, result)


def memfd_exec(ev: Evidence) -> Check:
    expected = ("vm.memfd_noexec=2: memfd_create(MFD_EXEC) refused, memfds sealed "
                "(fchmod EPERM), execveat of one refused")
    setting = ev.probe.fact("memfd.noexec")
    if setting is None:
        return row("exec.memfd", "anonymous memory files", expected,
                   not_observed("memfd.noexec"))
    tries = judge(ev.probe, ["memfd.create_exec", "memfd.chmod", "memfd.execveat"],
                  EXEC_REFUSED)
    if setting == "absent":  # kernels before 6.3 have neither the setting nor MFD_EXEC
        ran = any(a.errno == 0 for a in ev.probe.named("memfd.execveat"))
        return row("exec.memfd", "anonymous memory files", expected, Verdict(
            Status.GAP if ran else tries.status,
            f"this kernel has no vm.memfd_noexec (Linux 6.3+): {tries.observed}"))
    return row("exec.memfd", "anonymous memory files", expected,
               combine(verdict(setting == "2", f"vm.memfd_noexec={setting}"), tries))


# -- resources ------------------------------------------------------------------------------

def _cgroup_equals(ev: Evidence, key: str, want: str, label: str) -> Verdict:
    value = ev.host.cgroup.files.get(key)
    if value is None:
        return not_observed(key)
    return verdict(value.strip() == want, f"{label} {value.strip()}")


def memory(ev: Evidence) -> Check:
    want = str(ev.expect.memory_bytes)
    if ev.host.cgroup.version == 2:
        result = combine(_cgroup_equals(ev, "memory.max", want, "memory.max"),
                         _cgroup_equals(ev, "memory.swap.max", "0", "swap.max"))
    else:
        oom = ev.host.cgroup.files.get("memory.oom_control", "")
        parts = [_cgroup_equals(ev, "memory.limit_in_bytes", want, "limit"),
                 verdict("oom_kill_disable 0" in oom, "OOM killer on" if
                         "oom_kill_disable 0" in oom else f"oom_control {oom!r}")]
        if "memory.memsw.limit_in_bytes" in ev.host.cgroup.files:
            parts.insert(1, _cgroup_equals(ev, "memory.memsw.limit_in_bytes", want,
                                           "memory+swap"))
        result = combine(*parts)
    return row("memory", "memory limit", f"hard {format_size(ev.expect.memory_bytes)}, no "
               "swap, OOM kill in the container's own cgroup", result)


def cpu_weight(shares: int) -> int:
    """runc's conversion of cgroup v1 shares to a v2 weight."""
    return 1 + ((shares - 2) * 9999) // 262142


def cpu(ev: Evidence) -> Check:
    shares = ev.expect.cpu_shares
    result = _cgroup_equals(ev, "cpu.weight", str(cpu_weight(shares)), "cpu.weight") \
        if ev.host.cgroup.version == 2 else _cgroup_equals(ev, "cpu.shares", str(shares),
                                                           "cpu.shares")
    return row("cpu", "CPU shares", f"{shares} shares (from memory unless --cpu-shares)", result)


def pids(ev: Evidence) -> Check:
    result = _cgroup_equals(ev, "pids.max", str(ev.expect.pids), "pids.max")
    return row("pids", "pids limit", f"{ev.expect.pids} processes", result)


def disk(ev: Evidence) -> Check:
    quota = ev.host.disk
    expected = f"writable layer quota {format_size(ev.expect.disk_bytes)}"
    if quota is None:
        return row("disk", "disk quota", expected, Verdict(
            Status.GAP, "not enforced: the writable layer reports no quota"))
    ok = quota.backend not in ("", "none") and quota.limit_bytes == ev.expect.disk_bytes
    return row("disk", "disk quota", expected, verdict(
        ok, f"{quota.backend} quota {format_size(quota.limit_bytes)}"))


# -- network --------------------------------------------------------------------------------

# Refused, silently dropped, or no route: all mean the packet went nowhere useful.
EGRESS_REFUSED = errnos(ECONNREFUSED, ETIMEDOUT, ENETUNREACH, EHOSTUNREACH, EACCES, EPERM)


def interfaces(ev: Evidence) -> tuple[str, ...]:
    return tuple(i for i in ev.probe.items("interface") if i != "lo")


def routes(ev: Evidence) -> tuple[str, ...]:
    return ev.probe.items("route") + ev.probe.items("route6")


def network_isolation(ev: Evidence) -> Check:
    expected = "its own network namespace; only lo, or lo and its one veth"
    if "interface" not in ev.probe.lists:
        return row("network.isolation", "network isolation", expected,
                   not_observed("/proc/net/dev"))
    others = interfaces(ev)
    ip = ev.host.network.ip
    if not others:
        result = verdict(True, "only lo: no network layer yet, nothing to reach")
    else:
        result = verdict(ip is not None and len(others) == 1,
                         f"interfaces {', '.join(others)}; address {ip or 'none reported'}")
    return row("network.isolation", "network isolation", expected, result)


def egress(ev: Evidence) -> Check:
    expected = "default deny: no route out, or every probed destination refused"
    paths, tried = routes(ev), ev.probe.named("net.connect")
    if "interface" not in ev.probe.lists:
        result = not_observed("/proc/net/dev")
    elif not paths and not interfaces(ev):
        result = verdict(True, "no interface but lo and no route: nothing can leave")
    elif not tried:
        result = verdict(False, f"NOT PROVEN: {len(paths)} route(s) and no egress "
                         "destination was probed")
    else:
        result = judge(ev.probe, ["net.connect"], EGRESS_REFUSED)
    return row("network.egress", "network egress", expected, result)


def firewall(ev: Evidence) -> Check:
    expected = ("its port guarded (out: only its own MAC and address; in: only what the "
                "table stamped) and its rules in Stockade's table")
    net = ev.host.network
    if net.ip is None:
        result = verdict(True, "no address: no port to guard")
    elif net.firewall is None:
        result = not_observed("the container's port and Stockade's table")
    else:
        fw = net.firewall
        result = verdict(fw.guarded and fw.hooked,
                         f"port {fw.port}: guard {'on' if fw.guarded else 'MISSING'}; {net.ip} "
                         f"{'hooked in' if fw.hooked else 'MISSING from'} table {fw.table}")
    return row("network.firewall", "firewall", expected, result)


LAYERS: tuple[LayerCheck, ...] = (
    *(_namespace(kind) for kind in NAMESPACES),
    user_mapping, capabilities, no_new_privs, seccomp_mode, seccomp_filter, mac, mac_network,
    masked_paths, readonly_paths, devices, writable_noexec, memfd_exec, memory, cpu, pids, disk,
    network_isolation, egress, firewall,
)
