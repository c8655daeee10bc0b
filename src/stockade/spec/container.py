"""The public data model of a container request, validated on construction."""

import re
from ipaddress import IPv4Address
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from stockade.addresses import host_address
from stockade.spec.ports import format_ports, parse_ports
from stockade.spec.sizes import parse_size

HANDLE_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_USER = re.compile(r"^([a-z_][a-z0-9_-]{0,31}|\d{1,10})(:([a-z_][a-z0-9_-]{0,31}|\d{1,10}))?$")
_FORBIDDEN_TARGETS = ("/", "/proc", "/sys", "/dev")

MIB = 1 << 20
DEFAULT_MEMORY = 256 * MIB
DEFAULT_DISK = 1024 * MIB
DEFAULT_PIDS = 1024
MIN_MEMORY = 8 * MIB
MAX_MEMORY = 1 << 40
MAX_PIDS = 4_194_304
# Capabilities Docker grants by default that we drop; only these can be added back.
ADDABLE_CAPABILITIES = frozenset(
    {"CAP_NET_RAW", "CAP_MKNOD", "CAP_SYS_CHROOT", "CAP_SETFCAP", "CAP_AUDIT_WRITE"}
)


# Every Linux capability, in kernel bit order (CAP_CHOWN is bit 0).
_CAPABILITY_NAMES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
    "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
    "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
CAPABILITY_NAMES = tuple(f"CAP_{name}" for name in _CAPABILITY_NAMES)
KNOWN_CAPABILITIES = frozenset(CAPABILITY_NAMES)


def cap_name(text: str) -> str:
    """CAP_X for x, X or CAP_X: one spelling to compare."""
    upper = text.upper()
    return upper if upper.startswith("CAP_") else f"CAP_{upper}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _no_nul(value: str, what: str) -> str:
    if "\0" in value:
        raise ValueError(f"{what} must not contain NUL bytes")
    return value


def _clean_absolute(path: str, what: str) -> str:
    _no_nul(path, what)
    if not path.startswith("/"):
        raise ValueError(f"{what} {path!r} must be an absolute path")
    if any(part == ".." for part in path.split("/")):
        raise ValueError(f"{what} {path!r} must not contain '..'")
    return "/" + "/".join(p for p in path.split("/") if p not in ("", "."))


class Limits(_Model):
    """Resource limits; sizes accept '256M' style strings."""

    memory_bytes: int = DEFAULT_MEMORY
    cpu_shares: int | None = Field(default=None, ge=2, le=262_144)
    pids: int = Field(default=DEFAULT_PIDS, ge=1, le=MAX_PIDS)
    disk_bytes: int = DEFAULT_DISK
    cpuset_cpus: str | None = Field(default=None, pattern=r"^\d+([-,]\d+)*$")
    # CPU time per period, in CPUs (1.5: one and a half CPUs' worth), on top of the shares
    cpus: float | None = Field(default=None, ge=0.01, le=1024)

    @field_validator("memory_bytes", "disk_bytes", mode="before")
    @classmethod
    def _size(cls, value: str | int) -> int:
        return parse_size(value)

    @field_validator("memory_bytes")
    @classmethod
    def _memory_bounds(cls, value: int) -> int:
        if not MIN_MEMORY <= value <= MAX_MEMORY:
            raise ValueError(f"memory must be between 8M and 1T, got {value} bytes")
        return value

    @field_validator("disk_bytes")
    @classmethod
    def _disk_bounds(cls, value: int) -> int:
        if value < MIB:
            raise ValueError(f"disk must be at least 1M, got {value} bytes")
        return value


MAX_LOG_FILES = 10
MIN_LOG_BYTES = 64 << 10  # conmon's records are up to 8 KiB: a cap below holds few of them


class LogOptions(_Model):
    """The container's log: conmon caps each file at `max_bytes`, the daemon keeps
    `max_files` of them (the live one included). None takes the engine's default."""

    max_bytes: int | None = None
    max_files: int | None = Field(default=None, ge=1, le=MAX_LOG_FILES)

    @field_validator("max_bytes", mode="before")
    @classmethod
    def _size(cls, value: str | int | None) -> int | None:
        return None if value is None else parse_size(value)

    @field_validator("max_bytes")
    @classmethod
    def _bounds(cls, value: int | None) -> int | None:
        if value is not None and not MIN_LOG_BYTES <= value <= 1 << 30:
            raise ValueError(f"log max_bytes must be between 64K and 1G, got {value} bytes")
        return value


class ProcessSpec(_Model):
    """What to run; empty args means the image's default command."""

    args: list[str] = []
    # None: the image's entrypoint; a list replaces it, and then the image's command is not
    # used either (docker's --entrypoint); [] runs `args` alone
    entrypoint: list[str] | None = None
    env: dict[str, str] = {}
    cwd: str | None = None
    user: str | None = None
    terminal: bool = False

    @field_validator("args")
    @classmethod
    def _args(cls, value: list[str]) -> list[str]:
        return [_no_nul(a, "argument") for a in value]

    @field_validator("entrypoint")
    @classmethod
    def _entrypoint(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_no_nul(a, "entrypoint") for a in value]

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not _ENV_KEY.match(key):
                raise ValueError(f"invalid environment variable name {key!r}")
            _no_nul(item, f"value of {key}")
        return value

    @field_validator("cwd")
    @classmethod
    def _cwd(cls, value: str | None) -> str | None:
        return None if value is None else _clean_absolute(value, "working directory")

    @field_validator("user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        if value is not None and not _USER.match(value):
            raise ValueError(f"invalid user {value!r}: use NAME, UID or UID:GID")
        return value


class BindMount(_Model):
    """A host directory shown inside the container; read-only unless asked."""

    host_path: str
    container_path: str
    read_only: bool = True

    @field_validator("host_path")
    @classmethod
    def _host(cls, value: str) -> str:
        return _clean_absolute(value, "host path")

    @field_validator("container_path")
    @classmethod
    def _target(cls, value: str) -> str:
        clean = _clean_absolute(value, "container path")
        inside = (clean == t or clean.startswith(t + "/") for t in _FORBIDDEN_TARGETS[1:])
        if clean == "/" or any(inside):
            raise ValueError(f"cannot mount over {clean}")
        return clean


# A host address a port is published on: None for every address of the host.
HostAddress = Annotated[IPv4Address | None, BeforeValidator(host_address)]


class PortMapping(_Model):
    """Host port to container port; host port 0 asks for a free one. `host_ip` binds the
    mapping to one address of the host (docker's -p IP:H:C); None publishes it on all."""

    host_port: int = Field(ge=0, le=65535)
    container_port: int = Field(ge=1, le=65535)
    protocol: Literal["tcp", "udp"] = "tcp"
    host_ip: HostAddress = None

    def describe(self) -> str:
        """docker's form: 127.0.0.1:8080->80/tcp, or 8080->80/tcp on every address."""
        where = f"{self.host_ip}:" if self.host_ip is not None else ""
        return f"{where}{self.host_port}->{self.container_port}/{self.protocol}"


class UnsafeOptions(_Model):
    """Deliberate weakenings, each named loudly; every use is recorded and reported."""

    disable_seccomp: bool = False
    disable_userns: bool = False
    disable_mac: bool = False
    cap_add: list[str] = []

    @field_validator("cap_add")
    @classmethod
    def _caps(cls, value: list[str]) -> list[str]:
        names = {cap_name(c) for c in value}
        unknown = sorted(names - KNOWN_CAPABILITIES)
        if unknown:
            raise ValueError(f"unknown capability {unknown[0]}")
        return sorted(names)

    def in_use(self) -> list[str]:
        """Names of the weakenings this request asks for, for audit and inspect."""
        used = [name for name in ("disable_seccomp", "disable_userns", "disable_mac")
                if getattr(self, name)]
        return used + [f"cap_add:{c}" for c in self.cap_add]


Handle = Annotated[str, Field(pattern=HANDLE_PATTERN)]
# Bounds that keep the init's Landlock rule list (1024 ranges) out of reach.
MAX_PORT_MAPPINGS = 256
MAX_PORT_RANGES = 64


def _port_list(text: str) -> str:
    intervals = parse_ports(text)
    if len(intervals) > MAX_PORT_RANGES:
        raise ValueError(f"{len(intervals)} port ranges; at most {MAX_PORT_RANGES}")
    return format_ports(intervals)


class ContainerSpec(_Model):
    """Everything a caller may ask of one container."""

    handle: Handle
    # the container's host name (its UTS namespace); the handle when not given
    hostname: str | None = Field(default=None,
                                 pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
    image: str = Field(default="busybox", pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$")
    process: ProcessSpec = ProcessSpec()
    limits: Limits = Limits()
    log: LogOptions = LogOptions()
    mounts: list[BindMount] = []
    ports: list[PortMapping] = Field(default=[], max_length=MAX_PORT_MAPPINGS)
    # TCP ports the application may bind beside its mapped container ports, and the TCP
    # ports it may connect to ("none" for none; absent leaves connect to the firewall).
    # Both are Landlock rules fixed for the container's life (docs/security-model.md).
    listen_ports: str | None = None
    connect_ports: str | None = None
    security_groups: list[str] = []
    properties: dict[str, str] = {}
    grace_time_s: int | None = Field(default=None, ge=1)
    cap_add: list[str] = []
    devices: list[Literal["fuse", "tun"]] = []
    writable_paths: list[str] = []
    # Admit the i386 ABI for images with 32-bit programs (x32 stays refused). It widens the
    # kernel surface; socketcall's socket and socketpair are refused (docs/security-model.md).
    allow_32bit: bool = False
    unsafe: UnsafeOptions = UnsafeOptions()

    @field_validator("writable_paths")
    @classmethod
    def _writable(cls, value: list[str]) -> list[str]:
        return sorted({_clean_absolute(p, "writable path") for p in value})

    @field_validator("listen_ports")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        return None if value is None else _port_list(value)

    @field_validator("connect_ports")
    @classmethod
    def _connect(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return "none" if value.strip().lower() == "none" else _port_list(value)

    @field_validator("cap_add")
    @classmethod
    def _caps(cls, value: list[str]) -> list[str]:
        normal = sorted({cap_name(c) for c in value})
        bad = [c for c in normal if c not in ADDABLE_CAPABILITIES]
        if bad:
            allowed = ", ".join(sorted(ADDABLE_CAPABILITIES))
            raise ValueError(f"capability {bad[0]} cannot be added; allowed: {allowed}")
        return normal

    @model_validator(mode="after")
    def _unique_targets(self) -> "ContainerSpec":
        targets = [m.container_path for m in self.mounts]
        if len(targets) != len(set(targets)):
            raise ValueError("two mounts share one container path")
        return self
