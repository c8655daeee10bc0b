"""The firewall fails closed: with Stockade's table deleted (what `nft flush ruleset` or a
restart of the nftables service does to it) the port guards pass nothing to a container,
so it reaches neither the gateway nor a neighbour nor the outside; the guard restores the
table, and the daemon's watcher does so within a second and audits it. Only the test's
own private network's table is deleted."""

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.engine import Engine
from stockade.network import nftjson, portguard
from stockade.network.nft import Nft
from stockade.spec import EgressRule, NetworkPolicy
from stockade.verify.runner import verify_container
from tests.daemonkit import Daemon
from tests.integration.netfixtures import (
    HttpServer,
    Outside,
    fetch,
    free_port,
    leftovers,
    network_config,
    network_engine,
    outside_namespace,
    start_web,
    unique,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runc") is None,
                       reason="needs root and runc"),
]


@pytest.fixture
def outside() -> Iterator[Outside]:
    with outside_namespace() as namespace:
        yield namespace


@pytest.fixture
def engine(outside: Outside) -> Iterator[Engine]:
    with network_engine(uplinks=(outside.host_if,)) as eng:
        config = eng.config.network
        yield eng
    assert leftovers(config) == []


def _delete_table(engine: Engine) -> None:
    config = engine.config.network
    Nft().apply(nftjson.delete_table(nftjson.TableSpec(table=config.table, bridge=config.bridge,
                                                       log_group=config.log_group)))


def test_without_the_table_a_container_reaches_nothing_and_the_guard_restores_it(
        engine: Engine, outside: Outside) -> None:
    config = engine.config.network
    gateway = str(config.gateway)
    out_server = HttpServer(outside.addr, 8000, "outside-8000", netns=outside.netns)
    gateway_port = free_port()
    host_server: HttpServer | None = None
    try:
        a, b = unique("a"), unique("b")
        engine.net.create_group("out", [EgressRule(protocol="tcp", destinations=[outside.addr],
                                                   ports="8000")])
        ip_a = start_web(engine, a, groups=["out"])
        ip_b = start_web(engine, b)
        host_server = HttpServer(gateway, gateway_port, "host-on-gateway")  # bridge is up
        engine.net.allow(NetworkPolicy(source=a, destination=b, protocol="tcp", port=8080))
        for ip in (ip_a, ip_b):
            assert portguard.installed(f"{config.link_prefix}{nftjson.addr_hex(ip)}")
        # allowed before: the outside server and the neighbour; the gateway never is
        assert fetch(engine, a, outside.addr, 8000) == "outside-8000"
        assert fetch(engine, a, ip_b, 8080) == f"hello-{b}"
        assert fetch(engine, a, gateway, gateway_port, timeout=1) is None

        _delete_table(engine)
        deleted = time.monotonic()
        hits = out_server.hits, host_server.hits
        assert fetch(engine, a, gateway, gateway_port, timeout=1) is None
        assert fetch(engine, a, ip_b, 8080, timeout=1) is None
        assert fetch(engine, a, outside.addr, 8000, timeout=1) is None
        assert fetch(engine, b, gateway, gateway_port, timeout=1) is None
        # nothing was served: not even the handshakes completed
        assert (out_server.hits, host_server.hits) == hits
        assert not Nft().table_exists(config.table)
        assert time.monotonic() - deleted < 20  # (each refusal waits out its timeout)

        assert sorted(engine.guard_firewall()) == sorted([a, b])
        assert engine.guard_firewall() == []  # all present again: nothing to do
        assert fetch(engine, a, outside.addr, 8000) == "outside-8000"
        assert fetch(engine, a, ip_b, 8080) == f"hello-{b}"
        assert fetch(engine, a, gateway, gateway_port, timeout=1) is None
        assert fetch(engine, b, outside.addr, 8000, timeout=1) is None  # b has no group
    finally:
        out_server.close()
        if host_server is not None:
            host_server.close()


def test_verify_reports_a_missing_table_on_the_firewall_row(engine: Engine) -> None:
    web = unique("v")
    start_web(engine, web)

    def firewall_row() -> tuple[str, str]:
        row = next(c for c in verify_container(engine, web).checks if c.id == "network.firewall")
        return row.status.value, row.observed

    status, observed = firewall_row()
    assert status == "pass" and "guard on" in observed and "hooked in" in observed
    _delete_table(engine)
    status, observed = firewall_row()
    assert status == "fail" and "MISSING from table" in observed
    assert engine.guard_firewall() == [web]
    assert firewall_row()[0] == "pass"


def test_the_daemon_restores_a_deleted_table_within_a_second_and_audits_it(
        tmp_path: Path, daemon: Daemon) -> None:
    config = network_config(tmp_path, ())
    settings = tmp_path / "stockade.toml"
    network = json.loads(config.model_dump_json())
    settings.write_text("[engine.network]\n" + "".join(
        f"{key} = {json.dumps(value)}\n" for key, value in network.items()
        if value is not None))
    daemon.stop()
    daemon.start(settings)
    try:
        handle = unique("guarded")
        done = daemon.cli("run", "-d", "--name", handle, "--", "sleep", "600")
        assert done.returncode == 0, done.stderr
        nft = Nft()
        assert nft.table_exists(config.table)
        nft.apply(nftjson.delete_table(nftjson.TableSpec(
            table=config.table, bridge=config.bridge, log_group=config.log_group)))
        deleted = time.monotonic()
        while not nft.table_exists(config.table):
            assert time.monotonic() - deleted < 1.0, "the table was not restored within 1 s"
            time.sleep(0.01)
        print(f"restored after {time.monotonic() - deleted:.3f} s")
        deadline = time.monotonic() + 5
        while "firewall restored" not in daemon.audit().stdout:
            assert time.monotonic() < deadline, daemon.audit().stdout[-2000:]
            time.sleep(0.1)
    finally:
        daemon.destroy_all()
        with daemon.client() as client:
            client.cleanup()
    assert leftovers(config) == []
