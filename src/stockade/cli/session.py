"""Build the engine the CLI drives (in-process until the API daemon lands)."""

import os
from dataclasses import dataclass
from pathlib import Path

from stockade.engine import Engine, EngineConfig
from stockade.errors import StockadeError
from stockade.host import probe

DEFAULT_SOCKET = Path("/run/stockade/stockade.sock")


@dataclass(frozen=True)
class Options:
    """Global flags every command accepts."""

    root: Path | None
    socket: Path

    @classmethod
    def from_flags(cls, root: Path | None, socket: Path | None) -> "Options":
        chosen = socket or Path(os.environ.get("STOCKADE_SOCKET", str(DEFAULT_SOCKET)))
        return cls(root=root, socket=chosen)


def open_engine(options: Options) -> Engine:
    if os.geteuid() != 0:
        raise StockadeError("stockade must run as root (it creates namespaces and cgroups)")
    host = probe()
    if not host.runc.available:
        raise StockadeError("runc is not installed: run the install command in the README")
    return Engine(EngineConfig.from_environment(options.root), host)
