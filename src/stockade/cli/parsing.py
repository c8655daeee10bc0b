"""Turn docker-style command-line values into the JSON of spec objects (the daemon checks
them: cli/containers.py says why the CLI does not load the models)."""

import os
from typing import Any

from stockade.addresses import host_address
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


_PUBLISH_USAGE = ("use [IP:][HOSTPORT]:CONTAINERPORT or CONTAINERPORT, with /tcp or /udp "
                  "(IP: one IPv4 address of the host)")


def publish(value: str) -> dict[str, Any]:
    """docker's -p: [:]CONTAINERPORT (a free host port is picked), HOSTPORT:CONTAINERPORT,
    IP:HOSTPORT:CONTAINERPORT or IP::CONTAINERPORT (a free port on that address), each
    with /tcp or /udp. Without an IP (or with 0.0.0.0) the port is published on every
    host address; with one, on that address alone. Stockade's network is IPv4 only, so
    [IPv6]:... is refused in one line. Every refusal is one InvalidSpec line. A
    PortMapping's JSON, checked here with the model's own rules for the address
    (stockade.addresses) and ports, so a bad -p names the flag."""
    address, host, container, protocol = _publish_parts(value)
    mapping: dict[str, Any] = {"host_port": int(host or "0"),
                               "container_port": int(container),
                               "protocol": "udp" if protocol == "udp" else "tcp"}
    if not mapping["host_port"] <= 65535 or not 1 <= mapping["container_port"] <= 65535:
        raise InvalidSpec(f"--publish {value!r}: ports are 1 to 65535 (a host port of 0 "
                          "or none picks a free one)")
    try:
        chosen = host_address(address)
    except ValueError as exc:
        raise InvalidSpec(f"--publish {value!r}: {exc}") from None
    if chosen is not None:
        mapping["host_ip"] = str(chosen)
    return mapping


def _publish_parts(value: str) -> tuple[str | None, str, str, str]:
    """(address or None, host port ("" for a free one), container port, protocol) as
    written; refused unless each part has the shape its place wants."""
    usage = f"--publish {value!r}: {_PUBLISH_USAGE}"
    spec, slash, protocol = value.partition("/")
    if slash and protocol not in ("tcp", "udp"):
        raise InvalidSpec(usage)
    address: str | None = None
    if spec.startswith("["):  # [IPv6]:HOSTPORT:CONTAINERPORT, docker's way of writing one
        inside, bracket, rest = spec[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise InvalidSpec(usage)
        address, ports = f"[{inside}]", rest[1:].split(":")
        if len(ports) != 2:
            raise InvalidSpec(usage)
    else:
        ports = spec.rsplit(":", 2)
        if len(ports) == 3:
            address, ports = ports[0], ports[1:]
    if len(ports) == 1:
        ports = ["", ports[0]]
    host, container = ports  # host "" (CONTAINERPORT, :CONTAINERPORT, IP::...): a free one
    if not _port_text(host, empty=True) or not _port_text(container, empty=False):
        raise InvalidSpec(usage)
    if address is not None and not address.isprintable():
        raise InvalidSpec(usage)
    return address or None, host, container, protocol


def _port_text(text: str, empty: bool) -> bool:
    """ASCII digits, at most five (the range is checked by the model); "" when allowed."""
    if not text:
        return empty
    return text.isascii() and text.isdigit() and len(text) <= 5
