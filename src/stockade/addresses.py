"""A host address a port is published on (docker's -p IP:HOST:CONTAINER), read the same way
by the spec's model and by the CLI: standard library only, so the CLI checks a -p value
without loading the models (cli/containers.py says why)."""

import ipaddress
from ipaddress import IPv4Address


def host_address(value: object) -> IPv4Address | None:
    """One host address to publish on; None (and 0.0.0.0) means every address. Stockade's
    network is IPv4 only (its table matches ipv4 and its maps hold ipv4_addr)."""
    if value is None or isinstance(value, IPv4Address):
        address = value
    elif isinstance(value, str) and value.isascii() and 0 < len(value) <= 45:
        bracketed = value.startswith("[") and value.endswith("]")
        try:
            parsed = ipaddress.ip_address(value[1:-1] if bracketed else value)
        except ValueError:
            raise ValueError(f"host address {value!r} is not an IPv4 address") from None
        if bracketed and parsed.version == 4:
            raise ValueError(f"host address {value!r} is not an IPv4 address")
        if parsed.version == 6:
            raise ValueError(f"host address {value}: IPv6 is not supported; ports are "
                             "published on IPv4 addresses only")
        address = IPv4Address(parsed)
    elif isinstance(value, str):
        raise ValueError(f"host address {value[:48]!r} is not an IPv4 address")
    else:
        raise ValueError("host address must be a string such as 127.0.0.1")
    if address is None or address == IPv4Address("0.0.0.0"):
        return None
    if address.is_multicast or address == IPv4Address("255.255.255.255"):
        raise ValueError(f"host address {address} is not a unicast address")
    return address
