"""The API daemon end to end: a real daemon on a private socket driving real containers."""

import json
import os
import stat
import time

import httpx
import pytest

from stockade.errors import Conflict, InvalidSpec, NotFound
from stockade.runtime import cgroups
from stockade.spec import ContainerSpec, LimitsPatch
from tests.daemonkit import Daemon, events

pytestmark = pytest.mark.integration


def _spec(handle: str, args: list[str], **fields: object) -> ContainerSpec:
    return ContainerSpec.model_validate({"handle": handle, "process": {"args": args}, **fields})


def _raw(daemon: Daemon) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.socket)),
                        base_url="http://stockade", timeout=60)


def test_socket_is_root_only_and_serves_openapi(daemon: Daemon) -> None:
    mode = os.stat(daemon.socket).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    with _raw(daemon) as http:
        document = http.get("/openapi.json").json()
    assert {"/v1/containers", "/v1/containers/{handle}", "/v1/ping", "/v1/capacity",
            "/v1/containers/{handle}/limits", "/v1/events"} <= set(document["paths"])


def test_create_list_filter_inspect_bulk_destroy(daemon: Daemon) -> None:
    with daemon.client() as client:
        assert client.ping()
        client.create(_spec("api-a", ["sleep", "300"], properties={"team": "red"}))
        client.create(_spec("api-b", ["sleep", "300"], properties={"team": "blue"}))
        assert [i.handle for i in client.list({"team": "red"})] == ["api-a"]
        info = client.inspect("api-b")
        assert info.state == "running" and info.ip and info.pid
        bulk = client.bulk_info(["api-a", "nope"])
        assert not isinstance(bulk["api-a"], str) and bulk["api-a"].handle == "api-a"
        assert "no such container" in str(bulk["nope"])
        client.destroy("api-a")
        with pytest.raises(NotFound):
            client.inspect("api-a")
        capacity = client.capacity()
        assert capacity.containers == 1 and capacity.max_containers > 100
        assert capacity.memory_bytes > 1 << 30


def test_run_a_process_and_get_its_output_and_exit_code(daemon: Daemon) -> None:
    with daemon.client() as client:
        client.create(_spec("api-run", ["sleep", "300"]))
        result = client.run("api-run", ["sh", "-c", "echo out; echo err >&2; exit 4"])
        assert (result.exit_code, result.stdout, result.stderr) == (4, b"out\n", b"err\n")


def test_bad_input_gets_a_clear_4xx_and_creates_nothing(daemon: Daemon) -> None:
    good = {"spec": {"handle": "fine", "process": {"args": ["true"]}}}
    cases: list[tuple[dict[str, object] | bytes, int, str]] = [
        (b"{not json", 400, "bad_request"),
        ({"spec": {"handle": 5}}, 422, "invalid"),
        ({"spec": {"handle": "x", "surprise": 1}}, 422, "invalid"),
        ({**good, "extra": True}, 422, "invalid"),
        ({"spec": {"handle": "../etc"}}, 422, "invalid"),
        ({"spec": {"handle": "a/b"}}, 422, "invalid"),
        ({"spec": {"handle": "bind", "mounts": [{"host_path": "/etc",
                                                  "container_path": "/x"}]}}, 422, "invalid"),
        ({"spec": {"handle": "img", "image": "no-such-image"}}, 404, "not_found"),
        (b"x" * (2 << 20), 413, "too_large"),
    ]
    with _raw(daemon) as http:
        for body, status, kind in cases:
            if isinstance(body, bytes):
                response = http.post("/v1/containers", content=body,
                                     headers={"content-type": "application/json"})
            else:
                response = http.post("/v1/containers", json=body)
            assert response.status_code == status, (body, response.text)
            assert response.json()["error"]["kind"] == kind, response.text
            assert response.json()["error"]["message"]
        assert http.get("/v1/containers/..%2Fetc").status_code in (404, 422)
        assert http.get("/v1/containers").json() == []
    with daemon.client() as client:
        client.create(_spec("twice", ["sleep", "300"]))
        with pytest.raises(Conflict):
            client.create(_spec("twice", ["true"]))
        assert client.inspect("twice").state == "running"  # the first is untouched
        with pytest.raises(InvalidSpec):
            client.update_limits("twice", LimitsPatch(memory_bytes="lots"))


def test_limits_change_on_a_running_container(daemon: Daemon) -> None:
    with daemon.client() as client:
        client.create(_spec("api-lim", ["sleep", "300"], limits={"memory_bytes": "128M"}))
        limits = client.update_limits("api-lim", LimitsPatch(memory_bytes="256M", pids=50,
                                                             disk_bytes="64M"))
        assert (limits.memory_bytes, limits.pids, limits.disk_bytes) == (256 << 20, 50, 64 << 20)
        assert limits.cpu_shares == 32  # follows memory
        path = f"/{daemon.marker}/api-lim"
        memory = cgroups.controller_dir("memory", path) / "memory.limit_in_bytes"
        pids = cgroups.controller_dir("pids", path) / "pids.max"
        assert int(memory.read_text()) == 256 << 20 and pids.read_text().strip() == "50"
        assert client.inspect("api-lim").disk is not None
        assert client.inspect("api-lim").limits.disk_bytes == 64 << 20


