"""Global flags and the client every command talks to the daemon through."""

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from stockade.client.base import JsonClient
from stockade.client.remote import Endpoint, Remote, resolve
from stockade.errors import StockadeError

if TYPE_CHECKING:
    from argparse import Namespace

    from stockade.client import Client


class Options(NamedTuple):
    """Global flags every command accepts. `root` matters to the daemon (`server`) and to
    commands that read its files directly (`audit`); the rest talk to the daemon, on its
    unix socket (`socket`) or, with a tcp:// host, over TLS (`remote`; client/remote.py
    has the rules). `socket_flag` is the socket a flag named: the daemon merges it with its
    own settings. `config` is the settings file named by the global --config (None: the
    daemon's own rules)."""

    root: Path | None
    socket: Path
    socket_flag: Path | None = None
    config: Path | None = None
    remote: Remote | None = None

    @classmethod
    def from_flags(cls, root: Path | None, socket: Path | None,
                   config: Path | None = None, host: str | None = None,
                   tlscacert: Path | None = None, tlscert: Path | None = None,
                   tlskey: Path | None = None, token_file: Path | None = None) -> "Options":
        """The daemon the flags and the environment name; InvalidSpec for a bad --host or
        STOCKADE_HOST, or a choice that is not one."""
        chosen = resolve(host=host, socket=socket, config=config, tlscacert=tlscacert,
                         tlscert=tlscert, tlskey=tlskey, token_file=token_file)
        return cls(root=root, socket=chosen.socket, socket_flag=chosen.socket_flag,
                   config=config, remote=chosen.remote)

    @classmethod
    def from_globals(cls, top: "Namespace") -> "Options":
        """From the global flags as cli/parser.py reads them."""
        return cls.from_flags(top.root, top.socket, top.config, top.host, top.tlscacert,
                              top.tlscert, top.tlskey, top.token_file)

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.socket, self.remote, self.socket_flag)

    def local_only(self, what: str) -> None:
        """Refuses, in one line, something that acts on the daemon's own host (its files,
        its paths) when the daemon is a remote one."""
        if self.remote is not None:
            raise StockadeError(f"{what} needs the local daemon, not the remote one at "
                                f"{self.remote.address.url}")


def open_client(options: Options) -> "Client":
    """The typed client (its models load pydantic). Connects lazily: the first call says
    how to start a daemon if none answers."""
    from stockade.client import Client

    return Client(options.socket, transport=options.endpoint.transport())


def open_json(options: Options) -> JsonClient:
    """The client for commands that print the daemon's JSON or read a few fields of it:
    no model, so no pydantic (`ps`, `inspect`, `version`, `rm`, ...)."""
    return JsonClient(options.socket, transport=options.endpoint.transport())
