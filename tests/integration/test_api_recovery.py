"""The daemon dies mid-work, many clients at once, and TCP only over TLS with credentials."""

import concurrent.futures
import signal
import ssl
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from stockade.errors import StockadeError
from stockade.spec import ContainerSpec, PortMapping
from tests import tlskit
from tests.daemonkit import STOCKADE, Daemon

pytestmark = pytest.mark.integration


def _spec(handle: str, args: list[str], **fields: object) -> ContainerSpec:
    return ContainerSpec.model_validate({"handle": handle, "process": {"args": args}, **fields})


def _create_quietly(daemon: Daemon, handle: str) -> None:
    try:
        with daemon.client() as client:
            client.create(_spec(handle, ["sleep", "300"]))
    except (StockadeError, httpx.HTTPError):
        pass  # the daemon was killed under this request


def test_sigkill_during_creates_leaves_only_whole_working_containers(daemon: Daemon) -> None:
    handles = [f"kill-{i}" for i in range(6)]
    threads = [threading.Thread(target=_create_quietly, args=(daemon, h)) for h in handles]
    for thread in threads:
        thread.start()
        time.sleep(0.15)  # creates at different stages when the kill lands
    daemon.stop(signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=120)
    daemon.start()  # reconciles: adopt the whole, tear down the half-made
    with daemon.client() as client:
        survivors = client.list()
        for info in survivors:
            # killed before `runc start`: whole, and not started. After it, recovery
            # records the start it missed.
            assert info.state in ("running", "created"), info
            if info.state == "created":
                assert client.start(info.handle).state == "running"
            assert client.run(info.handle, ["echo", "ok"]).stdout == b"ok\n"
        for handle in set(handles) - {i.handle for i in survivors}:
            assert not (daemon.root / "containers" / handle).exists()
    assert not daemon.root.joinpath("runc").exists() or {
        p.name for p in (daemon.root / "runc").iterdir()} <= {i.handle for i in survivors}


def _lifecycle(daemon: Daemon, index: int) -> tuple[str, str, int]:
    handle = f"many-{index}"
    with daemon.client() as client:
        info = client.create(_spec(handle, ["sleep", "300"],
                                   ports=[PortMapping(host_port=0, container_port=8080)]))
        result = client.run(handle, ["echo", str(index)])
        assert (result.exit_code, result.stdout) == (0, f"{index}\n".encode())
        client.destroy(handle)
    assert info.ip is not None
    return handle, info.ip, info.ports[0].host_port


def test_fifty_concurrent_clients_get_correct_results_and_distinct_leases(
        daemon: Daemon) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda i: _lifecycle(daemon, i), range(50)))
    assert len({handle for handle, _, _ in results}) == 50
    with daemon.client() as client:
        assert client.list() == []


def test_concurrent_holders_never_share_an_address_or_port(daemon: Daemon) -> None:
    def hold(index: int) -> tuple[str, int]:
        with daemon.client() as client:
            info = client.create(_spec(f"hold-{index}", ["sleep", "300"],
                                       ports=[PortMapping(host_port=0, container_port=80)]))
        assert info.ip is not None
        return info.ip, info.ports[0].host_port
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        leases = list(pool.map(hold, range(20)))
    assert len({ip for ip, _ in leases}) == 20 and len({p for _, p in leases}) == 20


def test_tcp_is_served_only_over_tls_to_authenticated_clients(
        daemon: Daemon, tmp_path: Path) -> None:
    tlskit.certificates(tmp_path)
    port = tlskit.free_port()
    token = "t0ken-" + "x" * 20
    (tmp_path / "token").write_text(token)
    (tmp_path / "server.toml").write_text(
        f'[tcp]\nport = {port}\ncertificate = "{tmp_path}/server.pem"\n'
        f'key = "{tmp_path}/server.key"\nclient_ca = "{tmp_path}/ca.pem"\n'
        f'token_file = "{tmp_path}/token"\n')
    daemon.stop()
    daemon.start(config=tmp_path / "server.toml")
    url = f"https://127.0.0.1:{port}/v1/containers"
    trust = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    with httpx.Client(verify=trust) as anonymous:
        refused = anonymous.get(url)
        assert refused.status_code == 401 and refused.json()["error"]["kind"] == "unauthorized"
        assert anonymous.get(url, headers={"authorization": "Bearer wrong"}).status_code == 401
        assert anonymous.get(url, headers={"authorization": f"Bearer {token}"}).json() == []
    with_cert = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    with_cert.load_cert_chain(str(tmp_path / "client.pem"), str(tmp_path / "client.key"))
    with httpx.Client(verify=with_cert) as client:
        assert client.get(url).status_code == 200
    with pytest.raises(httpx.HTTPError), httpx.Client() as plain:
        plain.get(f"http://127.0.0.1:{port}/v1/containers")
    with pytest.raises(ValueError, match="needs client_ca or token_file"):
        from stockade.api.config import TlsListener
        TlsListener(port=port, certificate=tmp_path / "server.pem", key=tmp_path / "server.key")


def test_a_daemon_killed_during_an_attached_run_loses_no_output(daemon: Daemon) -> None:
    """`stockade run` in the foreground; the daemon is killed (SIGKILL) in the middle and
    started again. The container ran on under its monitor; the CLI reconnects after its last
    cursor: every line once, in order, the exit code, and --rm still removes it."""
    script = "i=0; while [ $i -lt 80 ]; do i=$((i+1)); echo line$i; sleep 0.05; done; exit 4"
    run = subprocess.Popen([STOCKADE, "--socket", str(daemon.socket), "run", "--rm",
                            "--name", "relay", "--", "sh", "-c", script],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=daemon.env)
    assert run.stdout is not None
    first = run.stdout.readline()
    assert first == b"line1\n", run.stderr.read() if run.stderr else b""
    time.sleep(1.0)
    daemon.stop(signal.SIGKILL)
    time.sleep(0.5)
    daemon.start()
    out, err = run.communicate(timeout=120)
    assert run.returncode == 4, err
    assert (first + out).decode().split() == [f"line{i}" for i in range(1, 81)]
    with daemon.client() as client:  # the daemon removes it once the exit was sent
        deadline = time.monotonic() + 10
        while client.list() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [info.handle for info in client.list()] == []