def test_properties_metrics_and_prometheus(daemon: Daemon) -> None:
    with daemon.client() as client:
        client.create(_spec("api-met", ["sleep", "300"]))
        assert client.set_properties("api-met", {"a": "1", "b": "2"}) == {"a": "1", "b": "2"}
        assert client.set_properties("api-met", {"a": None}) == {"b": "2"}
        reading = client.metrics("api-met")
        assert reading.memory_bytes and reading.memory_bytes > 0
        assert reading.cpu_seconds is not None and reading.pids and reading.pids >= 1
        assert reading.network_tx_bytes is not None
        text = client.prometheus()
    assert 'stockade_containers{state="running"} 1.0' in text
    assert 'stockade_container_memory_bytes{handle="api-met"}' in text
    assert "stockade_create_seconds_count 1.0" in text


def test_exit_and_oom_events_and_auto_remove(daemon: Daemon) -> None:
    with daemon.client() as client:
        client.create(_spec("api-exit", ["sh", "-c", "exit 3"]))
        assert events(client, "api-exit", "exited")[0]["detail"] == "3"
        client.create(_spec("api-oom", ["sh", "-c", "x=a; while true; do x=$x$x; done"],
                            limits={"memory_bytes": "32M"}))
        events(client, "api-oom", "out of memory")
        client.create(_spec("api-rm", ["true"]), auto_remove=True)
        deadline = time.monotonic() + 30
        while any(i.handle == "api-rm" for i in client.list()):
            assert time.monotonic() < deadline, "auto-remove did not happen"
            time.sleep(0.2)
    audit = json.loads(daemon.audit("--json").stdout)
    assert any(r["kind"] == "security" and r["action"] == "out of memory kill"
               and r["target"] == "api-oom" for r in audit)


def test_grace_time_destroys_an_idle_container(daemon: Daemon) -> None:
    with daemon.client() as client:
        client.create(_spec("api-grace", ["sleep", "300"], grace_time_s=2))
        client.create(_spec("api-keep", ["sleep", "300"]))
        deadline = time.monotonic() + 30
        while any(i.handle == "api-grace" for i in client.list()):
            assert time.monotonic() < deadline, "the grace time was not enforced"
            time.sleep(0.5)
        assert client.inspect("api-keep").state == "running"


def test_activity_postpones_the_grace_time(daemon: Daemon) -> None:
    with daemon.client() as client:
        client.create(_spec("api-busy", ["sleep", "300"], grace_time_s=3))
        for _ in range(8):  # 4 s of activity, more than the grace time
            client.inspect("api-busy")
            time.sleep(0.5)
        assert client.inspect("api-busy").state == "running"


def test_exit_while_the_daemon_was_down_is_still_reported(daemon: Daemon) -> None:
    with daemon.client() as client:
        client.create(_spec("api-down", ["sh", "-c", "sleep 2; exit 7"]))
        client.create(_spec("api-stays", ["sleep", "300"]))
    daemon.stop()
    time.sleep(3)
    daemon.start()
    with daemon.client() as client:
        assert events(client, "api-down", "exited")[0]["detail"] == "7"
        assert client.inspect("api-down").exit_code == 7
        assert client.inspect("api-stays").state == "running"  # adopted
        assert client.run("api-stays", ["echo", "still"]).stdout == b"still\n"


def test_every_action_is_in_the_audit_log_and_it_verifies(daemon: Daemon) -> None:
    with daemon.client() as client:
        client.create(_spec("api-aud", ["sleep", "300"],
                            unsafe={"disable_seccomp": True}))
        client.destroy("api-aud")
        with pytest.raises(NotFound):
            client.destroy("api-aud")
    records = json.loads(daemon.audit("--json").stdout)
    actions = [(r["action"], r["target"], r["result"]) for r in records]
    assert ("POST /v1/containers", "", "201") in actions
    assert ("DELETE /v1/containers/api-aud", "api-aud", "204") in actions
    assert ("DELETE /v1/containers/api-aud", "api-aud", "404") in actions
    unsafe = [r for r in records if r["action"] == "unsafe option"]
    assert unsafe and unsafe[0]["details"] == {"option": "disable_seccomp"}
    assert all(r["actor"].startswith("uid=0 pid=") for r in records if r["kind"] == "api")
    checked = daemon.audit("--verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr
