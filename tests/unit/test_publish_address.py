"""Publishing on one host address (docker's -p IP:H:C): the -p parser, the model, the
conflict rules of the port leases, the nftables maps, the bind probe and the tables."""

import socket
import sqlite3
import tempfile
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from stockade.cli import parsing, render
from stockade.errors import InvalidSpec
from stockade.network import nftjson
from stockade.network.leases import LeaseStore, PortLease, overlaps
from stockade.network.manager import _bindable
from stockade.spec import PortMapping


def publish(value: str) -> PortMapping:
    """The CLI's -p as the daemon reads it: the JSON it sends, through the model."""
    return PortMapping.model_validate(parsing.publish(value))

SPEC = nftjson.TableSpec(table="stockade", bridge="stk0", log_group=4242)
CONTAINER = IPv4Address("10.254.0.7")

unicast = st.ip_addresses(v=4).filter(
    lambda a: not a.is_multicast and a != IPv4Address("255.255.255.255"))
ports = st.integers(1, 65535)


# -- the -p parser ----------------------------------------------------------------------------

@given(st.one_of(st.none(), unicast), st.one_of(st.none(), st.integers(0, 65535)), ports,
       st.sampled_from(["", "/tcp", "/udp"]))
def test_every_docker_form_parses(address: IPv4Address | None, host: int | None,
                                  container: int, suffix: str) -> None:
    host_text = "" if host is None else str(host)
    if address is None:
        value = f"{host_text}:{container}" if host is not None else str(container)
    else:
        value = f"{address}:{host_text}:{container}"
    mapping = publish(value + suffix)
    assert mapping.container_port == container
    assert mapping.host_port == (host or 0)
    assert mapping.protocol == ("udp" if suffix == "/udp" else "tcp")
    wanted = None if address is None or address == IPv4Address("0.0.0.0") else address
    assert mapping.host_ip == wanted


@pytest.mark.parametrize(("value", "address", "host"), [
    ("127.0.0.1:8080:80", "127.0.0.1", 8080),
    ("127.0.0.1::80", "127.0.0.1", 0),
    ("0.0.0.0:8080:80", None, 8080),
    ("0.0.0.0::80", None, 0),
    (":8080:80", None, 8080),
    ("::80", None, 0),
    (":80", None, 0),
    ("80", None, 0),
])
def test_the_address_and_a_free_port(value: str, address: str | None, host: int) -> None:
    mapping = publish(value)
    assert (mapping.host_ip, mapping.host_port) == \
        (None if address is None else IPv4Address(address), host)


@pytest.mark.parametrize("value", ["[::1]:8080:80", "[::1]::80", "[fe80::1]:80:80/udp",
                                   "::1:8080:80", "[::ffff:127.0.0.1]:80:80"])
