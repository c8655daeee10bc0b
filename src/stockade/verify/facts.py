"""What the probe saw inside, and what the host sees from outside, as plain data."""

import errno as errno_codes
import signal

from pydantic import BaseModel, ConfigDict


def errno_name(code: int) -> str:
    """'ok' for success, else the symbolic name (EPERM) the reader will recognise; the
    probe reports an attempt whose child was killed by signal N as -N."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return "ok" if code == 0 else errno_codes.errorcode.get(code, f"errno {code}")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Attempt(_Frozen):
    """One harmless attempt: the errno it met (0 means it succeeded, -N that it was
    killed by signal N)."""

    name: str
    errno: int
    detail: str

    @property
    def result(self) -> str:
        return errno_name(self.errno)


class MaskedPath(_Frozen):
    """A masked path read from inside: errno 0 and size 0 means empty."""

    path: str
    errno: int
    size: int


class ReadonlyPath(_Frozen):
    """read_only is the statvfs flag (None when the path is absent, errno says why);
    write_errno is the open-for-write result, None for directories (not opened)."""

    path: str
    read_only: bool | None
    write_errno: int | None


class MountFlags(_Frozen):
    """A writable directory's mount flags from statvfs (ro, nosuid, nodev, noexec), or
    absent with the errno of the failed statvfs."""

    path: str
    flags: frozenset[str] = frozenset()
    absent_errno: int | None = None


class DeviceNode(_Frozen):
    path: str
    kind: str  # "c" or "b"
    major: int
    minor: int


class ProbeFacts(_Frozen):
    """Everything the in-container probe printed, parsed; `complete` once it reached the end."""

    facts: dict[str, str] = {}
    lists: dict[str, tuple[str, ...]] = {}
    attempts: tuple[Attempt, ...] = ()
    masked: tuple[MaskedPath, ...] = ()
    readonly: tuple[ReadonlyPath, ...] = ()
    devices: tuple[DeviceNode, ...] = ()
    mountflags: tuple[MountFlags, ...] = ()
    complete: bool = False
    malformed: tuple[str, ...] = ()

    def fact(self, key: str) -> str | None:
        return self.facts.get(key)

    def items(self, name: str) -> tuple[str, ...]:
        return self.lists.get(name, ())

    def named(self, name: str) -> tuple[Attempt, ...]:
        return tuple(a for a in self.attempts if a.name == name)


class DiskFacts(_Frozen):
    """The writable layer's quota as the volumes layer reports it."""

    backend: str
    limit_bytes: int
    used_bytes: int | None = None


class FirewallFacts(_Frozen):
    """The host's side of a wired container's port (network.PortState)."""

    port: str
    guarded: bool  # both port guard programs on the host end of its veth
    hooked: bool  # its address and chain in Stockade's table
    table: str


class NetworkFacts(_Frozen):
    """The network layer's view: the container's address, the egress targets probed, and
    its port as the host sees it (None: not wired, or not read)."""

    ip: str | None = None
    egress_targets: tuple[str, ...] = ()
    firewall: FirewallFacts | None = None


class CgroupFacts(_Frozen):
    """Raw cgroup files of the container's init, keyed 'memory.limit_in_bytes' etc."""

    version: int
    files: dict[str, str] = {}
    devices_list: tuple[str, ...] | None = None


class HostFacts(_Frozen):
    """Read from the host's side: namespaces, the init's credentials, its cgroups."""

    host_namespaces: dict[str, str]
    container_namespaces: dict[str, str]
    init_status: dict[str, str]
    init_fds: tuple[str, ...]  # "N target" for every descriptor above stderr
    cgroup: CgroupFacts
    disk: DiskFacts | None = None
    network: NetworkFacts = NetworkFacts()
    probe_exit: int = 0
    probe_stderr: str = ""


_FIELDS = {"fact": 2, "item": 2, "attempt": 3, "masked": 3, "readonly": 3, "device": 3,
           "mountflags": 2, "end": 1}


def parse_probe(text: str) -> ProbeFacts:
    """Parse the probe's tab-separated records; unknown or broken lines are kept aside."""
    facts: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    parts: dict[str, list[object]] = {"attempt": [], "masked": [], "readonly": [],
                                      "device": [], "mountflags": []}
    malformed: list[str] = []
    complete = False
    for line in text.splitlines():
        kind, *fields = line.split("\t")
        if _FIELDS.get(kind) != len(fields):
            if line.strip():
                malformed.append(line)
            continue
        try:
            if kind == "fact":
                facts[fields[0]] = fields[1].strip()
            elif kind == "item":
                lists.setdefault(fields[0], []).append(fields[1].strip())
            elif kind == "end":
                complete = fields[0] == "ok"
            else:
                parts[kind].append(_record(kind, fields))
        except ValueError:
            malformed.append(line)
    return ProbeFacts.model_validate({
        "facts": facts, "lists": {k: tuple(v) for k, v in lists.items()},
        "attempts": parts["attempt"], "masked": parts["masked"],
        "readonly": parts["readonly"], "devices": parts["device"],
        "mountflags": parts["mountflags"], "complete": complete, "malformed": tuple(malformed)})


def _record(kind: str, fields: list[str]) -> BaseModel:
    if kind == "attempt":
        return Attempt(name=fields[0], errno=int(fields[1]), detail=fields[2])
    if kind == "masked":
        return MaskedPath(path=fields[0], errno=int(fields[1]), size=int(fields[2]))
    if kind == "readonly":
        flag, err = int(fields[1]), int(fields[2])
        if flag < 0:  # absent: the errno of the failed stat
            return ReadonlyPath(path=fields[0], read_only=None, write_errno=err)
        return ReadonlyPath(path=fields[0], read_only=bool(flag),
                            write_errno=None if err < 0 else err)
    if kind == "mountflags":
        if fields[1].startswith("absent:"):
            return MountFlags(path=fields[0], absent_errno=int(fields[1].partition(":")[2]))
        names = frozenset() if fields[1] == "-" else frozenset(fields[1].split(","))
        return MountFlags(path=fields[0], flags=names)
    major, _, minor = fields[2].partition(":")
    return DeviceNode(path=fields[0], kind=fields[1], major=int(major), minor=int(minor))
