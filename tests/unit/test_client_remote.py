"""Naming a remote daemon (client/remote.py, client/tls.py): the --host parser on any text,
the rules that choose between flags and the environment, the token file, and the TLS
transport against a real TLS peer on 127.0.0.1 (certificates from tests/tlskit.py)."""

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.cli.session import Options
from stockade.client import Client, DaemonUnavailable, JsonClient
from stockade.client.remote import HostAddress, Remote, parse_host, read_token, resolve
from stockade.client.transport import UnixTransport
from stockade.errors import Forbidden, InvalidSpec
from stockade.wire import DEFAULT_SOCKET
from tests import tlskit
from tests.unit.clikit import invoke

# -- the --host parser ---------------------------------------------------------------------

_LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
_NAMES = st.lists(_LABEL, min_size=1, max_size=4).map(".".join)
_IPV4 = st.ip_addresses(v=4).map(str)
_IPV6 = st.ip_addresses(v=6).map(str)
_PORTS = st.integers(1, 65535)
# "." and ".." are not names: the path would not be the one written
_PATHS = st.lists(st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1,
                          max_size=10).filter(lambda n: n not in (".", "..")),
                  min_size=1, max_size=4).map(lambda p: "/" + "/".join(p))


@given(st.one_of(_NAMES, _IPV4, _IPV6), _PORTS)
def test_every_tcp_host_and_port_parses_and_prints_back(host: str, port: int) -> None:
    shown = f"[{host}]" if ":" in host else host
    parsed = parse_host(f"tcp://{shown}:{port}")
    assert parsed == HostAddress("tcp", host=host, port=port)
    assert parsed.url == f"tcp://{shown}:{port}"


@given(_PATHS)
def test_every_absolute_unix_path_parses(path: str) -> None:
    parsed = parse_host(f"unix://{path}")
    assert parsed == HostAddress("unix", path=Path(path))
    assert parse_host(parsed.url) == parsed


@settings(max_examples=400)
@given(st.one_of(st.text(), st.text().map(lambda t: "tcp://" + t),
                 st.text().map(lambda t: "unix://" + t),
                 st.tuples(_NAMES, st.text()).map(lambda p: f"tcp://{p[0]}:{p[1]}"),
                 st.tuples(_IPV6, st.text()).map(lambda p: f"tcp://[{p[0]}]{p[1]}")))
def test_any_text_parses_or_is_one_line_saying_why(text: str) -> None:
    try:
        parsed = parse_host(text)
    except InvalidSpec as exc:  # nothing else escapes: no traceback for a typo
        message = str(exc)
        assert message.startswith("invalid host ") and "\n" not in message, message
        assert len(message) < 300
        return
    assert parsed.scheme in ("unix", "tcp")
    if parsed.scheme == "tcp":
        assert 1 <= parsed.port <= 65535 and parsed.host


@pytest.mark.parametrize(("text", "why"), [
    ("tcp://example.com", "port is missing"), ("tcp://h:0", "from 1 to 65535"),
    ("tcp://h:65536", "from 1 to 65535"), ("tcp://h:http", "from 1 to 65535"),
    ("tcp://::1:80", "host name or address"), ("tcp://[::1]", "[ADDRESS]:PORT"),
    ("tcp://[not-v6]:80", "not an IPv6 address"), ("tcp://:80", "host name or address"),
    ("tcp://a/b:80", "host name or address"), ("tcp://user@h:80", "host name or address"),
    ("unix://run/x.sock", "absolute path"), ("unix://", "absolute path"),
    ("https://h:443", "unknown scheme 'https'"), ("/run/stockade.sock", "expected unix:///"),
    ("h:80", "expected unix:///"), ("", "expected unix:///"),
])
def test_bad_hosts_say_why(text: str, why: str) -> None:
    with pytest.raises(InvalidSpec, match="invalid host") as refused:
        parse_host(text)
    assert why in str(refused.value)


# -- which daemon: flags, then the environment ------------------------------------------------

TCP = "tcp://127.0.0.1:2376"


