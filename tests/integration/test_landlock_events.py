"""Landlock denials as container events, through a real daemon: a server that binds a port
it did not declare gets an event naming the port and the option to declare it."""

import json
import time
from pathlib import Path

import pytest

from stockade.client import Client
from stockade.host import kaudit, probe
from stockade.spec import ContainerSpec
from tests.daemonkit import Daemon, events

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(probe().landlock_abi < kaudit.LANDLOCK_LOG_ABI,
                       reason="this kernel's Landlock writes no audit records"),
]

KIND = "landlock denied"
BIND_8080 = "bind tcp/8080 refused by Landlock: declare it with --listen 8080 or -p 8080"


def _spec(handle: str, script: str, **fields: object) -> ContainerSpec:
    return ContainerSpec.model_validate(
        {"handle": handle, "process": {"args": ["sh", "-c", script]}, **fields})


def _details(client: Client, handle: str) -> list[str]:
    return [str(e["detail"]) for e in client.events_json(0, handle) if e["kind"] == KIND]


def _until(client: Client, handle: str, detail: str, timeout: float = 30) -> list[str]:
    """The container's Landlock events once one of them is `detail`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _details(client, handle)
        if detail in found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {detail!r} for {handle}: {json.dumps(client.events_json(0))}")


def test_info_says_the_events_are_on(daemon: Daemon) -> None:
    with daemon.client() as client:
        state = client.info_json()["landlock_events"]
    assert state["available"], state["detail"]
    assert state["detail"].startswith("on: Landlock audit records (ABI")
    shown = daemon.cli("info")
    assert "Landlock denial events" in shown.stdout and "yes" in shown.stdout


def test_the_setting_off_leaves_audit_alone_and_info_says_so(
        daemon: Daemon, tmp_path: Path) -> None:
    settings = tmp_path / "stockade.toml"
    settings.write_text('landlock_events = "off"\n')
    daemon.stop()
    daemon.start(settings)  # the fixture stops this one at the end
    with daemon.client() as client:
        state = client.info_json()["landlock_events"]
        client.create(_spec("ll-off", "nc -l -p 8080"))
        events(client, "ll-off", "exited")
        assert _details(client, "ll-off") == []
    assert state == {"available": False,
                     "detail": "off: the server setting landlock_events is off"}
    row = next(line for line in daemon.cli("info").stdout.splitlines()
               if "Landlock denial events" in line)
    assert "no" in row.split() and "setting landlock_events is off" in row


def test_an_undeclared_bind_is_an_event_with_a_hint_in_events_and_inspect(
        daemon: Daemon) -> None:
    with daemon.client() as client:
        client.create(_spec("ll-bind", "nc -l -p 8080"))
        assert events(client, "ll-bind", "exited")[0]["detail"] == "1"
        assert _until(client, "ll-bind", BIND_8080) == [BIND_8080]
        assert f"{KIND}: {BIND_8080}" in client.inspect("ll-bind").events
    shown = json.loads(daemon.cli("inspect", "ll-bind", "--json").stdout)
    assert f"{KIND}: {BIND_8080}" in shown["events"]
    streamed = [json.loads(line) for line in daemon.cli("events").stdout.splitlines()]
    assert {"handle": "ll-bind", "kind": KIND, "detail": BIND_8080}.items() <= \
        next(e for e in streamed if e["kind"] == KIND).items()
    audit = json.loads(daemon.audit("--json").stdout)
    assert any(r["kind"] == "security" and r["action"] == "landlock denied"
               and r["target"] == "ll-bind" and r["details"]["detail"] == BIND_8080
               for r in audit)


def test_a_declared_port_gets_no_event(daemon: Daemon) -> None:
    # 8080 is declared and binds; the undeclared 8081 after it proves the events were read
    script = "timeout 1 nc -l -p 8080; nc -l -p 8081"
    with daemon.client() as client:
        client.create(_spec("ll-listen", script, listen_ports="8080"))
        found = _until(client, "ll-listen", BIND_8080.replace("8080", "8081"))
    assert not any("8080" in detail for detail in found)


def test_connect_and_file_refusals_and_exec_get_events(daemon: Daemon) -> None:
    connect = "connect tcp/5432 to 127.0.0.1 refused by Landlock: add 5432 to --connect-ports"
    with daemon.client() as client:
        client.create(_spec("ll-more", "echo | nc 127.0.0.1 5432; echo x > /etc/x; exec sleep 300",
                            connect_ports="443"))
        found = _until(client, "ll-more", "create a file in /etc refused by Landlock")
        assert connect in found
        # `stockade exec` restricts itself anew; its denials are reported too
        result = client.run("ll-more", ["sh", "-c", "nc -l -p 9090; sleep 1"])
        assert b"Permission denied" in result.stderr
        _until(client, "ll-more", BIND_8080.replace("8080", "9090"))


def test_a_flood_is_rate_limited_with_an_exact_count(daemon: Daemon) -> None:
    tries = 12
    script = f"for i in $(seq {tries}); do nc -l -p 8080 2>/dev/null; done; exec sleep 300"
    with daemon.client() as client:
        client.create(_spec("ll-flood", script))
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            found = _details(client, "ll-flood")
            if any("suppressed" in detail for detail in found):
                break
            time.sleep(0.5)
    assert found[:5] == [BIND_8080] * 5
    assert found[5] == f"{tries - 5} more Landlock denials suppressed"
