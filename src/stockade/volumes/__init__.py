"""Per-container root filesystems: overlay of read-only layers plus a writable layer."""

from stockade.volumes.overlay import RootFs, create, destroy

__all__ = ["RootFs", "create", "destroy"]
