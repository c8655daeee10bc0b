"""Turn docker-style command-line values into the JSON of spec objects (the daemon checks
them: cli/containers.py says why the CLI does not load the models)."""

import os
from typing import Any

from stockade.errors import InvalidSpec


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


def volume(value: str) -> dict[str, Any]:
    """HOSTPATH:CONTAINERPATH[:ro|:rw], read-only unless :rw: a BindMount's JSON."""
    parts = value.split(":")
    if len(parts) == 2:
        parts.append("ro")
    if len(parts) != 3 or parts[2] not in ("ro", "rw") or not parts[0] or not parts[1]:
        raise InvalidSpec(f"--volume {value!r}: use HOSTPATH:CONTAINERPATH[:ro|:rw]")
    return {"host_path": parts[0], "container_path": parts[1], "read_only": parts[2] == "ro"}


def publish(value: str) -> dict[str, Any]:
    """docker's -p: [IP:]HOSTPORT:CONTAINERPORT or CONTAINERPORT (a free host port is
    picked), with /tcp or /udp. Ports are published on every host address: an IP other
    than 0.0.0.0 is refused, as the port mappings cannot be bound to one address yet.
    A PortMapping's JSON."""
    spec, _, protocol = value.partition("/")
    parts = spec.split(":")
    usage = (f"--publish {value!r}: use [0.0.0.0:]HOSTPORT:CONTAINERPORT or CONTAINERPORT, "
             "with /tcp or /udp")
    if len(parts) == 3:
        if parts[0] not in ("0.0.0.0", ""):
            raise InvalidSpec(f"--publish {value!r}: publishing on one host address "
                              f"({parts[0]}) is not supported; ports are published on "
                              "every address")
        parts = parts[1:]
    if len(parts) == 1:
        parts = ["0", parts[0]]
    host, container = parts if len(parts) == 2 else ("", "")
    if not host.isascii() or not host.isdigit() or not container.isascii() \
            or not container.isdigit() or protocol not in ("", "tcp", "udp"):
        raise InvalidSpec(usage)
    return {"host_port": int(host), "container_port": int(container),
            "protocol": "udp" if protocol == "udp" else "tcp"}
