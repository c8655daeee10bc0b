"""Container networking: namespaces, veth pairs, the bridge, published ports, egress policy."""

from stockade.network.config import NetworkConfig
from stockade.network.leases import PortLease
from stockade.network.manager import (
    Attachment,
    AttachRequest,
    GroupSource,
    NetworkManager,
    PortState,
)

__all__ = ["AttachRequest", "Attachment", "GroupSource", "NetworkConfig", "NetworkManager",
           "PortLease", "PortState"]
