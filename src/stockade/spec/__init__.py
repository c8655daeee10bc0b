"""The public data model: what a caller may ask of a container, validated."""

from stockade.spec.container import (
    ADDABLE_CAPABILITIES,
    DEFAULT_DISK,
    DEFAULT_MEMORY,
    DEFAULT_PIDS,
    HANDLE_PATTERN,
    BindMount,
    ContainerSpec,
    Limits,
    PortMapping,
    ProcessSpec,
    UnsafeOptions,
)
from stockade.spec.info import ContainerInfo, LimitsInfo, State
from stockade.spec.sizes import format_size, parse_size

__all__ = [
    "ADDABLE_CAPABILITIES",
    "DEFAULT_DISK",
    "DEFAULT_MEMORY",
    "DEFAULT_PIDS",
    "HANDLE_PATTERN",
    "BindMount",
    "ContainerInfo",
    "ContainerSpec",
    "Limits",
    "LimitsInfo",
    "PortMapping",
    "ProcessSpec",
    "State",
    "UnsafeOptions",
    "format_size",
    "parse_size",
]
