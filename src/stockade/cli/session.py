"""Global flags and the client every command talks to the daemon through."""

import os
from dataclasses import dataclass
from pathlib import Path

from stockade.api.config import DEFAULT_SOCKET
from stockade.client import Client


@dataclass(frozen=True)
class Options:
    """Global flags every command accepts. `root` matters to the daemon (`server`) and to
    commands that read its files directly (`audit`); the rest talk to the socket."""

    root: Path | None
    socket: Path

    @classmethod
    def from_flags(cls, root: Path | None, socket: Path | None) -> "Options":
        chosen = socket or Path(os.environ.get("STOCKADE_SOCKET", str(DEFAULT_SOCKET)))
        return cls(root=root, socket=chosen)


def open_client(options: Options) -> Client:
    """Connects lazily: the first call says how to start a daemon if none answers."""
    return Client(options.socket)