def test_a_flag_beats_the_environment() -> None:
    env = {"STOCKADE_HOST": TCP, "STOCKADE_TLSCACERT": "/env/ca.pem"}
    chosen = resolve(socket=Path("/s.sock"), env=env)
    assert (chosen.socket, chosen.remote, chosen.socket_flag) == (Path("/s.sock"), None,
                                                                  Path("/s.sock"))
    chosen = resolve(host="tcp://h:1", tlscacert=Path("/flag.pem"),
                     env={"STOCKADE_SOCKET": "/e.sock", **env})
    assert chosen.remote == Remote(HostAddress("tcp", host="h", port=1), Path("/flag.pem"))
    assert chosen.address == "tcp://h:1"


def test_the_environment_names_a_remote_daemon_with_its_files() -> None:
    chosen = resolve(env={"STOCKADE_HOST": TCP, "STOCKADE_TLSCACERT": "/ca.pem",
                          "STOCKADE_TLSCERT": "/c.pem", "STOCKADE_TLSKEY": "/c.key",
                          "STOCKADE_TOKEN_FILE": "/tok"})
    assert chosen.remote == Remote(parse_host(TCP), Path("/ca.pem"), Path("/c.pem"),
                                   Path("/c.key"), Path("/tok"))


def test_a_unix_host_is_the_socket_flag_and_tls_files_are_not_read_for_it() -> None:
    chosen = resolve(host="unix:///run/other.sock", token_file=Path("/nonexistent"), env={})
    assert (chosen.socket, chosen.socket_flag, chosen.remote) == (
        Path("/run/other.sock"), Path("/run/other.sock"), None)
    assert isinstance(chosen.transport(), UnixTransport)
    assert resolve(env={"STOCKADE_SOCKET": "/e.sock"}).socket_flag is None  # the daemon's own


def test_nothing_named_is_the_settings_file_socket_or_the_default(tmp_path: Path) -> None:
    settings_file = tmp_path / "s.toml"
    settings_file.write_text('socket = "/run/moved.sock"\n')
    assert resolve(env={"STOCKADE_CONFIG": str(settings_file)}).socket == Path("/run/moved.sock")
    assert resolve(config=settings_file, env={}).socket == Path("/run/moved.sock")
    assert resolve(env={"STOCKADE_CONFIG": str(tmp_path / "none")}).socket == DEFAULT_SOCKET


@pytest.mark.parametrize(("flags", "env", "why"), [
    ({"host": TCP, "socket": Path("/s")}, {}, "--host and --socket"),
    ({}, {"STOCKADE_HOST": TCP, "STOCKADE_SOCKET": "/s"}, "both set"),
    ({"host": TCP, "tlskey": Path("/k")}, {}, "--tlskey needs --tlscert"),
    ({}, {"STOCKADE_HOST": "tcp://h"}, "port is missing"),
])
def test_ambiguous_or_bad_choices_are_refused(flags: dict[str, object], env: dict[str, str],
                                              why: str) -> None:
    with pytest.raises(InvalidSpec, match=why):
        resolve(**flags, env=env)  # type: ignore[arg-type]


@pytest.mark.parametrize(("content", "token"), [(b"abc\n", "abc"), (b"  t0k-en.\t\r\n", "t0k-en.")])
def test_a_token_is_read_once_and_stripped(tmp_path: Path, content: bytes, token: str) -> None:
    (tmp_path / "tok").write_bytes(content)
    assert read_token(tmp_path / "tok") == token


@pytest.mark.parametrize(("content", "why"), [
    (None, "cannot read the token file"), (b"", "is empty"), (b" \n\n", "is empty"),
    (b"two\nlines", "one token"), (b"a b", "one token"), (b"\xff\xfe", "not text"),
    (b"x" * 5000, "one token"), (b"a\x00b", "one token"),
])
def test_a_bad_token_file_is_one_line(tmp_path: Path, content: bytes | None, why: str) -> None:
    path = tmp_path / "tok"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InvalidSpec, match=why) as refused:
        read_token(path)
    assert "\n" not in str(refused.value)


# -- the TLS transport against a real TLS peer ---------------------------------------------------


class TlsPeer:
    """Answers each connection over TLS with `answer`, recording each request's head."""

    def __init__(self, where: Path, answer: bytes, client_ca: bool = False) -> None:
        self.heads: list[bytes] = []
        self.answer = answer
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(where / "server.pem", where / "server.key")
        if client_ca:
            context.load_verify_locations(where / "ca.pem")
            context.verify_mode = ssl.CERT_REQUIRED
        self.peers: list[str] = []
        self._context = context
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self._server.accept()
            except OSError:
                return
            try:
                with self._context.wrap_socket(raw, server_side=True) as conn:
                    cert: Any = conn.getpeercert()
                    self.peers.append(str(dict(x[0] for x in cert["subject"])["commonName"])
                                      if cert else "")
                    head = b""
                    while b"\r\n\r\n" not in head:
                        head += conn.recv(4096)
                    self.heads.append(head)
                    conn.sendall(self.answer)
            except (OSError, ssl.SSLError, KeyError):
                raw.close()

    def close(self) -> None:
        self._server.close()
        self._thread.join(timeout=5)


_PONG = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n"
         b'{"ok":true}')


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("tls")
    tlskit.certificates(where, clients=("alice",))
    (where / "tok").write_text("s3cret\n")
    other = where / "other"
    other.mkdir()
    tlskit.certificates(other, clients=())
    return where


@pytest.fixture
def peer(certs: Path, request: pytest.FixtureRequest) -> Iterator[TlsPeer]:
    made = TlsPeer(certs, getattr(request, "param", _PONG))
    yield made
    made.close()


def _remote(peer: TlsPeer, certs: Path, **files: Path) -> Remote:
    return Remote(parse_host(f"tcp://127.0.0.1:{peer.port}"), **files)


def test_requests_go_over_verified_tls_with_the_token(peer: TlsPeer, certs: Path) -> None:
    transport = _remote(peer, certs, tlscacert=certs / "ca.pem",
                        token_file=certs / "tok").transport()
    assert transport.address == f"tcp://127.0.0.1:{peer.port}"
    assert transport.headers == ["Authorization: Bearer s3cret"]
    with JsonClient(transport=transport) as client:
        assert client.ping()
        assert client.ping()
    assert len(peer.heads) == 2  # the file was read once; every request carries it
    assert all(b"\r\nAuthorization: Bearer s3cret\r\n" in head for head in peer.heads)
    conn = transport.connect()
    try:
        assert isinstance(conn, ssl.SSLSocket) and conn.gettimeout() is None
    finally:
        conn.close()


def test_a_client_certificate_is_offered(certs: Path) -> None:
    peer = TlsPeer(certs, _PONG, client_ca=True)
    try:
        remote = _remote(peer, certs, tlscacert=certs / "ca.pem", tlscert=certs / "alice.pem",
                         tlskey=certs / "alice.key")
        assert JsonClient(transport=remote.transport()).ping()
        assert peer.peers == ["alice"]
    finally:
        peer.close()


def test_a_daemon_signed_by_another_ca_is_not_trusted(peer: TlsPeer, certs: Path) -> None:
    transport = _remote(peer, certs, tlscacert=certs / "other" / "ca.pem").transport()
    with pytest.raises(DaemonUnavailable) as refused:
        JsonClient(transport=transport).ping()
    message = str(refused.value)
    assert "TLS handshake failed" in message and "not trusted" in message
    assert f"tcp://127.0.0.1:{peer.port}" in message and "\n" not in message
    # and the system's store does not know our test CA either
    with pytest.raises(DaemonUnavailable, match="not trusted"):
        JsonClient(transport=_remote(peer, certs).transport()).ping()


def test_a_certificate_for_another_name_is_refused(peer: TlsPeer, certs: Path) -> None:
    transport = Remote(parse_host(f"tcp://localhost:{peer.port}"),
                       tlscacert=certs / "ca.pem").transport()  # the certificate names 127.0.0.1
    with pytest.raises(DaemonUnavailable, match="TLS handshake failed"):
        JsonClient(transport=transport).ping()


