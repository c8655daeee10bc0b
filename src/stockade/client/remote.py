"""Where the daemon is and how to reach it: its unix socket, or a remote host over TCP
(always TLS, docker's `-H tcp://HOST:PORT`), with a CA to check the daemon's certificate,
a client certificate and a bearer token. One set of rules for the command line's global
flags (cli/session.py) and for `Client.from_env()`:

- `--host` and `--socket` name the daemon; both at once is refused. A flag beats the
  environment: `--host` or `--socket` given, STOCKADE_HOST and STOCKADE_SOCKET are not read.
- Without a flag, STOCKADE_HOST or STOCKADE_SOCKET (both set is refused), then the settings
  file's `socket` (--config, STOCKADE_CONFIG, /etc/stockade/stockade.toml), then the
  default socket.
- `unix:///PATH` is the same as `--socket PATH`. `tcp://HOST:PORT` (an IPv6 address in
  brackets) is always TLS: `--tlscacert` (default: the system's store), `--tlscert` and
  `--tlskey` (a client certificate), `--token-file` (a bearer token), each with its
  STOCKADE_* variable. They apply to a tcp host only; for a socket they are not read.

`ssl` is imported only when a TCP transport is made (client/tls.py): a command on the
unix socket does not pay for it."""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, NamedTuple

from stockade.client.transport import UnixTransport
from stockade.errors import InvalidSpec
from stockade.wire import DEFAULT_SOCKET, SETTINGS_FILE, SETTINGS_VARIABLE

HOST_VARIABLE = "STOCKADE_HOST"
SOCKET_VARIABLE = "STOCKADE_SOCKET"
# each TLS file's flag and variable
TLS_VARIABLES = {"tlscacert": "STOCKADE_TLSCACERT", "tlscert": "STOCKADE_TLSCERT",
                 "tlskey": "STOCKADE_TLSKEY", "token_file": "STOCKADE_TOKEN_FILE"}
_FORMS = "unix:///PATH or tcp://HOST:PORT"
_HOST_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
_MAX_TOKEN = 4096


def _shown(text: str) -> str:
    """User text in a one-line message: quoted, escaped, and not too long."""
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:76] + "...'"


