"""Per-container root filesystems: overlay of read-only layers plus a writable layer."""

from stockade.volumes.manager import DiskUsage, VolumeConfig, Volumes
from stockade.volumes.overlay import RootFs
from stockade.volumes.probe import QuotaChoice

__all__ = ["DiskUsage", "QuotaChoice", "RootFs", "VolumeConfig", "Volumes"]