_REFUSED = b'{"error":{"kind":"unauthorized","message":"a client certificate or token is needed"}}'


@pytest.mark.parametrize("peer", [
    b"HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
    b"\r\n%s" % (len(_REFUSED), _REFUSED)], indirect=True)
def test_a_refused_token_says_which_flag(peer: TlsPeer, certs: Path) -> None:
    transport = _remote(peer, certs, tlscacert=certs / "ca.pem",
                        token_file=certs / "tok").transport()
    with pytest.raises(Forbidden, match=r"did not accept our credentials.*--token-file"):
        JsonClient(transport=transport).ping()


def test_unusable_tls_files_are_one_line(certs: Path, tmp_path: Path) -> None:
    address = parse_host("tcp://127.0.0.1:1")
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    for remote, why in (
            (Remote(address, tlscacert=tmp_path / "none.pem"), "cannot use --tlscacert"),
            (Remote(address, tlscacert=tmp_path / "junk.pem"), "cannot use --tlscacert"),
            (Remote(address, tlscert=certs / "alice.pem"), "cannot use --tlscert"),  # no key
            (Remote(address, tlscert=certs / "alice.pem", tlskey=certs / "server.key"),
             "cannot use --tlscert"),
            (Remote(address, token_file=tmp_path / "none"), "cannot read the token file")):
        with pytest.raises(InvalidSpec, match=why) as refused:
            remote.transport()
        assert "\n" not in str(refused.value)


def test_no_tcp_listener_is_named_as_such() -> None:
    port = tlskit.free_port()
    transport = Remote(parse_host(f"tcp://127.0.0.1:{port}")).transport()
    with pytest.raises(DaemonUnavailable, match=r"no stockade daemon answers at tcp://.*\[tcp\]"):
        JsonClient(transport=transport).ping()


def test_client_from_env_uses_the_rules(peer: TlsPeer, certs: Path) -> None:
    env = {"STOCKADE_HOST": f"tcp://127.0.0.1:{peer.port}",
           "STOCKADE_TLSCACERT": str(certs / "ca.pem"),
           "STOCKADE_TOKEN_FILE": str(certs / "tok")}
    with Client.from_env(env) as client:
        assert isinstance(client, Client) and client.ping()
    assert JsonClient.from_env({"STOCKADE_SOCKET": "/run/x.sock"}).transport.address \
        == "/run/x.sock"
    with pytest.raises(InvalidSpec, match="both set"):
        Client.from_env({**env, "STOCKADE_SOCKET": "/run/x.sock"})


# -- the command line ------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["--host", "tcp://h", "ps"], ["-H", "ftp://h:1", "ps"], ["--host", "tcp://h:1", "--socket",
                                                             "/s", "ps"],
    ["--host", "tcp://127.0.0.1:1", "--token-file", "/nonexistent/tok", "ps"],
    ["--host", "tcp://127.0.0.1:1", "audit"], ["--host", "tcp://127.0.0.1:1", "server"],
    ["--host", "tcp://127.0.0.1:1", "image", "import", "x.tar"],
    ["--host", "tcp://127.0.0.1:1", "config", "show", "--local"],
])
def test_the_cli_refuses_in_one_line_with_125(capsys: pytest.CaptureFixture[str],
                                              argv: list[str]) -> None:
    code, out, err = invoke(capsys, *argv)
    assert code == 125 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("stockade: error: "), err


def test_the_cli_reads_stockade_host(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("STOCKADE_SOCKET", raising=False)
    monkeypatch.setenv("STOCKADE_HOST", "tcp://nowhere")
    code, _, err = invoke(capsys, "ps")
    assert code == 125 and "invalid host 'tcp://nowhere'" in err
    monkeypatch.setenv("STOCKADE_HOST", f"tcp://127.0.0.1:{tlskit.free_port()}")
    code, _, err = invoke(capsys, "audit")
    assert code == 125 and "needs the local daemon" in err
    options = Options.from_flags(None, None, host="unix:///run/o.sock")
    assert (options.socket, options.socket_flag, options.remote) == (
        Path("/run/o.sock"), Path("/run/o.sock"), None)
