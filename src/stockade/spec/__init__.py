"""The public data model: what a caller may ask of a container, validated."""

from stockade.spec.container import (
    ADDABLE_CAPABILITIES,
    DEFAULT_DISK,
    DEFAULT_MEMORY,
    DEFAULT_PIDS,
    HANDLE_PATTERN,
    BindMount,
    ContainerSpec,
    HostAddress,
    Limits,
    LogOptions,
    PortMapping,
    ProcessSpec,
    UnsafeOptions,
    cap_name,
)
from stockade.spec.info import ContainerInfo, DiskInfo, LimitsInfo, LogInfo, State
from stockade.spec.network import (
    EgressRule,
    NetworkPolicy,
    SecurityGroup,
    parse_destination,
    parse_rules,
)
from stockade.spec.ports import format_ports, parse_ports
from stockade.spec.sizes import format_size, human_size, parse_size
from stockade.spec.usage import Capacity, ContainerMetrics, LimitsPatch

__all__ = [
    "ADDABLE_CAPABILITIES",
    "DEFAULT_DISK",
    "DEFAULT_MEMORY",
    "DEFAULT_PIDS",
    "HANDLE_PATTERN",
    "BindMount",
    "Capacity",
    "ContainerInfo",
    "ContainerMetrics",
    "ContainerSpec",
    "DiskInfo",
    "EgressRule",
    "HostAddress",
    "Limits",
    "LimitsInfo",
    "LimitsPatch",
    "LogInfo",
    "LogOptions",
    "NetworkPolicy",
    "PortMapping",
    "ProcessSpec",
    "SecurityGroup",
    "State",
    "UnsafeOptions",
    "cap_name",
    "format_ports",
    "format_size",
    "human_size",
    "parse_destination",
    "parse_ports",
    "parse_rules",
    "parse_size",
]
