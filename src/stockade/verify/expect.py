"""What a container should look like from inside, derived from its spec and the host."""

from pydantic import BaseModel, ConfigDict

from stockade.host import HostFeatures
from stockade.policy import capabilities, devices, effective_cpu_shares, landlock, paths
from stockade.policy.context import ID_MAP_SIZE
from stockade.spec import ContainerSpec
from stockade.spec.ports import format_ports

# Daemon sockets of this platform and its neighbours; none may be visible inside.
PLATFORM_SOCKETS = ("/run/stockade/stockade.sock", "/var/run/docker.sock", "/run/docker.sock",
                    "/run/containerd/containerd.sock", "/run/podman/podman.sock",
                    "/var/run/crio/crio.sock")
PLATFORM_SOCKET_NAMES = frozenset({"stockade.sock", "docker.sock", "containerd.sock",
                                   "podman.sock", "crio.sock"})


class Expectations(BaseModel):
    """The hardened default for this spec; unsafe options never change what is expected."""

    model_config = ConfigDict(frozen=True)

    handle: str
    bounding: frozenset[str]
    id_base: int
    id_size: int = ID_MAP_SIZE
    apparmor: bool
    landlock: bool
    apparmor_detail: str
    landlock_detail: str
    # Landlock's TCP rules: what the spec lets the application bind and connect to
    # (connect None: left to the firewall), and a port it may do neither with.
    landlock_network: bool
    bind_ports: str
    connect_ports: str | None
    unlisted_port: int
    masked_paths: tuple[str, ...]
    readonly_paths: tuple[str, ...]
    # every directory the application may write: each must be noexec, nosuid and nodev
    writable_dirs: tuple[str, ...] = ()
    memory_bytes: int
    cpu_shares: int
    pids: int
    disk_bytes: int
    device_rules: tuple[str, ...]
    allowed_devices: tuple[tuple[int, int | None], ...]
    platform_sockets: tuple[str, ...] = PLATFORM_SOCKETS
    unsafe: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()


def device_rule(major: int, minor: int | None) -> str:
    """A devices.list line (cgroup v1) for an allowed character device."""
    return f"c {major}:{'*' if minor is None else minor} rwm"


def expectations(spec: ContainerSpec, host: HostFeatures, id_base: int,
                 extra_sockets: tuple[str, ...] = ()) -> Expectations:
    """Safe add-backs (--cap-add) are expected; --unsafe-* weakenings are not."""
    allowed = tuple((d.major, d.minor) for d in devices.ALLOWED)
    return Expectations(
        handle=spec.handle,
        bounding=capabilities.bounding_set(spec.cap_add),
        id_base=id_base,
        apparmor=host.apparmor.available,
        landlock=host.landlock.available,
        apparmor_detail=host.apparmor.detail,
        landlock_detail=host.landlock.detail,
        landlock_network=host.landlock_network,
        bind_ports=format_ports(landlock.bind_ports(spec)),
        connect_ports=landlock.connect_ports_text(spec),
        unlisted_port=landlock.unlisted_port(spec),
        masked_paths=paths.MASKED_PATHS,
        readonly_paths=paths.READONLY_PATHS,
        writable_dirs=tuple(landlock.writable_paths(spec)),
        memory_bytes=spec.limits.memory_bytes,
        cpu_shares=effective_cpu_shares(spec.limits),
        pids=spec.limits.pids,
        disk_bytes=spec.limits.disk_bytes,
        device_rules=tuple(device_rule(major, minor) for major, minor in allowed),
        allowed_devices=allowed,
        platform_sockets=tuple(dict.fromkeys((*PLATFORM_SOCKETS, *extra_sockets))),
        unsafe=tuple(spec.unsafe.in_use()),
        cap_add=tuple(spec.cap_add),
    )
