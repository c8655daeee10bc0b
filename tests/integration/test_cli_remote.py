"""The real `stockade` command line and `Client.from_env()` against a remote daemon: a
private daemon with a TLS listener on 127.0.0.1 and a bearer token, reached with
`--host tcp://127.0.0.1:P --tlscacert ca.pem --token-file tok` (issue 18), and each way
that goes wrong said in one line with exit 125."""

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stockade.client import Client
from stockade.errors import StockadeError
from stockade.wire.system import SystemInfo
from tests import tlskit
from tests.daemonkit import STOCKADE, Daemon

pytestmark = pytest.mark.integration
TOKEN = "remote-cli-token-" + "y" * 24


@dataclass
class Remote:
    daemon: Daemon
    port: int
    where: Path

    @property
    def env(self) -> dict[str, str]:
        """The daemon's environment without its socket: only flags name the daemon."""
        return {k: v for k, v in self.daemon.env.items()
                if not k.startswith("STOCKADE_") or k == "STOCKADE_CGROUP_PARENT"}

    def flags(self, token: Path | None = None, ca: Path | None = None) -> list[str]:
        return ["--host", f"tcp://127.0.0.1:{self.port}",
                "--tlscacert", str(ca or self.where / "ca.pem"),
                "--token-file", str(token or self.where / "tok")]

    def cli(self, *args: str, flags: list[str] | None = None, stdin: str = "",
            env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([STOCKADE, *(self.flags() if flags is None else flags), *args],
                              input=stdin, capture_output=True, text=True,
                              env=env or self.env, timeout=timeout, check=False)


@pytest.fixture
def remote(daemon: Daemon, tmp_path: Path) -> Iterator[Remote]:
    tlskit.certificates(tmp_path, clients=("alice",))
    (tmp_path / "token").write_text(TOKEN)  # the daemon's
    (tmp_path / "tok").write_text(f"  {TOKEN}\n")  # ours: whitespace around it is dropped
    port = tlskit.free_port()
    (tmp_path / "stockade.toml").write_text(f"""
[tcp]
port = {port}
certificate = "{tmp_path}/server.pem"
key = "{tmp_path}/server.key"
client_ca = "{tmp_path}/ca.pem"
token_file = "{tmp_path}/token"
""")
    daemon.stop()
    daemon.start(config=tmp_path / "stockade.toml")
    yield Remote(daemon, port, tmp_path)


def _one_line_error(result: subprocess.CompletedProcess[str], code: int = 125) -> str:
    assert result.returncode == code, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    return lines[0]


def test_version_ps_run_and_rm_over_tls_with_a_token(remote: Remote) -> None:
    shown = remote.cli("version")
    assert shown.returncode == 0, shown.stderr
    assert "daemon:  stockade" in shown.stdout
    assert remote.cli("ps", "-q").stdout == ""
    started = remote.cli("run", "-d", "--name", "far", "--", "sleep", "300")
    assert (started.returncode, started.stdout) == (0, "far\n"), started.stderr
    listed = remote.cli("ps", "--json")
    assert [c["handle"] for c in json.loads(listed.stdout)] == ["far"], listed.stderr
    # the daemon says who made it: the token's identity, not root on the socket
    with remote.daemon.client() as local:
        assert local.inspect("far").owner == "token:default"
    removed = remote.cli("rm", "-f", "far")
    assert (removed.returncode, removed.stdout) == (0, "far\n"), removed.stderr
    assert remote.daemon.client().list() == []


def test_a_client_certificate_instead_of_a_token(remote: Remote) -> None:
    flags = ["-H", f"tcp://127.0.0.1:{remote.port}", "--tlscacert", str(remote.where / "ca.pem"),
             "--tlscert", str(remote.where / "alice.pem"),
             "--tlskey", str(remote.where / "alice.key")]
    listed = remote.cli("ps", "-a", "--json", flags=flags)
    assert (listed.returncode, json.loads(listed.stdout or "null")) == (0, []), listed.stderr


def test_the_environment_names_the_remote_daemon(remote: Remote) -> None:
    env = {**remote.env, "STOCKADE_HOST": f"tcp://127.0.0.1:{remote.port}",
           "STOCKADE_TLSCACERT": str(remote.where / "ca.pem"),
           "STOCKADE_TOKEN_FILE": str(remote.where / "tok")}
    listed = remote.cli("ps", "-q", flags=[], env=env)
    assert (listed.returncode, listed.stdout) == (0, ""), listed.stderr
    with Client.from_env(env) as client:
        assert client.transport.address == f"tcp://127.0.0.1:{remote.port}"
        assert client.ping()
        info = client.info()
        assert isinstance(info, SystemInfo)
        # the typed answer holds all of the daemon's, field for field
        assert info.model_dump(mode="json") == client.info_json()
    # an event over TCP, typed: a container that ends says so
    with Client.from_env(env) as client:
        assert remote.cli("run", "--name", "ev", "--", "sh", "-c", "exit 3", flags=[],
                          env=env).returncode == 3
        events = client.events(0, "ev", wait_s=10)
        assert [(e.handle, e.kind, e.detail) for e in events] == [("ev", "exited", "3")]
        assert [e.model_dump() for e in events] == client.events_json(0, "ev")
        client.destroy("ev")


def test_foreground_run_and_exec_stream_over_tls(remote: Remote) -> None:
    ran = remote.cli("run", "--rm", "busybox", "echo", "hi")
    assert (ran.returncode, ran.stdout) == (0, "hi\n"), ran.stderr
    piped = remote.cli("run", "--rm", "-i", "--", "cat", stdin="piped\n")
    assert (piped.returncode, piped.stdout) == (0, "piped\n"), piped.stderr
    assert remote.cli("run", "-d", "--name", "ex", "--", "sleep", "300").returncode == 0
    execd = remote.cli("exec", "ex", "--", "sh", "-c", "echo inside; echo err >&2; exit 5")
    assert (execd.returncode, execd.stdout, execd.stderr) == (5, "inside\n", "err\n")
    assert remote.cli("rm", "-f", "ex").returncode == 0


def test_refusals_are_one_line(remote: Remote, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token")
    line = _one_line_error(remote.cli("ps", flags=remote.flags(token=wrong)))
    assert "token" in line, line

    other = tmp_path / "other-ca"
    other.mkdir()
    tlskit.certificates(other, clients=())
    line = _one_line_error(remote.cli("ps", flags=remote.flags(ca=other / "ca.pem")))
    assert "TLS handshake failed" in line and "not trusted" in line, line

    line = _one_line_error(remote.cli("ps", flags=remote.flags(token=tmp_path / "missing")))
    assert "cannot read the token file" in line and "missing" in line, line
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert "is empty" in _one_line_error(remote.cli("ps", flags=remote.flags(token=empty)))

    for bad in ("tcp://127.0.0.1", "http://127.0.0.1:1", "tcp://127.0.0.1:70000", "nowhere"):
        line = _one_line_error(remote.cli("ps", flags=["--host", bad]))
        assert "invalid host" in line, line
    line = _one_line_error(remote.cli("ps", flags=["--host", f"tcp://127.0.0.1:{remote.port}",
                                                   "--socket", "/run/x.sock"]))
    assert "--host and --socket" in line

    # what acts on the daemon's own host is refused rather than done here
    for argv in (["audit"], ["server", "--detach"], ["image", "import", "/tmp/x.tar"],
                 ["config", "show", "--local"]):
        line = _one_line_error(remote.cli(*argv))
        assert "needs the local daemon" in line and f"127.0.0.1:{remote.port}" in line, line

    # Client.from_env says the same, as an exception
    env = {**remote.env, "STOCKADE_HOST": f"tcp://127.0.0.1:{remote.port}",
           "STOCKADE_TLSCACERT": str(remote.where / "ca.pem"),
           "STOCKADE_TOKEN_FILE": str(wrong)}
    with Client.from_env(env) as client, pytest.raises(StockadeError, match="token"):
        client.list()
    assert os.environ.get("STOCKADE_HOST") is None  # nothing leaked into this process
