"""The escape battery (shared/reference/escape-battery.md): one row per attempt, judged
from the probe's harmless tries and, for the resource rows, from the layer checks."""

from collections.abc import Callable
from dataclasses import dataclass
from errno import EACCES, EAFNOSUPPORT, ENOENT, ENOSYS, ENOTDIR, EPERM
from signal import SIGSYS

from stockade.policy.landlock import INIT_PATH
from stockade.verify import checks
from stockade.verify.expect import PLATFORM_SOCKET_NAMES
from stockade.verify.model import (
    Check,
    Evidence,
    Verdict,
    errnos,
    judge,
    not_observed,
    verdict,
)

Judge = Callable[[Evidence], Verdict]
DENIED = errnos(EPERM)
DENIED_OR_ABSENT = errnos(EPERM, ENOSYS)  # ENOSYS: this kernel lacks the call altogether
WRITE_REFUSED = checks.WRITE_REFUSED
# The filter admits only x86_64: i386 and x32 callers are killed (the probe reports a
# signal N as -N). ENOSYS: a kernel built without that ABI has nothing to reach.
FOREIGN_ABI_REFUSED = errnos(-SIGSYS, EPERM, ENOSYS)
# Descriptors a process may hold without reaching anything of the host's.
_HARMLESS_FD_TARGETS = ("pipe:", "socket:", "anon_inode:", "/dev/null", "/dev/pts/",
                        "/dev/ptmx")


@dataclass(frozen=True)
class Row:
    number: int
    title: str
    expected: str
    judge: Judge


def attempts(*names: str, blocked: frozenset[int] = DENIED) -> Judge:
    return lambda ev: judge(ev.probe, names, blocked)


def layer(check: checks.LayerCheck) -> Judge:
    def from_layer(ev: Evidence) -> Verdict:
        result = check(ev)
        return Verdict(result.status, result.observed)
    return from_layer


def own_processes(ev: Evidence) -> Verdict:
    cmdline, count = ev.probe.fact("pid1.cmdline"), ev.probe.fact("proc.visible")
    if not cmdline:
        return not_observed("/proc/1/cmdline")
    first = cmdline.split()[0]
    return checks.combine(
        verdict(first == INIT_PATH, f"pid 1 is {first}; {count} processes visible"),
        checks.namespace_verdict(ev.probe.fact("ns.pid"), ev.host.host_namespaces.get("pid"),
                                 ev.host.container_namespaces.get("pid")))


def root_unmapped(ev: Evidence) -> Verdict:
    root = next((line.split() for line in ev.probe.items("uid_map")
                 if line.split()[0] == "0"), None)
    if root is None:
        return not_observed("uid 0 in /proc/self/uid_map")
    return verdict(root[1] != "0", f"container root is host uid {root[1]}")


def no_capability_regain(ev: Evidence) -> Verdict:
    return checks.combine(layer(checks.capabilities)(ev), layer(checks.no_new_privs)(ev),
                          judge(ev.probe, ["caps.raise_ambient"], DENIED))


def setuid_ignored(ev: Evidence) -> Verdict:
    if ev.probe.fact("walk.entries") is None:
        return not_observed("filesystem walk")
    found = ev.probe.items("setuid")
    nnp = layer(checks.no_new_privs)(ev)
    note = f"{len(found)} setuid/setgid files in the image" + (
        f" ({', '.join(found[:5])})" if found else "")
    return Verdict(nnp.status, f"{nnp.observed}: setuid bits are ignored on exec; {note}")


def release_agent(ev: Evidence) -> Verdict:
    visible = ev.probe.fact("cgroup.release_agents")
    if visible is None:
        return not_observed("/sys/fs/cgroup")
    parts = [verdict(True, "no release_agent visible") if visible == "0" else
             judge(ev.probe, ["cgroup.release_agent"], WRITE_REFUSED)]
    if ev.probe.named("cgroup.limit_write"):
        parts.append(judge(ev.probe, ["cgroup.limit_write"], WRITE_REFUSED))
    return checks.combine(*parts)


