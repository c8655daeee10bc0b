"""The init's command line: Landlock rules first, then the application."""

from stockade.errors import Conflict
from stockade.host import HostFeatures
from stockade.policy.seccomp import socketcall_guard_args
from stockade.spec import ContainerSpec, PortMapping
from stockade.spec.ports import Interval, contains, format_ports, merge, parse_ports

HELPERS_MOUNT = "/.stockade"
INIT_PATH = f"{HELPERS_MOUNT}/init"
PROBE_PATH = f"{HELPERS_MOUNT}/probe"
# The platform's writable directories; everything else in the image is read-only.
# /app holds the application: executable at run time, so not writable unless the spec
# asks (writable_paths), as written in docs/security-model.md.
DEFAULT_WRITABLE = ("/home", "/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue")
# Top-level directories that hold data, not programs: nothing there may be executed,
# so a payload written to /tmp or /home cannot be run. /app holds the application.
NOT_EXECUTABLE = frozenset({"proc", "sys", "dev", "tmp", "var", "run", "mnt", "media", "home",
                            "root", "lost+found"})


def writable_paths(spec: ContainerSpec) -> list[str]:
    rw_binds = [m.container_path for m in spec.mounts if not m.read_only]
    return sorted({*DEFAULT_WRITABLE, *spec.writable_paths, *rw_binds})


def executable_paths(top_level: tuple[str, ...]) -> list[str]:
    return sorted(f"/{name}" for name in set(top_level) - NOT_EXECUTABLE if "/" not in name)


def landlock_enabled(spec: ContainerSpec, host: HostFeatures) -> bool:
    return host.landlock.available and not spec.unsafe.disable_mac


def network_rules_enabled(spec: ContainerSpec, host: HostFeatures) -> bool:
    return landlock_enabled(spec, host) and host.landlock_network


def bind_ports(spec: ContainerSpec) -> tuple[Interval, ...]:
    """TCP ports the application may bind: the declared ones and every mapped one."""
    mapped = [(p.container_port, p.container_port) for p in spec.ports if p.protocol == "tcp"]
    declared = list(parse_ports(spec.listen_ports)) if spec.listen_ports else []
    return merge(mapped + declared)


def connect_ports(spec: ContainerSpec) -> tuple[Interval, ...] | None:
    """TCP ports the application may connect to, or None when the spec leaves connect to
    the firewall. Its own listen ports stay reachable over loopback."""
    if spec.connect_ports is None:
        return None
    declared = [] if spec.connect_ports == "none" else list(parse_ports(spec.connect_ports))
    return merge(declared + list(bind_ports(spec)))


def connect_ports_text(spec: ContainerSpec) -> str | None:
    allowed = connect_ports(spec)
    return None if allowed is None else format_ports(allowed)


def check_publishable(spec: ContainerSpec, mapping: PortMapping) -> None:
    """A TCP port published later must be one the application may bind: its Landlock
    domain was fixed when it started, so any other mapping would lead nowhere. The rule
    holds on every host, Landlock or not, so a spec behaves the same everywhere."""
    allowed = bind_ports(spec)
    if mapping.protocol == "tcp" and not contains(allowed, mapping.container_port):
        raise Conflict(f"{spec.handle} may listen only on TCP ports "
                       f"{format_ports(allowed) or '(none declared)'}; declare "
                       f"{mapping.container_port} in listen_ports (--listen) when creating it")


def unlisted_port(spec: ContainerSpec) -> int:
    """An unprivileged TCP port the application may neither bind nor connect to, for
    `stockade verify` to prove the rules with (unprivileged, so a refusal cannot come
    from the missing CAP_NET_BIND_SERVICE instead)."""
    allowed = bind_ports(spec) + (connect_ports(spec) or ())
    return next(port for port in range(1024, 65536) if not contains(allowed, port))


def network_rule_args(spec: ContainerSpec) -> list[str]:
    """-b for each bindable range; -C (limit connect) and -c for each connectable range."""
    args: list[str] = []
    for interval in bind_ports(spec):
        args += ["-b", format_ports((interval,))]
    allowed = connect_ports(spec)
    if allowed is not None:
        args.append("-C")
        for interval in allowed:
            args += ["-c", format_ports((interval,))]
    return args


def init_command(spec: ContainerSpec, host: HostFeatures, top_level: tuple[str, ...],
                 args: tuple[str, ...]) -> list[str]:
    """[init, rules..., '--', application...]: the init restricts itself, then runs the app."""
    command = [INIT_PATH]
    if not landlock_enabled(spec, host):
        command.append("-L")
    for path in writable_paths(spec):
        command += ["-w", path]
    for path in executable_paths(top_level):
        command += ["-x", path]
    # Our read-only helpers, so `stockade verify` can run its probe under these same rules.
    command += ["-x", HELPERS_MOUNT]
    if network_rules_enabled(spec, host):
        command += ["-N", *network_rule_args(spec)]
    # Not a Landlock rule, but the init is what stacks it, here and for every exec.
    command += socketcall_guard_args(spec.allow_32bit, not spec.unsafe.disable_seccomp)
    command += ["-d", "/dev", "--"]
    return command + list(args)


def helpers_mount(helpers_dir: str) -> dict[str, object]:
    """The init and probe, read-only, from the host."""
    return {"destination": HELPERS_MOUNT, "type": "bind", "source": helpers_dir,
            "options": ["rbind", "ro", "nosuid", "nodev"]}
