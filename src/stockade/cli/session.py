"""Global flags and the client every command talks to the daemon through."""

import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from stockade.client.base import JsonClient
from stockade.wire import DEFAULT_SOCKET, SETTINGS_FILE, SETTINGS_VARIABLE

if TYPE_CHECKING:
    from stockade.client import Client


def _socket_in_settings(config: Path | None = None) -> Path | None:
    """The settings file's `socket` (the global --config, STOCKADE_CONFIG or the default
    file), so a moved socket is found without a flag. Read with tomllib alone: the CLI must
    not import the server's settings model to start fast. A file the CLI cannot read or
    parse is the daemon's to report, not every command's."""
    path = config or Path(os.environ.get(SETTINGS_VARIABLE) or SETTINGS_FILE)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    import tomllib  # 16 ms: paid only where a settings file exists

    try:
        value = tomllib.loads(text).get("socket")
    except tomllib.TOMLDecodeError:
        return None
    return Path(value) if isinstance(value, str) else None


class Options(NamedTuple):
    """Global flags every command accepts. `root` matters to the daemon (`server`) and to
    commands that read its files directly (`audit`); the rest talk to the socket.
    `socket_flag` is the flag alone: the daemon merges it with its own settings. `config`
    is the settings file named by the global --config (None: the daemon's own rules)."""

    root: Path | None
    socket: Path
    socket_flag: Path | None = None
    config: Path | None = None

    @classmethod
    def from_flags(cls, root: Path | None, socket: Path | None,
                   config: Path | None = None) -> "Options":
        env = os.environ.get("STOCKADE_SOCKET")
        chosen = socket or (Path(env) if env else None) or _socket_in_settings(config) \
            or DEFAULT_SOCKET
        return cls(root=root, socket=chosen, socket_flag=socket, config=config)


def open_client(options: Options) -> "Client":
    """The typed client (its models load pydantic). Connects lazily: the first call says
    how to start a daemon if none answers."""
    from stockade.client import Client

    return Client(options.socket)


def open_json(options: Options) -> JsonClient:
    """The client for commands that print the daemon's JSON or read a few fields of it:
    no model, so no pydantic (`ps`, `inspect`, `version`, `rm`, ...)."""
    return JsonClient(options.socket)