def masked_sample(ev: Evidence) -> Verdict:
    wanted = ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware")
    seen = {m.path: m for m in ev.probe.masked}
    if any(p not in seen for p in wanted):
        return not_observed(", ".join(p for p in wanted if p not in seen))
    shown = [f"{p}: " + ("absent" if seen[p].errno == ENOENT else "unreadable" if seen[p].errno
                         else f"{seen[p].size} bytes") for p in wanted]
    return verdict(all(seen[p].errno or seen[p].size == 0 for p in wanted), "; ".join(shown))


def no_block_devices(ev: Evidence) -> Verdict:
    block = [n.path for n in ev.probe.devices if n.kind == "b"]
    return checks.combine(
        verdict(not block, "BLOCK DEVICES: " + ", ".join(block) if block else
                "no block device in /dev"),
        judge(ev.probe, ["dev.mknod_block"], errnos(EPERM, EACCES)))


def no_chroot_escape(ev: Evidence) -> Verdict:
    same = ev.probe.fact("root.parent_is_root")
    return checks.combine(
        not_observed("/..") if same is None else verdict(same == "1", "/.. is /" if same == "1"
                                                          else "/.. LEADS ABOVE THE ROOT"),
        judge(ev.probe, ["chroot"], DENIED))


def harmless_fd(entry: str) -> bool:
    number, _, target = entry.partition(" ")
    return (number.isdigit() and int(number) <= 2) or target.startswith(_HARMLESS_FD_TARGETS)


def fd_hygiene(ev: Evidence) -> Verdict:
    mine = ev.probe.items("fd")
    if not mine:
        return not_observed("/proc/self/fd")
    leaked = [f"exec fd {e}" for e in mine if not harmless_fd(e)]
    leaked += [f"init fd {e}" for e in ev.host.init_fds if not harmless_fd(e)]
    return verdict(not leaked, "LEAKED: " + ", ".join(leaked) if leaked else
                   f"exec holds {len(mine)} (stdio), the init nothing above stderr")


def no_platform_socket(ev: Evidence) -> Verdict:
    if ev.probe.fact("walk.entries") is None:
        return not_observed("filesystem walk")
    found = [s for s in ev.probe.items("socket") if s.rsplit("/", 1)[-1] in PLATFORM_SOCKET_NAMES]
    return checks.combine(
        judge(ev.probe, ["socket.visible"], errnos(ENOENT, ENOTDIR)),
        verdict(not found, "FOUND: " + ", ".join(found) if found else
                f"no platform socket among {ev.probe.fact('walk.entries')} entries walked"))


def network(ev: Evidence) -> Verdict:
    return checks.combine(layer(checks.network_isolation)(ev), layer(checks.egress)(ev))


