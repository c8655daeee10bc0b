"""Parsers and validation of the public network model."""

import ipaddress
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from stockade.errors import InvalidSpec
from stockade.spec import EgressRule, SecurityGroup, parse_destination, parse_ports, parse_rules
from stockade.spec.network import format_destination
from stockade.spec.ports import format_ports

ports = st.integers(1, 65535)
port_ranges = st.tuples(ports, ports).map(lambda p: (min(p), max(p)))
addresses = st.integers(0, 2**32 - 1)


@given(st.lists(port_ranges, min_size=1, max_size=8))
def test_ports_round_trip(items: list[tuple[int, int]]) -> None:
    text = ",".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in items)
    parsed = parse_ports(text)
    assert parsed == tuple(sorted(items))
    assert parse_ports(format_ports(parsed)) == parsed


@pytest.mark.parametrize("text", ["", " ", "0", "65536", "9-8", "a", "80,,90", "80-", "-80",
                                  "1-2-3", "80;443", "\uff18\uff10"])
def test_bad_ports_are_refused(text: str) -> None:
    with pytest.raises(InvalidSpec):
        parse_ports(text)


@given(st.text(max_size=12))
def test_ports_parser_never_crashes(text: str) -> None:
    try:
        for low, high in parse_ports(text):
            assert 1 <= low <= high <= 65535
    except InvalidSpec:
        pass


@given(addresses, addresses)
def test_destination_round_trip(a: int, b: int) -> None:
    low, high = min(a, b), max(a, b)
    text = format_destination((low, high))
    assert parse_destination(text) == (low, high)


@given(addresses, st.integers(0, 32))
def test_cidr_is_its_network_span(value: int, length: int) -> None:
    net = ipaddress.IPv4Network((value, length), strict=False)
    assert parse_destination(str(net)) == (int(net.network_address), int(net.broadcast_address))


@pytest.mark.parametrize("text", ["10.0.0.1/8", "10.0.0.9-10.0.0.1", "10.0.0", "::1",
                                  "10.0.0.0/33", "", "a-b", "300.1.1.1"])
def test_bad_destinations_are_refused(text: str) -> None:
    with pytest.raises(InvalidSpec):
        parse_destination(text)


def test_rule_fields_must_fit_the_protocol() -> None:
    with pytest.raises(ValidationError, match="ports apply only"):
        EgressRule(protocol="icmp", destinations=["10.0.0.1"], ports="80")
    with pytest.raises(ValidationError, match="ICMP type"):
        EgressRule(protocol="tcp", destinations=["10.0.0.1"], icmp_type=8)
    with pytest.raises(ValidationError, match="needs an ICMP type"):
        EgressRule(protocol="icmp", destinations=["10.0.0.1"], icmp_code=0)
    with pytest.raises(ValidationError):
        EgressRule(protocol="tcp", destinations=[])
    with pytest.raises(ValidationError):
        EgressRule(protocol="sctp", destinations=["10.0.0.1"])


def test_platform_style_destination_string_is_accepted() -> None:
    rule = EgressRule.model_validate({"protocol": "tcp", "destination": "10.0.0.0/24,10.1.0.5",
                                      "ports": "443,80"})
    assert rule.destinations == ["10.0.0.0/24", "10.1.0.5"]
    assert rule.ports == "80,443"


def test_rules_file_errors_name_the_rule() -> None:
    with pytest.raises(InvalidSpec, match="not valid JSON"):
        parse_rules("{")
    with pytest.raises(InvalidSpec, match="JSON list"):
        parse_rules('{"protocol": "tcp"}')
    bad = [{"protocol": "tcp", "destinations": ["10.0.0.1"], "ports": "80"},
           {"protocol": "tcp", "destinations": ["10.0.0.1/8"]}]
    with pytest.raises(InvalidSpec, match="rule 2"):
        parse_rules(json.dumps(bad))
    assert len(parse_rules(json.dumps({"rules": bad[:1]}))) == 1


def test_group_names_and_digest() -> None:
    with pytest.raises(ValidationError):
        SecurityGroup(name="Bad Name")
    one = SecurityGroup(name="web", rules=[EgressRule(protocol="all", destinations=["1.2.3.4"])])
    two = SecurityGroup(name="web", rules=[EgressRule(protocol="all", destinations=["1.2.3.5"])])
    assert one.digest != two.digest