class HostAddress(NamedTuple):
    """A parsed `--host`: a unix socket's path, or a TCP host (an IPv6 address without
    its brackets) and port."""

    scheme: Literal["unix", "tcp"]
    path: Path | None = None
    host: str = ""
    port: int = 0

    @property
    def url(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


def parse_host(text: str) -> HostAddress:
    """`unix:///PATH` or `tcp://HOST:PORT`; anything else raises InvalidSpec in one line."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise InvalidSpec(f"invalid host {_shown(text)}: expected {_FORMS}")
    if scheme == "unix":
        if not rest.startswith("/") or "\0" in rest or rest.rstrip("/") == "":
            raise InvalidSpec(f"invalid host {_shown(text)}: unix:// takes an absolute path "
                              "to the daemon's socket (unix:///run/stockade/stockade.sock)")
        return HostAddress("unix", path=Path(rest))
    if scheme != "tcp":
        raise InvalidSpec(f"invalid host {_shown(text)}: unknown scheme {_shown(scheme)}; "
                          f"expected {_FORMS}")
    host, port = _host_port(text, rest)
    return HostAddress("tcp", host=host, port=port)


def _host_port(text: str, rest: str) -> tuple[str, int]:
    def bad(why: str) -> InvalidSpec:
        return InvalidSpec(f"invalid host {_shown(text)}: {why}")

    if rest.startswith("["):  # [IPv6]:PORT
        host, sep, port_text = rest[1:].partition("]")
        if not sep or not port_text.startswith(":"):
            raise bad("an IPv6 address is written [ADDRESS]:PORT")
        port_text = port_text[1:]
        import ipaddress  # only for a bracketed address

        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise bad(f"{_shown(host)} is not an IPv6 address") from None
    else:
        host, sep, port_text = rest.rpartition(":")
        if not sep:
            raise bad("the port is missing (tcp://HOST:PORT)")
        if not host or not _HOST_CHARACTERS.issuperset(host) or host.startswith(("-", ".")) \
                or ".." in host or len(host) > 253:
            raise bad("expected a host name or address before the port (an IPv6 address "
                      "in brackets)")
    if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise bad(f"the port must be a number from 1 to 65535, not {_shown(port_text)}")
    return host, int(port_text)


def read_token(path: Path) -> str:
    """The bearer token in `path`: read once, surrounding whitespace removed."""
    try:
        data = path.read_bytes()[:_MAX_TOKEN + 1]
    except OSError as exc:
        raise InvalidSpec(f"cannot read the token file {path}: "
                          f"{exc.strerror or exc}") from None
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise InvalidSpec(f"the token file {path} is not text (ASCII)") from None
    if not token:
        raise InvalidSpec(f"the token file {path} is empty")
    if len(token) > _MAX_TOKEN or not token.isprintable() or any(c.isspace() for c in token):
        raise InvalidSpec(f"the token file {path} must hold one token: one line without "
                          f"spaces, at most {_MAX_TOKEN} characters")
    return token


class Remote(NamedTuple):
    """A daemon over TCP with TLS, and the files that authenticate both ends."""

    address: HostAddress
    tlscacert: Path | None = None
    tlscert: Path | None = None
    tlskey: Path | None = None
    token_file: Path | None = None

    def transport(self) -> UnixTransport:
        """A TCP transport (TLS); the token is read now, once. Bad files raise
        InvalidSpec in one line."""
        token = read_token(self.token_file) if self.token_file else None
        from stockade.client.tls import TcpTransport  # ssl: only a remote daemon pays

        return TcpTransport(self.address.host, self.address.port, cafile=self.tlscacert,
                            certfile=self.tlscert, keyfile=self.tlskey, token=token)


class Endpoint(NamedTuple):
    """The daemon the rules chose: its unix socket, or (`remote`) a TCP host. `socket_flag`
    is the socket a flag (or a unix:// host) named, which `stockade server` listens on."""

    socket: Path
    remote: Remote | None = None
    socket_flag: Path | None = None

    @property
    def address(self) -> str:
        return self.remote.address.url if self.remote else str(self.socket)

    def transport(self) -> UnixTransport:
        return self.remote.transport() if self.remote else UnixTransport(self.socket)


def socket_in_settings(config: Path | None = None,
                       env: Mapping[str, str] | None = None) -> Path | None:
    """The settings file's `socket` (--config, STOCKADE_CONFIG or the default file), so a
    moved socket is found without a flag. Read with tomllib alone: the CLI must not import
    the server's settings model to start fast. A file that cannot be read or parsed is the
    daemon's to report, not every command's."""
    env = os.environ if env is None else env
    path = config or Path(env.get(SETTINGS_VARIABLE) or SETTINGS_FILE)
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


def resolve(*, host: str | None = None, socket: Path | None = None,
            config: Path | None = None, tlscacert: Path | None = None,
            tlscert: Path | None = None, tlskey: Path | None = None,
            token_file: Path | None = None,
            env: Mapping[str, str] | None = None) -> Endpoint:
    """The daemon named by flags (None: not given) and the environment, by the rules in
    this module's docstring. Raises InvalidSpec in one line for a bad or ambiguous choice;
    reads no TLS file (a transport does)."""
    env = os.environ if env is None else env
    if host is not None and socket is not None:
        raise InvalidSpec("--host and --socket both name the daemon: give one")
    socket_flag = socket  # the daemon reads STOCKADE_SOCKET itself, not the flag's way
    if host is None and socket is None:
        host, socket_text = env.get(HOST_VARIABLE) or None, env.get(SOCKET_VARIABLE) or None
        if host is not None and socket_text is not None:
            raise InvalidSpec(f"{HOST_VARIABLE} and {SOCKET_VARIABLE} are both set: unset "
                              "one, or name the daemon with --host or --socket")
        if socket_text is not None:
            socket = Path(socket_text)
    if host is not None:
        address = parse_host(host)
        if address.scheme == "unix":
            socket = socket_flag = address.path
        else:
            files = {"tlscacert": tlscacert, "tlscert": tlscert, "tlskey": tlskey,
                     "token_file": token_file}
            chosen = {name: value if value is not None else _env_path(env, name)
                      for name, value in files.items()}
            if chosen["tlskey"] is not None and chosen["tlscert"] is None:
                raise InvalidSpec("--tlskey needs --tlscert: the client certificate it "
                                  "belongs to")
            return Endpoint(DEFAULT_SOCKET, Remote(address, **chosen))
    if socket is not None:
        return Endpoint(socket, socket_flag=socket_flag)
    return Endpoint(socket_in_settings(config, env) or DEFAULT_SOCKET)


def _env_path(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(TLS_VARIABLES[name])
    return Path(value) if value else None
