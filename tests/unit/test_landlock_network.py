"""Landlock's TCP rules: which ports the spec lets the application bind and connect to,
the init arguments that carry them, and the later port mappings they allow."""

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockade.errors import Conflict
from stockade.policy import build_config, landlock
from stockade.spec import ContainerSpec, PortMapping, parse_ports
from stockade.spec.ports import contains, format_ports, merge
from tests.hostkit import make_host
from tests.unit.test_policy import CTX


def spec(**fields: Any) -> ContainerSpec:
    return ContainerSpec(handle="box", **fields)


def init_rules(box: ContainerSpec, **host: Any) -> list[str]:
    args = build_config(box, make_host(**host), CTX)["process"]["args"]
    return list(args[1:args.index("--")])


def flags(rules: list[str], flag: str) -> list[str]:
    return [rules[i + 1] for i, item in enumerate(rules) if item == flag]


def test_bind_is_limited_by_default_to_nothing_and_connect_left_to_the_firewall() -> None:
    rules = init_rules(spec())
    assert "-N" in rules and flags(rules, "-b") == []
    assert "-C" not in rules and flags(rules, "-c") == []


def test_published_and_declared_ports_may_be_bound() -> None:
    box = spec(listen_ports="9000-9002,8080", ports=[
        {"host_port": 0, "container_port": 8081},
        {"host_port": 0, "container_port": 5353, "protocol": "udp"}])  # no UDP rules exist
    assert flags(init_rules(box), "-b") == ["8080-8081", "9000-9002"]


def test_declared_connect_ports_include_the_applications_own_listen_ports() -> None:
    rules = init_rules(spec(listen_ports="8080", connect_ports="443,5432"))
    assert "-C" in rules and flags(rules, "-c") == ["443", "5432", "8080"]
    rules = init_rules(spec(connect_ports="none"))
    assert "-C" in rules and flags(rules, "-c") == []


@pytest.mark.parametrize("host", [dict(landlock_abi=3), dict(landlock_abi=0)])
def test_no_network_rules_where_the_kernel_has_none(host: dict[str, Any]) -> None:
    rules = init_rules(spec(listen_ports="80", connect_ports="443"), **host)
    assert not {"-N", "-b", "-C", "-c"} & set(rules)


def test_unsafe_disable_mac_drops_the_network_rules_with_the_rest() -> None:
    rules = init_rules(spec(listen_ports="80", unsafe={"disable_mac": True}))
    assert "-L" in rules and "-N" not in rules


def test_port_lists_are_normalised_and_bad_ones_refused() -> None:
    box = spec(listen_ports=" 9001 , 80-81", connect_ports="NONE")
    assert box.listen_ports == "80-81,9001" and box.connect_ports == "none"
    for bad in ("0", "70000", "9-8", "80,", "http", "", ",".join(map(str, range(1, 66)))):
        with pytest.raises(ValueError):
            spec(listen_ports=bad)
        with pytest.raises(ValueError):
            spec(connect_ports=bad)


def test_a_later_mapping_must_name_a_port_the_application_may_bind() -> None:
    box = spec(listen_ports="8080")
    landlock.check_publishable(box, PortMapping(host_port=0, container_port=8080))
    landlock.check_publishable(box, PortMapping(host_port=0, container_port=53,
                                                protocol="udp"))
    with pytest.raises(Conflict, match="may listen only on TCP ports 8080; declare 9090"):
        landlock.check_publishable(box, PortMapping(host_port=0, container_port=9090))
    with pytest.raises(Conflict, match=r"\(none declared\)"):
        landlock.check_publishable(spec(), PortMapping(host_port=0, container_port=80))


PORT_LISTS = st.lists(st.tuples(st.integers(1, 65535), st.integers(0, 300)), min_size=1,
                      max_size=6).map(lambda items: ",".join(
                          f"{lo}-{min(lo + n, 65535)}" for lo, n in items))


@given(PORT_LISTS, PORT_LISTS | st.none() | st.just("none"))
def test_the_verify_port_is_unprivileged_and_allowed_neither_way(
        listen: str, connect: str | None) -> None:
    box = spec(listen_ports=listen, connect_ports=connect)
    port = landlock.unlisted_port(box)
    assert port >= 1024
    assert not contains(landlock.bind_ports(box), port)
    assert not contains(landlock.connect_ports(box) or (), port)


@given(PORT_LISTS)
def test_merged_intervals_cover_exactly_the_same_ports(text: str) -> None:
    intervals = parse_ports(text)
    merged = merge(list(intervals))
    assert all(a[1] + 1 < b[0] for a, b in itertools.pairwise(merged))
    for port in {p for lo, hi in intervals for p in (lo - 1, lo, hi, hi + 1)}:
        assert contains(merged, port) == contains(intervals, port)
    assert parse_ports(format_ports(merged)) == merged

