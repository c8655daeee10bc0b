"""Remote identities over real TLS: a developer (token or client certificate) gets the
default hardening and its own containers, an admin certificate gets everything, root on
the unix socket keeps everything; refusals are 403 naming the field and are audited;
limits answer 429 naming the limit."""

import json
import shutil
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests import tlskit
from tests.daemonkit import Daemon

pytestmark = pytest.mark.integration
TOKEN = "dev-token-" + "x" * 24
REMOTE_BINDS = Path("/srv/stockade/test-remote-binds")


@dataclass
class Remote:
    daemon: Daemon
    port: int
    where: Path

    def client(self, who: str) -> httpx.Client:
        """who: "token", or the common name of a client certificate ("alice", "ops")."""
        context = ssl.create_default_context(cafile=str(self.where / "ca.pem"))
        headers = {}
        if who == "token":
            headers["authorization"] = f"Bearer {TOKEN}"
        else:
            context.load_cert_chain(str(self.where / f"{who}.pem"),
                                    str(self.where / f"{who}.key"))
        return httpx.Client(base_url=f"https://127.0.0.1:{self.port}", verify=context,
                            headers=headers, timeout=60)

    def local(self) -> httpx.Client:
        transport = httpx.HTTPTransport(uds=str(self.daemon.socket))
        return httpx.Client(base_url="http://stockade", transport=transport, timeout=60)

    def ssl_context(self, who: str) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.where / "ca.pem"))
        context.load_cert_chain(str(self.where / f"{who}.pem"), str(self.where / f"{who}.key"))
        return context


@pytest.fixture
def remote(daemon: Daemon, tmp_path: Path) -> Iterator[Remote]:
    tlskit.certificates(tmp_path, clients=("alice", "bob", "ops", "rater"))
    (tmp_path / "token").write_text(TOKEN)
    port = tlskit.free_port()
    REMOTE_BINDS.mkdir(parents=True, exist_ok=True)
    (tmp_path / "stockade.toml").write_text(f"""
[tcp]
port = {port}
certificate = "{tmp_path}/server.pem"
key = "{tmp_path}/server.key"
client_ca = "{tmp_path}/ca.pem"
token_file = "{tmp_path}/token"

[access]
certificates = {{ ops = "admin" }}
developer_bind_paths = ["{REMOTE_BINDS}"]

[access.developer_limits]
containers = 3
process_streams = 2
requests_per_second = 5
burst = 40
""")
    daemon.stop()
    daemon.start(config=tmp_path / "stockade.toml")
    try:
        yield Remote(daemon, port, tmp_path)
    finally:
        shutil.rmtree(REMOTE_BINDS, ignore_errors=True)


def _spec(handle: str, **fields: Any) -> dict[str, Any]:
    return {"handle": handle, "process": {"args": ["sleep", "300"]}, **fields}


def _create(client: httpx.Client, spec: dict[str, Any]) -> httpx.Response:
    return client.post("/v1/containers", json={"spec": spec, "start": True})


# each: a spec field a developer may not set, and the words its refusal must name
FORBIDDEN: list[tuple[dict[str, Any], str]] = [
    ({"unsafe": {"disable_userns": True}}, "unsafe.disable_userns"),
    ({"unsafe": {"disable_seccomp": True}}, "unsafe.disable_seccomp"),
    ({"unsafe": {"disable_mac": True}}, "unsafe.disable_mac"),
    ({"unsafe": {"cap_add": ["SYS_ADMIN"]}}, "unsafe.cap_add"),
    ({"cap_add": ["NET_RAW"]}, "cap_add CAP_NET_RAW"),
    ({"devices": ["fuse"]}, "devices"),
    ({"mounts": [{"host_path": "/srv/stockade", "container_path": "/data",
                  "read_only": False}]}, "mounts[0].host_path /srv/stockade"),
    ({"security_groups": ["open-web"]}, "security_groups open-web"),
    ({"allow_32bit": True}, "allow_32bit"),
]


def test_forbidden_fields_over_token_and_certificate_but_not_the_socket(
        remote: Remote) -> None:
    with remote.local() as local:
        assert local.post("/v1/security-groups", json={
            "name": "open-web", "rules": [{"protocol": "tcp",
                                           "destinations": ["192.0.2.0/24"]}]}).status_code == 201
    for who in ("token", "alice"):
        with remote.client(who) as client:
            for index, (fields, named) in enumerate(FORBIDDEN):
                refused = _create(client, _spec(f"f{who[:3]}{index}", **fields))
                assert refused.status_code == 403, (who, fields, refused.text)
                error = refused.json()["error"]
                assert error["kind"] == "forbidden" and named in error["message"], error
                assert "role developer" in error["message"]
            assert client.get("/v1/containers").json() == []  # nothing was made
    with remote.local() as local:  # root on the socket: the same requests work
        for index, (fields, _) in enumerate(FORBIDDEN):
            made = _create(local, _spec(f"root{index}", **fields))
            assert made.status_code == 201, (fields, made.text)
            assert local.delete(f"/v1/containers/root{index}").status_code == 204
    records = json.loads(remote.daemon.audit("--json").stdout)
    refusals = [r for r in records if r["action"] == "forbidden"]
    assert len(refusals) == 2 * len(FORBIDDEN)
    assert {r["actor"] for r in refusals} == {"tls token:default (role developer)",
                                              "tls cert:alice (role developer)"}


