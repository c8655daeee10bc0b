"""Engine settings: where state lives, which host ids containers use, what may be mounted."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stockade.network.config import NetworkConfig

DEFAULT_ROOT = Path("/var/lib/stockade")
DEFAULT_ID_BASE = 1_000_000  # far above real users and the usual /etc/subuid ranges


class EngineConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    root: Path = DEFAULT_ROOT
    id_base: int = Field(default=DEFAULT_ID_BASE, ge=65536, le=(1 << 32) - 65536 - 2)
    cgroup_parent: str = Field(default="stockade", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    bind_allowlist: tuple[Path, ...] = (Path("/srv/stockade"),)
    runc_binary: str = "runc"
    conmon_binary: str = "conmon"  # the per-container monitor (docs/engine.md)
    # each container's log: conmon caps a file at log_max_bytes, the daemon keeps
    # log_max_files of them; a container's spec may choose its own (spec.log)
    log_max_bytes: int = Field(default=10 << 20, ge=64 << 10, le=1 << 30)
    log_max_files: int = Field(default=2, ge=1, le=10)
    # the events table (exits, OOM kills, lost monitors, unsafe options, denials) is pruned
    # to the newest events_max_count and to those younger than events_max_age_s
    events_max_count: int = Field(default=100_000, ge=100)
    events_max_age_s: float = Field(default=30 * 86400.0, gt=0)
    stop_timeout_s: float = Field(default=10.0, gt=0)
    quota_backend: Literal["auto", "xfs", "btrfs", "loop"] = "auto"
    volume_store_bytes: int = Field(default=16 << 30, ge=256 << 20)  # sparse btrfs store file
    network: NetworkConfig = NetworkConfig()