BATTERY: tuple[Row, ...] = (
    Row(1, "see host processes", "pid 1 is the container's init; own pid namespace",
        own_processes),
    Row(2, "act as host root", "uid_map maps 0 to a non-zero host id", root_unmapped),
    Row(3, "regain capabilities", "only the documented set; NoNewPrivs 1; ambient raise EPERM",
        no_capability_regain),
    Row(4, "setuid binary raises privilege", "NoNewPrivs 1, so exec ignores setuid bits",
        setuid_ignored),
    Row(5, "mount a filesystem (tmpfs, proc, cgroup2, fsopen)", "EPERM",
        attempts("mount.tmpfs", "mount.proc", "mount.cgroup2", "mount.fsopen",
                 blocked=errnos(EPERM, EACCES))),
    Row(6, "unshare / clone a new user namespace", "EPERM (clone3: ENOSYS)",
        lambda ev: checks.combine(
            judge(ev.probe, ["userns.unshare", "userns.clone", "userns.setns"], DENIED),
            judge(ev.probe, ["userns.clone3"], errnos(ENOSYS)))),
    Row(7, "cgroup release_agent", "no writable release_agent; cgroup files refuse writes",
        release_agent),
    Row(8, "write /proc/sys/kernel/core_pattern", "open for write fails (EROFS or EACCES)",
        attempts("proc.core_pattern", blocked=WRITE_REFUSED)),
    Row(9, "write /proc/sysrq-trigger", "open for write fails (or absent)",
        attempts("proc.sysrq_trigger", blocked=WRITE_REFUSED | {ENOENT})),
    Row(10, "read kcore, keys, timer_list, /sys/firmware", "empty or unreadable",
        masked_sample),
    Row(11, "reach a host block device", "no block device in /dev; mknod b fails",
        no_block_devices),
    Row(12, "chroot escape", "/.. is /; chroot EPERM", no_chroot_escape),
    Row(13, "ptrace another process", "ptrace and process_vm_readv EPERM (not ESRCH)",
        attempts("ptrace.attach", "ptrace.process_vm_readv")),
    Row(14, "open_by_handle_at (shocker)", "EPERM",
        attempts("shocker.open_by_handle_at", "shocker.name_to_handle_at")),
    Row(15, "kernel keyring", "keyctl, add_key, request_key EPERM",
        attempts("keyring.keyctl", "keyring.add_key", "keyring.request_key")),
    Row(16, "load a BPF program", "EPERM", attempts("bpf")),
    Row(17, "perf_event_open", "EPERM or EACCES",
        attempts("perf_event_open", blocked=errnos(EPERM, EACCES))),
    Row(18, "userfaultfd", "EPERM", attempts("userfaultfd")),
    Row(19, "modules, kexec, reboot, swapon, clock", "EPERM (ENOSYS where the kernel lacks it)",
        attempts("kernel.init_module", "kernel.finit_module", "kernel.kexec_load",
                 "kernel.reboot", "kernel.swapon", "kernel.settimeofday",
                 "kernel.clock_settime", blocked=DENIED_OR_ABSENT)),
    Row(20, "raw sockets / packet spoofing", "socket(AF_PACKET / SOCK_RAW) fails",
        attempts("net.packet", "net.raw", blocked=errnos(EPERM, EACCES, EAFNOSUPPORT))),
    Row(21, "leaked host file descriptor", "only stdio, pipes, sockets, ptys", fd_hygiene),
    Row(22, "exhaust host memory", "hard memory limit, OOM kill reported",
        layer(checks.memory)),
    Row(23, "fork bomb", "pids limit in force", layer(checks.pids)),
    Row(24, "fill the host disk", "quota on the writable layer", layer(checks.disk)),
    Row(25, "starve neighbours of CPU", "cpu shares in force", layer(checks.cpu)),
    Row(26, "reach other containers or host services", "isolated namespace, egress denied",
        network),
    Row(27, "reach the platform's API socket", "no daemon socket anywhere inside",
        no_platform_socket),
    Row(28, "32-bit and x32 side doors", "int 0x80 socketcall(AF_VSOCK, AF_ALG, "
        "AF_PACKET) and x32 socket(AF_VSOCK): killed by SIGSYS or EPERM (ENOSYS: no such ABI)",
        attempts("abi.i386_socketcall", "abi.x32_socket", blocked=FOREIGN_ABI_REFUSED)),
    Row(29, "run an anonymous memory file", "memfd_create(MFD_EXEC) refused; a memfd cannot "
        "be made executable or run with execveat", layer(checks.memfd_exec)),
    Row(30, "run what was written (ld.so, mmap)", "writable directories noexec: "
        "mmap(PROT_EXEC) of a program written there EPERM", layer(checks.writable_noexec)),
)


def evaluate_row(row: Row, ev: Evidence) -> Check:
    result = row.judge(ev)
    return Check(id=f"battery.{row.number:02d}", group="battery",
                 name=f"{row.number}. {row.title}", status=result.status,
                 expected=row.expected, observed=result.observed)