def test_ipv6_is_refused_in_one_line(value: str) -> None:
    with pytest.raises(InvalidSpec, match="IPv6 is not supported") as caught:
        publish(value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("value", [
    "", ":", "::", "/", "80/sctp", "127.0.0.1:80", "x:80:80", "1:2:3:4", "[1.2.3.4]:80:80",
    "[::1]80:80", "[::1", "224.0.0.1:80:80", "255.255.255.255:80:80", "1.2.3.4:65536:80",
    "1.2.3.4:80:0", "80:", "8080:80:", "127.0.0.1:8080:80/", "١٢:80", "1.2.3.4 :80:80",
    "9" * 5000, "1" * 6 + ":80",
])
def test_garbage_is_one_line(value: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        publish(value)
    message = str(caught.value)
    assert message.startswith("--publish ") and "\n" not in message


@settings(max_examples=400)
@given(st.text(alphabet=st.sampled_from("0123456789:./[]aftu-x :%") | st.characters(),
               max_size=40))
def test_any_text_parses_or_is_refused_in_one_line(value: str) -> None:
    try:
        mapping = publish(value)
    except InvalidSpec as exc:
        assert "\n" not in str(exc) and str(exc).startswith("--publish ")
    else:  # what parses says what it was given
        assert str(mapping.container_port) in value


# -- the model --------------------------------------------------------------------------------

def test_the_model_normalises_and_refuses_addresses() -> None:
    assert PortMapping(host_port=1, container_port=2, host_ip="0.0.0.0").host_ip is None
    assert PortMapping(host_port=1, container_port=2,
                       host_ip="127.0.0.1").model_dump(mode="json")["host_ip"] == "127.0.0.1"
    for bad, why in (("::1", "IPv6"), ("localhost", "not an IPv4"), (5, "string")):
        with pytest.raises(ValidationError, match=why):
            PortMapping(host_port=1, container_port=2, host_ip=bad)


def test_tables_show_the_address_like_docker() -> None:
    on_one = PortMapping(host_port=8080, container_port=80, host_ip="127.0.0.1")
    on_all = PortMapping(host_port=8080, container_port=80, protocol="udp")
    assert render.port_text(on_one.model_dump(mode="json")) == "127.0.0.1:8080->80/tcp"
    assert render.port_text(on_all.model_dump(mode="json")) == "8080->80/udp"
    assert render.port_text({"host_port": 1, "container_port": 2}) == "1->2/tcp"  # older daemon
    assert on_one.describe() == "127.0.0.1:8080->80/tcp"


# -- the leases: one (protocol, port) per address, every address overlapping each --------------

addresses = st.sampled_from([None, IPv4Address("127.0.0.1"), IPv4Address("10.9.8.7")])
claims = st.lists(st.tuples(st.sampled_from(["tcp", "udp"]), st.sampled_from([80, 81]),
                            addresses), max_size=12)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60,
          deadline=None)
@given(claims)
def test_port_taken_is_overlap_on_the_same_protocol_and_port(
        tmp_path: Path, wanted: list[tuple[str, int, IPv4Address | None]]) -> None:
    store = LeaseStore(Path(tempfile.mkdtemp(dir=tmp_path)))
    held: list[tuple[str, int, IPv4Address | None]] = []
    try:
        for proto, port, address in wanted:
            clash = any(p == proto and h == port and overlaps(a, address) for p, h, a in held)
            assert store.port_taken(proto, port, address) == clash
            if not clash:
                store.add_port(PortLease(proto, port, CONTAINER, 8080, address))
                held.append((proto, port, address))
        got = {(p.protocol, p.host_port, p.host_ip) for p in store.ports(CONTAINER)}
        assert got == set(held)
        for proto, port, address in held:  # release frees exactly that mapping
            store.release_port(PortLease(proto, port, CONTAINER, 8080, address))
            assert not store.port_taken(proto, port, address)
    finally:
        store.close()


def test_a_database_from_before_addresses_is_upgraded(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "network.db")
    old.executescript("CREATE TABLE ports (protocol TEXT NOT NULL, host_port INTEGER NOT NULL,"
                      " address INTEGER NOT NULL, container_port INTEGER NOT NULL,"
                      " PRIMARY KEY (protocol, host_port));"
                      f"INSERT INTO ports VALUES ('tcp', 8080, {int(CONTAINER)}, 80);")
    old.close()
    store = LeaseStore(tmp_path)
    try:
        assert store.ports(CONTAINER) == [PortLease("tcp", 8080, CONTAINER, 80, None)]
        assert store.port_taken("tcp", 8080, IPv4Address("127.0.0.1"))  # it was on all
        store.add_port(PortLease("tcp", 9090, CONTAINER, 80, IPv4Address("127.0.0.1")))
        store.add_port(PortLease("tcp", 9090, CONTAINER, 81, IPv4Address("127.0.0.2")))
    finally:
        store.close()
    again = LeaseStore(tmp_path)  # a second open leaves it be
    try:
        assert len(again.ports(CONTAINER)) == 3
    finally:
        again.close()


# -- the nftables maps -----------------------------------------------------------------------

def _elements(commands: list[nftjson.Command], verb: str) -> dict[str, list[Any]]:
    return {c[verb]["element"]["name"]: c[verb]["element"]["elem"] for c in commands
            if "element" in c.get(verb, {})}


def test_a_mapping_on_one_address_is_keyed_by_that_address() -> None:
    published: list[nftjson.Published] = [("tcp", 8080, 80, "127.0.0.1"),
                                          ("udp", 53, 5353, None)]
    added = _elements(nftjson.portmap_commands("add", SPEC, str(CONTAINER), published), "add")
    assert added == {
        "portmap_ip_addr": [[{"concat": ["127.0.0.1", "tcp", 8080]}, str(CONTAINER)]],
        "portmap_ip_port": [[{"concat": ["127.0.0.1", "tcp", 8080]}, 80]],
        "portmap_addr": [[{"concat": ["udp", 53]}, str(CONTAINER)]],
        "portmap_port": [[{"concat": ["udp", 53]}, 5353]],
    }
    removed = _elements(nftjson.portmap_commands("delete", SPEC, str(CONTAINER), published),
                        "delete")
    assert removed == {name: [key for key, _ in elems] for name, elems in added.items()}
    assert nftjson.portmap_commands("add", SPEC, str(CONTAINER), []) == []


def test_both_dnat_paths_match_the_destination_address_first() -> None:
    rules = [c["add"]["rule"] for c in nftjson.table_commands(SPEC)
             if c.get("add", {}).get("rule", {}).get("chain") in ("prerouting", "output_nat")]
    for chain in ("prerouting", "output_nat"):
        dnats = [r["expr"][-1]["dnat"] for r in rules if r["chain"] == chain]
        assert [d["addr"]["map"]["data"] for d in dnats] == ["@portmap_ip_addr",
                                                             "@portmap_addr"]
        assert dnats[0]["addr"]["map"]["key"]["concat"][0] == \
            {"payload": {"protocol": "ip", "field": "daddr"}}
    # an existing table is flushed and rewritten, so a table from before gains the maps
    fixed = nftjson.fixed_chain_commands(SPEC)
    assert {"flush": {"chain": {"family": "inet", "table": "stockade", "name": "prerouting"}}} \
        in fixed
    assert any(c.get("add", {}).get("map", {}).get("name") == "portmap_ip_addr" for c in fixed)


# -- the bind probe: a host service on one address ------------------------------------------------

def test_the_bind_probe_looks_at_the_address() -> None:
    with socket.socket() as service:
        service.bind(("127.0.0.1", 0))
        service.listen(1)
        port = service.getsockname()[1]
        assert not _bindable("tcp", port, IPv4Address("127.0.0.1"))
        assert not _bindable("tcp", port, None)  # every address includes 127.0.0.1
        assert _bindable("tcp", port, IPv4Address("127.0.0.2"))  # another loopback address
    with pytest.raises(InvalidSpec, match=r"192\.0\.2\.1 is not an address of this host"):
        _bindable("tcp", port, IPv4Address("192.0.2.1"))  # TEST-NET-1: no host has it
