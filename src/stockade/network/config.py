"""Network settings: host-wide names (bridge, table, pool) and the knobs around them."""

import hashlib
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_POOL = IPv4Network("10.254.0.0/22")
DEFAULT_STATE_DIR = Path("/run/stockade/network")  # tmpfs: dies with the links at reboot
DEFAULT_NETNS_DIR = Path("/run/netns")


class NetworkConfig(BaseModel):
    """One stockade network on a host. Every engine root that shares these names shares
    the bridge, the address pool, the published host ports and the nftables table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bridge: str = Field(default="stk0", pattern=r"^[A-Za-z0-9_-]{1,15}$")
    pool: IPv4Network = DEFAULT_POOL
    table: str = Field(default="stockade", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
    state_dir: Path = DEFAULT_STATE_DIR
    netns_dir: Path = DEFAULT_NETNS_DIR
    link_prefix: str = Field(default="stk", pattern=r"^[a-z]{1,7}$")
    port_range: tuple[int, int] = (40000, 49999)
    dns_servers: tuple[IPv4Address, ...] | None = None  # None: the host's, minus loopback
    uplinks: tuple[str, ...] | None = None  # None: interfaces holding a default route
    log_group: int = Field(default=4242, ge=1, le=65535)
    deny_log_per_second: int = Field(default=10, ge=1, le=10_000)

    @field_validator("pool")
    @classmethod
    def _pool_size(cls, value: IPv4Network) -> IPv4Network:
        if not 16 <= value.prefixlen <= 29:
            raise ValueError("the pool must be between a /16 and a /29")
        return value

    @model_validator(mode="after")
    def _ports(self) -> "NetworkConfig":
        low, high = self.port_range
        if not 1 <= low <= high <= 65535:
            raise ValueError("port_range must satisfy 1 <= low <= high <= 65535")
        return self

    @property
    def gateway(self) -> IPv4Address:
        return self.pool.network_address + 1

    def host_addresses(self) -> list[IPv4Address]:
        """Addresses containers may get: the pool less network, gateway and broadcast."""
        return list(self.pool.hosts())[1:]


def scope_tag(scope: str) -> str:
    """A short stable name for an engine root, used in nftables object names."""
    return hashlib.sha256(scope.encode()).hexdigest()[:8]
