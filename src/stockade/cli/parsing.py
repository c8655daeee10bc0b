"""Turn docker-style command-line values into spec objects."""

import os
from typing import TYPE_CHECKING

from stockade.errors import InvalidSpec

if TYPE_CHECKING:  # imported where used: only run and create build a spec
    from stockade.spec import BindMount, PortMapping


def env_pairs(values: list[str]) -> dict[str, str]:
    """K=V sets; a bare K copies the caller's value (docker habit)."""
    env: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            if key not in os.environ:
                raise InvalidSpec(f"--env {key}: not set in this environment; use {key}=VALUE")
            value = os.environ[key]
        env[key] = value
    return env


def volume(value: str) -> "BindMount":
    from stockade.spec import BindMount

    """HOSTPATH:CONTAINERPATH[:ro|:rw], read-only unless :rw."""
    parts = value.split(":")
    if len(parts) == 2:
        parts.append("ro")
    if len(parts) != 3 or parts[2] not in ("ro", "rw") or not parts[0] or not parts[1]:
        raise InvalidSpec(f"--volume {value!r}: use HOSTPATH:CONTAINERPATH[:ro|:rw]")
    return BindMount(host_path=parts[0], container_path=parts[1], read_only=parts[2] == "ro")


def publish(value: str) -> "PortMapping":
    from stockade.spec import PortMapping

    """HOSTPORT:CONTAINERPORT[/tcp|/udp]; host port 0 picks a free one."""
    spec, _, protocol = value.partition("/")
    host, sep, container = spec.partition(":")
    if not sep or not host.isascii() or not host.isdigit() or not container.isascii() \
            or not container.isdigit() or protocol not in ("", "tcp", "udp"):
        raise InvalidSpec(f"--publish {value!r}: use HOSTPORT:CONTAINERPORT[/tcp|/udp]")
    return PortMapping(host_port=int(host), container_port=int(container),
                       protocol="udp" if protocol == "udp" else "tcp")
