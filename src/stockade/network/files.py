"""/etc/hosts and /etc/resolv.conf for one container."""

import contextlib
from ipaddress import IPv4Address
from pathlib import Path

HOST_RESOLV_CONF = Path("/etc/resolv.conf")


def hosts_file(handle: str, address: IPv4Address, hostname: str | None = None) -> str:
    names = handle if hostname in (None, handle) else f"{hostname} {handle}"
    return ("127.0.0.1\tlocalhost\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            f"{address}\t{names}\n")


def host_nameservers(path: Path = HOST_RESOLV_CONF) -> list[IPv4Address]:
    """The host's IPv4 resolvers, less loopback ones a container could never reach."""
    servers = []
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "nameserver":
                with contextlib.suppress(ValueError):
                    address = IPv4Address(fields[1])
                    if not address.is_loopback:
                        servers.append(address)
    return servers


def resolv_conf(servers: list[IPv4Address]) -> str:
    """Resolvers to ask; reaching them still needs a security group allowing udp/tcp 53."""
    lines = [f"nameserver {server}" for server in servers]
    return "\n".join([*lines, "options ndots:1", ""])