def test_admin_actions_are_refused_to_a_developer(remote: Remote) -> None:
    actions = [("POST", "/v1/images/import", {"path": "/srv/stockade/x.tar"}),
               ("POST", "/v1/images/build-base", {"name": "b"}),
               ("POST", "/v1/images/gc", None), ("DELETE", "/v1/images/busybox", None),
               ("POST", "/v1/security-groups", {"name": "g", "rules": []}),
               ("POST", "/v1/network-policies", {"source": "a", "destination": "b",
                                                 "protocol": "tcp", "port": 80}),
               ("POST", "/v1/cleanup", None), ("GET", "/v1/config", None),
               ("GET", "/metrics", None),
               ("POST", "/v1/vulndb/update", {"source": "/srv/stockade/osv.zip"}),
               ("GET", "/v1/host/check", None),
               ("POST", "/v1/host/harden", {"action": "apply", "dry_run": True})]
    with remote.client("bob") as client:
        for method, path, body in actions:
            refused = client.request(method, path, json=body)
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json()["error"]["kind"] == "forbidden"
    with remote.client("ops") as admin:  # an admin certificate may
        assert admin.get("/v1/config").status_code == 200
        assert admin.get("/metrics").status_code == 200
        # nor does an admin certificate read a host file outside the allowlist as a feed
        feed = admin.post("/v1/vulndb/update", json={"source": "/etc/shadow"})
        assert feed.status_code == 403 and "allowlisted" in feed.json()["error"]["message"]


def test_a_developer_runs_its_own_containers_and_sees_no_others(remote: Remote) -> None:
    with remote.client("alice") as alice, remote.client("bob") as bob, \
            remote.client("ops") as admin, remote.local() as local:
        made = _create(alice, _spec("mine", mounts=[
            {"host_path": str(REMOTE_BINDS), "container_path": "/data"}]))
        assert made.status_code == 201, made.text
        assert made.json()["owner"] == "cert:alice"
        ran = alice.post("/v1/containers/mine/processes", json={"args": ["echo", "hi"]})
        assert ran.status_code == 201, ran.text
        absent = bob.get("/v1/containers/no-such-one")
        for method, path in (("GET", "/v1/containers/mine"), ("DELETE", "/v1/containers/mine"),
                             ("GET", "/v1/containers/mine/logs"),
                             ("POST", "/v1/containers/mine/stop"),
                             ("GET", "/v1/containers/mine/processes")):
            hidden = bob.request(method, path, json={} if method == "POST" else None)
            assert hidden.status_code == 404, (path, hidden.text)
            # word for word the answer for a handle that does not exist
            assert hidden.json() == json.loads(absent.text.replace("no-such-one", "mine"))
        assert bob.get("/v1/containers").json() == []
        assert bob.get("/v1/events", params={"handle": "mine"}).json() == []
        assert bob.post("/v1/containers/bulk-info", json={"handles": ["mine"]}).json()[
            "mine"]["error"] == "no such container: mine"
        assert [c["handle"] for c in alice.get("/v1/containers").json()] == ["mine"]
        assert [c["handle"] for c in admin.get("/v1/containers").json()] == ["mine"]
        assert local.get("/v1/containers/mine").json()["owner"] == "cert:alice"
        assert alice.post("/v1/containers/mine/stop", json={"timeout_s": 1}).status_code == 200
        exited = alice.get("/v1/events", params={"handle": "mine", "wait_s": 10}).json()
        assert exited, "the stop was not reported as an event"
        assert alice.delete("/v1/containers/mine").status_code == 204
        # the owner still reads its events once the container is gone; nobody else does
        assert any(e["handle"] == "mine" for e in alice.get("/v1/events").json())
        assert not any(e["handle"] == "mine" for e in bob.get("/v1/events").json())


def test_limits_answer_429_naming_the_limit(remote: Remote) -> None:
    with remote.client("token") as client:
        for index in range(3):
            assert _create(client, _spec(f"lim{index}")).status_code == 201
        refused = _create(client, _spec("lim3"))
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["kind"] == "too_many"
        assert "limit containers is 3" in refused.json()["error"]["message"]
        assert client.delete("/v1/containers/lim0").status_code == 204
        assert _create(client, _spec("lim3")).status_code == 201  # a place again

        process = client.post("/v1/containers/lim1/processes", json={"args": ["sleep", "30"]})
        url = (f"wss://127.0.0.1:{remote.port}/v1/containers/lim1/processes/"
               f"{process.json()['id']}/attach")
        headers = {"authorization": f"Bearer {TOKEN}"}
        context = ssl.create_default_context(cafile=str(remote.where / "ca.pem"))
        with connect(url, ssl=context, additional_headers=headers), \
                connect(url, ssl=context, additional_headers=headers):
            with pytest.raises(ConnectionClosed) as closed, \
                    connect(url, ssl=context, additional_headers=headers) as third:
                third.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
            assert "process_streams" in closed.value.rcvd.reason
        for handle in ("lim1", "lim2", "lim3"):
            client.delete(f"/v1/containers/{handle}")

    with remote.client("rater") as rater:
        answers = [rater.get("/v1/ping") for _ in range(60)]
        assert [a.status_code for a in answers[:40]] == [200] * 40  # the burst
        over = [a for a in answers[40:] if a.status_code == 429]
        assert over, "60 requests at once passed a limit of 5/s with a burst of 40"
        assert over[0].json()["error"]["kind"] == "too_many"
        assert "requests_per_second" in over[0].json()["error"]["message"]


def test_refused_requests_do_not_keep_a_container_from_its_grace_time(remote: Remote) -> None:
    with remote.client("alice") as alice, remote.client("bob") as bob:
        made = _create(alice, _spec("graceful", grace_time_s=2))
        assert made.status_code == 201, made.text
        gone = False
        for _ in range(80):  # 8 s: bob polls the handle he may not see every 0.1 s
            assert bob.get("/v1/containers/graceful").status_code == 404
            gone = alice.get("/v1/containers").json() == []
            if gone:
                break
            time.sleep(0.1)
        assert gone, "another identity's 404s kept the container alive"
