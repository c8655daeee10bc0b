"""Real containers on a real bridge: addresses, published ports, default-deny egress,
security groups, network policy, logging, and nothing left behind."""

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator

import pytest

from stockade.engine import Engine
from stockade.errors import Conflict, StockadeError
from stockade.network.nft import Nft
from stockade.spec import EgressRule, NetworkPolicy, PortMapping
from tests.integration.netfixtures import (
    HttpServer,
    Outside,
    fetch,
    free_port,
    http_get,
    leftovers,
    network_engine,
    outside_namespace,
    run,
    start_web,
    unique,
    web_spec,
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


@pytest.fixture
def server(outside: Outside) -> Iterator[HttpServer]:
    srv = HttpServer(outside.addr, 8000, "outside-8000", netns=outside.netns)
    yield srv
    srv.close()


@pytest.fixture
def server2(outside: Outside) -> Iterator[HttpServer]:
    srv = HttpServer(outside.addr, 9000, "outside-9000", netns=outside.netns)
    yield srv
    srv.close()


def tcp_rule(destination: str, ports: str, log: bool = False) -> EgressRule:
    return EgressRule(protocol="tcp", destinations=[destination], ports=ports, log=log)


# -- addresses ------------------------------------------------------------------

def test_two_containers_each_listen_on_8080_with_their_own_address(engine: Engine) -> None:
    a, b = unique("a"), unique("b")
    ip_a, ip_b = start_web(engine, a), start_web(engine, b)
    assert ip_a != ip_b
    assert all(ip in engine.config.network.pool for ip in map(__import__("ipaddress")
                                                                .IPv4Address, (ip_a, ip_b)))
    assert fetch(engine, a, "127.0.0.1", 8080) == f"hello-{a}"
    assert fetch(engine, b, "127.0.0.1", 8080) == f"hello-{b}"
    code, hosts = run(engine, a, ["cat", "/etc/hosts"])
    assert code == 0 and f"{ip_a}\t{a}" in hosts
    code, _ = run(engine, a, ["sh", "-c", "echo x > /etc/hosts"])
    assert code != 0, "/etc/hosts must be read-only"


# -- published ports ------------------------------------------------------------------

def test_published_port_reaches_the_container_from_outside_and_from_the_host(
        engine: Engine, outside: Outside) -> None:
    web = unique("web")
    ip = start_web(engine, web, publish=[PortMapping(host_port=0, container_port=8080)])
    ports = engine.inspect(web).ports
    assert len(ports) == 1 and ports[0].host_port >= engine.config.network.port_range[0]
    host_port = ports[0].host_port
    assert http_get(outside.host_addr, host_port, netns=outside.netns) == f"hello-{web}"
    assert http_get("127.0.0.1", host_port) == f"hello-{web}"
    assert http_get(outside.host_addr, host_port) == f"hello-{web}"
    # nothing but the mapping: not the container's address from outside or from the host
    assert http_get(ip, 8080, netns=outside.netns, timeout=1) is None
    assert http_get(ip, 8080, timeout=1) is None


def test_net_in_adds_a_mapping_to_a_running_container(engine: Engine, outside: Outside) -> None:
    web = unique("web")
    start_web(engine, web)
    port = free_port()
    info = engine.net_in(web, port, 8080)
    assert [p.host_port for p in info.ports] == [port]
    assert http_get(outside.host_addr, port, netns=outside.netns) == f"hello-{web}"


def test_net_in_refuses_a_port_the_application_may_not_bind(engine: Engine) -> None:
    web = unique("web")
    start_web(engine, web)  # declares 8080 only
    with pytest.raises(Conflict, match="may listen only on TCP ports 8080"):
        engine.net_in(web, free_port(), 9090)
    info = engine.inspect(web)
    assert info.ports == [] and info.listen_ports == "8080" and info.connect_ports is None
    engine.net_in(web, free_port(), 9090, protocol="udp")  # Landlock has no UDP rules


def test_a_host_port_cannot_be_published_twice(engine: Engine) -> None:
    port = free_port()
    first, second = unique("p"), unique("p")
    engine.create(web_spec(first, publish=[PortMapping(host_port=port, container_port=8080)]))
    with pytest.raises(Conflict):
        engine.create(web_spec(second, publish=[PortMapping(host_port=port,
                                                            container_port=8080)]))
    assert [c.handle for c in engine.list()] == [first]


# -- egress ------------------------------------------------------------------

def test_default_deny(engine: Engine, outside: Outside, server: HttpServer) -> None:
    a, b = unique("a"), unique("b")
    start_web(engine, a)
    ip_b = start_web(engine, b)
    gateway = str(engine.config.network.gateway)
    host_server = HttpServer(gateway, free_port(), "host")
    try:
        assert fetch(engine, a, outside.addr, 8000) is None  # a server outside
        assert fetch(engine, a, ip_b, 8080) is None  # another container
        assert fetch(engine, a, gateway, host_server.sock.getsockname()[1]) is None  # the host
        assert fetch(engine, a, outside.host_addr, host_server.sock.getsockname()[1]) is None
        assert server.hits == 0 and host_server.hits == 0
    finally:
        host_server.close()


def test_group_allows_one_address_and_port_and_nothing_else(
        engine: Engine, outside: Outside, server: HttpServer, server2: HttpServer) -> None:
    engine.net.create_group("one-port", [tcp_rule(outside.addr, "8000")])
    web = unique("w")
    engine.create(web_spec(web, groups=["one-port"]))
    engine.start(web)
    assert fetch(engine, web, outside.addr, 8000) == "outside-8000"
    assert fetch(engine, web, outside.addr, 9000) is None
    assert fetch(engine, web, str(engine.config.network.gateway), 8000) is None
    assert run(engine, web, ["timeout", "3", "ping", "-c", "1", "-W", "1", outside.addr])[0] != 0


def test_icmp_rule(engine: Engine, outside: Outside) -> None:
    web = unique("w")
    # busybox ping needs a raw socket: CAP_NET_RAW, as root inside
    engine.create(web_spec(web).model_copy(update={"cap_add": ["CAP_NET_RAW"]}))
    engine.start(web)
    ping = ["timeout", "4", "ping", "-c", "1", "-W", "2", outside.addr]
    assert run(engine, web, ping, user="0")[0] != 0
    engine.net.create_group("echo", [EgressRule(protocol="icmp", destinations=[outside.addr],
                                                icmp_type=8, icmp_code=0)])
    engine.net.bind("echo", web)
    code, output = run(engine, web, ping, user="0")
    assert code == 0, output


def test_live_group_changes_apply_to_a_running_container(
        engine: Engine, outside: Outside, server: HttpServer, server2: HttpServer) -> None:
    web = unique("w")
    start_web(engine, web)
    engine.net.create_group("live", [tcp_rule(outside.addr, "8000")])
    assert fetch(engine, web, outside.addr, 8000) is None
    engine.net.bind("live", web)
    assert fetch(engine, web, outside.addr, 8000) == "outside-8000"
    engine.net.update_group("live", [tcp_rule(outside.addr, "9000")])
    assert fetch(engine, web, outside.addr, 8000) is None
    assert fetch(engine, web, outside.addr, 9000) == "outside-9000"
    engine.net.unbind("live", web)
    assert fetch(engine, web, outside.addr, 9000) is None
    # as a platform default it reaches every container, running or new
    engine.net.bind("live", None)
    assert fetch(engine, web, outside.addr, 9000) == "outside-9000"
    later = unique("l")
    start_web(engine, later)
    assert fetch(engine, later, outside.addr, 9000) == "outside-9000"
    with pytest.raises(Conflict):
        engine.net.remove_group("live")
    engine.net.unbind("live", None)
    assert fetch(engine, later, outside.addr, 9000) is None
    engine.net.remove_group("live")


def test_groups_never_open_other_containers(engine: Engine) -> None:
    a, b = unique("a"), unique("b")
    start_web(engine, a)
    ip_b = start_web(engine, b)
    engine.net.create_group("everything", [EgressRule(protocol="all",
                                                      destinations=["0.0.0.0/0"])])
    engine.net.bind("everything", a)
    assert fetch(engine, a, ip_b, 8080) is None


def test_network_policy_opens_one_direction(engine: Engine) -> None:
    a, b = unique("a"), unique("b")
    ip_a, ip_b = start_web(engine, a), start_web(engine, b)
    assert fetch(engine, a, ip_b, 8080) is None
    engine.net.allow(NetworkPolicy(source=a, destination=b, port=8080))
    assert fetch(engine, a, ip_b, 8080) == f"hello-{b}"
    assert fetch(engine, b, ip_a, 8080) is None
    engine.net.deny(NetworkPolicy(source=a, destination=b, port=8080))
    assert fetch(engine, a, ip_b, 8080) is None


def test_policy_given_before_the_destination_exists(engine: Engine) -> None:
    a, b = unique("a"), unique("b")
    start_web(engine, a)
    engine.create(web_spec(b))  # created, not yet started: policy names both
    engine.net.allow(NetworkPolicy(source=a, destination=b, port=8080))
    engine.start(b)
    ip_b = engine.inspect(b).ip
    assert ip_b is not None
    time.sleep(0.3)
    assert fetch(engine, a, ip_b, 8080) == f"hello-{b}"


# -- logging ------------------------------------------------------------------

def test_logged_allowances_and_denials_are_recorded(
        engine: Engine, outside: Outside, server: HttpServer, server2: HttpServer) -> None:
    reader = engine.network_log_reader()
    stop = threading.Event()
    thread = threading.Thread(target=reader.run, args=(stop,), daemon=True)
    thread.start()
    try:
        engine.net.create_group("logged", [tcp_rule(outside.addr, "8000", log=True)])
        web = unique("w")
        engine.create(web_spec(web, groups=["logged"]))
        engine.start(web)
        assert fetch(engine, web, outside.addr, 8000) == "outside-8000"
        assert fetch(engine, web, outside.addr, 9000, timeout=1) is None
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join(timeout=5)
        reader.close()
    records = [json.loads(line) for line in
               engine.layout.network_log.read_text().splitlines()]
    allowed = [r for r in records if r["verdict"] == "allowed"]
    denied = [r for r in records if r["verdict"] == "denied"]
    assert {"handle": web, "destination": outside.addr, "port": 8000, "protocol": "tcp",
            "group": "logged"}.items() <= allowed[0].items()
    assert any(r["handle"] == web and r["destination"] == outside.addr and r["port"] == 9000
               for r in denied)


# -- teardown ------------------------------------------------------------------

def test_destroy_removes_everything_and_the_last_one_takes_bridge_and_table(
        engine: Engine) -> None:
    config = engine.config.network
    a, b = unique("a"), unique("b")
    start_web(engine, a, publish=[PortMapping(host_port=0, container_port=8080)])
    start_web(engine, b)
    assert Nft().table_exists(config.table)
    engine.destroy(a)
    assert engine.network.lookup(a) is None
    assert any(item.startswith("link stkb") for item in leftovers(config))
    engine.destroy(b)
    assert leftovers(config) == []


def test_a_failed_create_leaves_nothing(engine: Engine) -> None:
    config = engine.config.network
    bad = web_spec(unique("bad")).model_copy(update={"process": web_spec("x").process
                                                     .model_copy(update={"args": ["/nope"]})})
    with pytest.raises(StockadeError):
        engine.create(bad)
    assert engine.list() == []
    assert leftovers(config) == []


def test_cleanup_removes_leftovers_of_a_crash(engine: Engine) -> None:
    web = unique("w")
    start_web(engine, web)
    # a crash between runc delete and the engine's record: the engine forgot, links remain
    engine._release_runtime(web)
    engine.state.delete(web)
    try:
        assert leftovers(engine.config.network) != []
        assert web in engine.cleanup()
        assert leftovers(engine.config.network) == []
    finally:  # the rest of that container is the volumes' business, not the network's
        engine.volumes.destroy(engine.layout.container(web))
