"""Publishing a port on one host address (docker's -p IP:H:C) with real containers: a
mapping answers on its address and nowhere else; one port serves different containers
on different addresses; the same address and port twice is refused in one line.

The second host address is the one the test's "outside" namespace faces (a veth the
fixture makes and removes); traffic goes only to it, to loopback and into that namespace."""

import os
import shutil
import socket
from collections.abc import Iterator
from ipaddress import IPv4Address

import pytest

from stockade.engine import Engine
from stockade.errors import Conflict
from stockade.network import nftjson
from stockade.network.nft import Nft
from stockade.spec import PortMapping
from tests.integration.netfixtures import (
    Outside,
    free_port,
    http_get,
    leftovers,
    network_engine,
    outside_namespace,
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


def on(address: str, host_port: int = 0) -> list[PortMapping]:
    return [PortMapping(host_port=host_port, container_port=8080, host_ip=address)]


def test_a_mapping_on_loopback_answers_on_loopback_alone(engine: Engine,
                                                         outside: Outside) -> None:
    web = unique("lo")
    start_web(engine, web, publish=on("127.0.0.1"))
    (port,) = engine.inspect(web).ports
    assert port.host_ip == IPv4Address("127.0.0.1")
    assert port.host_port >= engine.config.network.port_range[0]
    assert http_get("127.0.0.1", port.host_port) == f"hello-{web}"
    # the host's other address, from the host and from outside: nothing there
    assert http_get(outside.host_addr, port.host_port, timeout=1) is None
    assert http_get(outside.host_addr, port.host_port, netns=outside.netns, timeout=1) is None


def test_a_mapping_on_another_address_does_not_answer_on_loopback(engine: Engine,
                                                                  outside: Outside) -> None:
    web = unique("out")
    start_web(engine, web, publish=on(outside.host_addr))
    (port,) = engine.inspect(web).ports
    assert port.host_ip == IPv4Address(outside.host_addr)
    assert http_get(outside.host_addr, port.host_port, netns=outside.netns) == f"hello-{web}"
    assert http_get(outside.host_addr, port.host_port) == f"hello-{web}"  # from the host
    assert http_get("127.0.0.1", port.host_port, timeout=1) is None


def test_one_port_on_two_addresses_reaches_two_containers(engine: Engine,
                                                          outside: Outside) -> None:
    port = free_port()
    inner, outer = unique("in"), unique("out")
    start_web(engine, inner, publish=on("127.0.0.1", port))
    start_web(engine, outer, publish=on(outside.host_addr, port))
    assert http_get("127.0.0.1", port) == f"hello-{inner}"
    assert http_get(outside.host_addr, port, netns=outside.netns) == f"hello-{outer}"
    assert http_get(outside.host_addr, port) == f"hello-{outer}"
    # the same address and port again, or every address (which holds both), is refused
    for mapping, where in ((on("127.0.0.1", port), f"127.0.0.1:{port}"),
                           ([PortMapping(host_port=port, container_port=8080)], str(port))):
        with pytest.raises(Conflict) as refused:
            engine.create(web_spec(unique("dup"), publish=mapping))
        assert str(refused.value) == f"host port {where}/tcp is already in use"
    assert sorted(c.handle for c in engine.list()) == sorted([inner, outer])
    # net-in honours the address too: the port is free on a third loopback address
    info = engine.net_in(inner, port, 8080, host_ip=IPv4Address("127.0.0.3"))
    assert {(str(p.host_ip), p.host_port) for p in info.ports} == \
        {("127.0.0.1", port), ("127.0.0.3", port)}
    assert http_get("127.0.0.3", port) == f"hello-{inner}"
    with pytest.raises(Conflict, match=rf"127\.0\.0\.3:{port}/tcp is already in use"):
        engine.net_in(outer, port, 8080, host_ip=IPv4Address("127.0.0.3"))


def test_every_address_first_blocks_one_address(engine: Engine, outside: Outside) -> None:
    port = free_port()
    everywhere = unique("all")
    start_web(engine, everywhere, publish=[PortMapping(host_port=port, container_port=8080)])
    with pytest.raises(Conflict, match=rf"{outside.host_addr}:{port}/tcp is already in use"):
        engine.create(web_spec(unique("one"), publish=on(outside.host_addr, port)))
    assert http_get("127.0.0.1", port) == f"hello-{everywhere}"


def test_a_host_service_on_one_address_leaves_the_others_free(engine: Engine,
                                                              outside: Outside) -> None:
    with socket.socket() as service:
        service.bind(("127.0.0.1", 0))
        service.listen(1)
        port = service.getsockname()[1]
        with pytest.raises(Conflict, match=rf"127\.0\.0\.1:{port}/tcp is already in use"):
            engine.create(web_spec(unique("svc"), publish=on("127.0.0.1", port)))
        web = unique("beside")
        start_web(engine, web, publish=on(outside.host_addr, port))
        assert http_get(outside.host_addr, port, netns=outside.netns) == f"hello-{web}"


def test_the_address_survives_a_lost_table(engine: Engine, outside: Outside) -> None:
    """The leases hold the address: restoring the firewall (after `nft flush ruleset`)
    puts back the one-address rule, not an every-address one."""
    web = unique("back")
    start_web(engine, web, publish=on("127.0.0.1"))
    (port,) = engine.inspect(web).ports
    config = engine.config.network
    Nft().apply(nftjson.delete_table(nftjson.TableSpec(table=config.table, bridge=config.bridge,
                                                       log_group=config.log_group)))
    assert engine.guard_firewall() == [web]
    assert engine.inspect(web).ports == [port]
    assert http_get("127.0.0.1", port.host_port) == f"hello-{web}"
    assert http_get(outside.host_addr, port.host_port, netns=outside.netns, timeout=1) is None
