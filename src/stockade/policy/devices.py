"""The device cgroup allowlist and the optional device nodes."""

from dataclasses import dataclass
from typing import Literal

_RWM = "rwm"


@dataclass(frozen=True)
class CharDevice:
    path: str
    major: int
    minor: int | None  # None: every minor (the pts range)


# Platform facts: these character devices and nothing else; never a block device.
ALLOWED = (
    CharDevice("/dev/null", 1, 3),
    CharDevice("/dev/zero", 1, 5),
    CharDevice("/dev/full", 1, 7),
    CharDevice("/dev/random", 1, 8),
    CharDevice("/dev/urandom", 1, 9),
    CharDevice("/dev/tty", 5, 0),
    CharDevice("/dev/ptmx", 5, 2),
    CharDevice("/dev/pts/*", 136, None),
    CharDevice("/dev/tty0", 4, 0),
    CharDevice("/dev/tty1", 4, 1),
    CharDevice("/dev/fuse", 10, 229),
    CharDevice("/dev/net/tun", 10, 200),
)

OPTIONAL_NODES: dict[str, CharDevice] = {
    "fuse": CharDevice("/dev/fuse", 10, 229),
    "tun": CharDevice("/dev/net/tun", 10, 200),
}


def cgroup_rules() -> list[dict[str, object]]:
    """Deny everything, then allow exactly ALLOWED."""
    rules: list[dict[str, object]] = [{"allow": False, "access": _RWM}]
    for dev in ALLOWED:
        rule: dict[str, object] = {"allow": True, "type": "c", "major": dev.major, "access": _RWM}
        if dev.minor is not None:
            rule["minor"] = dev.minor
        rules.append(rule)
    return rules


def device_nodes(wanted: list[Literal["fuse", "tun"]]) -> list[dict[str, object]]:
    """Nodes beyond runc's standard set (null, zero, full, random, urandom, tty, ptmx)."""
    nodes = []
    for name in sorted(set(wanted)):
        dev = OPTIONAL_NODES[name]
        nodes.append(
            {"path": dev.path, "type": "c", "major": dev.major, "minor": dev.minor,
             "fileMode": 0o666, "uid": 0, "gid": 0}
        )
    return nodes
