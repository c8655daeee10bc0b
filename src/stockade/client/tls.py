"""The daemon over TCP, always with TLS (the daemon serves TCP no other way).

Imported only when a remote host is named (client/remote.py): `ssl` costs a command on the
unix socket time it has no use for. The transport is a `UnixTransport` in every way but how
it connects, so the requests, the answers' framing and the process streams
(client/streams.py) are the same code over either."""

import socket as sockets
import ssl
from pathlib import Path

from stockade.client.errors import TlsFailure
from stockade.client.transport import UnixTransport
from stockade.errors import InvalidSpec


def context(cafile: Path | None = None, certfile: Path | None = None,
            keyfile: Path | None = None) -> ssl.SSLContext:
    """Verifies the daemon's certificate and name against `cafile` (None: the system's
    store) and offers the client certificate `certfile` (its key in `keyfile` or in the
    same file). A file that cannot be read or used raises InvalidSpec in one line."""
    try:
        made = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidSpec(f"cannot use --tlscacert {cafile}: {_reason(exc)}") from None
    if certfile is not None:
        try:
            made.load_cert_chain(str(certfile), str(keyfile) if keyfile else None)
        except (OSError, ssl.SSLError) as exc:
            named = f"{certfile}" + (f" with --tlskey {keyfile}" if keyfile else "")
            raise InvalidSpec(f"cannot use --tlscert {named}: {_reason(exc)}") from None
    return made


def _reason(exc: OSError) -> str:
    """An ssl or file error as words, without the `[SSL: ...] ... (_ssl.c:NNN)` noise."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return (f"the daemon's certificate is not trusted ({exc.verify_message}); is "
                "--tlscacert the CA that signed it?")
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).replace("_", " ").lower()
    return exc.strerror or str(exc) or type(exc).__name__


class TcpTransport(UnixTransport):
    """Requests to the daemon at tcp://`host`:`port` over TLS. The daemon's certificate
    must name `host` (the address itself, for an IP address). `token` is sent on every
    request and on the process streams' handshake as `Authorization: Bearer TOKEN`."""

    def __init__(self, host: str, port: int, *, cafile: Path | None = None,
                 certfile: Path | None = None, keyfile: Path | None = None,
                 token: str | None = None, timeout: float | None = 300.0,
                 connect_timeout: float = 5.0) -> None:
        super().__init__(Path(), timeout, connect_timeout)
        self.host = host
        self.port = port
        self.context = context(cafile, certfile, keyfile)
        if token:
            self.headers.append(f"Authorization: Bearer {token}")
        self.address = f"tcp://{f'[{host}]' if ':' in host else host}:{port}"

    def connect(self) -> sockets.socket:
        """A connected socket with TLS done, in blocking mode with no timeout set. A
        failed handshake raises TlsFailure (an OSError) saying why in words."""
        raw = sockets.create_connection((self.host, self.port), timeout=self.connect_timeout)
        try:
            conn = self.context.wrap_socket(raw, server_hostname=self.host)
        except ssl.SSLError as exc:
            raw.close()
            raise TlsFailure(f"the TLS handshake failed: {_reason(exc)}") from exc
        except BaseException:
            raw.close()
            raise
        conn.settimeout(None)
        return conn
