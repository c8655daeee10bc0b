"""The interval decomposition and the nftables JSON compiler (pure)."""

import ipaddress
import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.network import nftjson
from stockade.network.intervals import disjoint
from stockade.spec import EgressRule, SecurityGroup

SPEC = nftjson.TableSpec(table="stockade", bridge="stk0", log_group=4242)
small = st.tuples(st.integers(0, 15), st.integers(0, 15)).map(lambda p: (min(p), max(p)))


def points(boxes: list[tuple[tuple[int, int], ...]]) -> set[tuple[int, ...]]:
    return {p for box in boxes for p in itertools.product(*(range(lo, hi + 1) for lo, hi in box))}


@given(st.lists(st.tuples(small, small), max_size=12))
def test_disjoint_covers_exactly_the_union_2d(boxes: list[tuple[tuple[int, int], ...]]) -> None:
    result = disjoint(boxes)
    assert points(result) == points(boxes)
    assert sum(len(points([b])) for b in result) == len(points(result))  # no overlaps


@given(st.lists(st.tuples(small, small, small), max_size=8))
def test_disjoint_covers_exactly_the_union_3d(boxes: list[tuple[tuple[int, int], ...]]) -> None:
    result = disjoint(boxes)
    assert points(result) == points(boxes)
    assert sum(len(points([b])) for b in result) == len(points(result))


def test_disjoint_merges_neighbours() -> None:
    assert disjoint([((0, 4),), ((5, 9),)]) == [((0, 9),)]
    assert disjoint([((0, 4), (80, 80)), ((5, 9), (80, 80))]) == [((0, 9), (80, 80))]


octet_addr = st.integers(0, 255).map(lambda n: f"10.0.0.{n}")
rules = st.one_of(
    st.builds(lambda d, p, lg: EgressRule(protocol="tcp", destinations=d, ports=p, log=lg),
              st.lists(octet_addr, min_size=1, max_size=3),
              st.sampled_from(["80", "80,443", "8000-9000", "1-65535"]), st.booleans()),
    st.builds(lambda d, lg: EgressRule(protocol="all", destinations=d, log=lg),
              st.lists(st.sampled_from(["10.0.0.0/24", "10.0.0.5", "10.0.0.1-10.0.0.9"]),
                       min_size=1, max_size=2), st.booleans()),
    st.builds(lambda d, t: EgressRule(protocol="icmp", destinations=[d], icmp_type=t),
              octet_addr, st.one_of(st.none(), st.integers(0, 255))),
)


@settings(max_examples=60)
@given(st.lists(rules, max_size=10))
def test_group_commands_are_consistent(group_rules: list[EgressRule]) -> None:
    group = SecurityGroup(name="g", rules=group_rules)
    commands = nftjson.group_commands(SPEC, "abcd", group)
    json.dumps(commands)  # serialisable as is
    declared = {c["add"]["set"]["name"] for c in commands if "set" in c.get("add", {})}
    assert len(declared) == 8  # every kind, logged and not: fixed, so updates stay in place
    rules_added = [c["add"]["rule"] for c in commands if "rule" in c.get("add", {})]
    for rule in rules_added:
        referenced = [m["match"]["right"][1:] for m in rule["expr"]
                      if "match" in m and str(m["match"]["right"]).startswith("@")]
        assert referenced and set(referenced) <= declared
    filled = {c["add"]["element"]["name"] for c in commands if "element" in c.get("add", {})}
    assert len(rules_added) == len(filled) <= 8  # one rule per non-empty set, whatever the count
    logged = [r for r in rules_added if any("log" in e for e in r["expr"])]
    assert all(r["expr"][-1] == {"accept": None} for r in rules_added)
    assert len(logged) == len({k for k in filled if k.endswith("_log")})


def test_group_elements_are_disjoint_and_cover() -> None:
    group = SecurityGroup(name="g", rules=[
        EgressRule(protocol="tcp", destinations=["10.0.0.0/24"], ports="80"),
        EgressRule(protocol="tcp", destinations=["10.0.0.5"], ports="80-90"),
    ])
    boxes = nftjson.group_boxes(group)[("tcp", False)]
    assert points_count(boxes) == 256 + 10


def points_count(boxes: list[tuple[tuple[int, int], ...]]) -> int:
    total = 0
    for box in boxes:
        size = 1
        for lo, hi in box:
            size *= hi - lo + 1
        total += size
    return total


@given(st.lists(st.sampled_from(["a", "b", "c-d"]), unique=True, max_size=3),
       st.integers(0, 50))
def test_container_cost_does_not_depend_on_rule_count(groups: list[str], extra: int) -> None:
    """A container's chain holds one jump per bound group, never the groups' rules."""
    commands = nftjson.attach_commands(SPEC, "10.254.0.7", "abcd", groups,
                                       [("tcp", 40000 + i, 8080, None) for i in range(extra % 3)])
    chain_rules = [c for c in commands if "rule" in c.get("add", {})]
    assert len(chain_rules) == 4 + len(groups)
    jumps = [e["jump"]["target"] for c in chain_rules for e in c["add"]["rule"]["expr"]
             if "jump" in e]
    assert jumps == ["d_abcd", *(f"g_abcd_{g}" for g in groups)]


def test_detach_undoes_attach() -> None:
    ports: list[nftjson.Published] = [("tcp", 40000, 8080, None), ("udp", 53, 5353, "127.0.0.1")]
    attach = nftjson.attach_commands(SPEC, "10.254.0.7", "abcd", [], ports)
    detach = nftjson.detach_commands(SPEC, "10.254.0.7", ports)
    added = {c["add"]["element"]["name"] for c in attach if "element" in c.get("add", {})}
    removed = {c["delete"]["element"]["name"] for c in detach if "element" in c["delete"]}
    assert added == removed
    assert {"delete": {"chain": {"family": "inet", "table": "stockade",
                                 "name": "c_0afe0007"}}} in detach


# -- what the table guarantees beyond the groups ----------------------------------------------

def test_the_table_stamps_what_reaches_a_container() -> None:
    """The port guard passes only marked packets to a container: the stamp is the table's."""
    commands = nftjson.table_commands(SPEC)
    stamp = [c["add"]["rule"] for c in commands
             if c.get("add", {}).get("rule", {}).get("chain") == "stamp"]
    assert len(stamp) == 1
    assert stamp[0]["expr"][0]["match"]["right"] == SPEC.bridge
    mangle = stamp[0]["expr"][-1]["mangle"]
    assert mangle["value"] == {"|": [{"meta": {"key": "mark"}}, SPEC.mark]}


def test_loopback_from_a_container_is_dropped_unless_a_published_port_put_it_there() -> None:
    commands = nftjson.table_commands(SPEC)
    first = next(c["add"]["rule"] for c in commands
                 if c.get("add", {}).get("rule", {}).get("chain") == "from_container")
    assert first["expr"][0]["match"]["right"] == {"prefix": {"addr": "127.0.0.0", "len": 8}}
    assert first["expr"][1]["match"] == {"op": "!", "left": {"ct": {"key": "status"}},
                                         "right": "dnat"}
    assert first["expr"][-1] == {"drop": None}


small_range = st.tuples(st.integers(0, 63), st.integers(0, 63)).map(lambda p: (min(p), max(p)))


@given(small_range, st.lists(small_range, max_size=4))
def test_carve_removes_reserved_ranges_unless_the_rule_lies_inside_one(
        destination: tuple[int, int], reserved: list[tuple[int, int]]) -> None:
    pieces = nftjson.carve(destination, reserved)
    covered = {p for lo, hi in pieces for p in range(lo, hi + 1)}
    wanted = set(range(destination[0], destination[1] + 1))
    named = any(lo <= destination[0] and destination[1] <= hi for lo, hi in reserved)
    if not named:
        wanted -= {p for lo, hi in reserved for p in range(lo, hi + 1)}
    assert covered == wanted
    assert sum(hi - lo + 1 for lo, hi in pieces) == len(covered)  # disjoint


def _allowed(group: SecurityGroup, reserved: list[tuple[int, int]], address: str) -> bool:
    point = int(ipaddress.IPv4Address(address))
    return any(box[0][0] <= point <= box[0][1]
               for box in nftjson.group_boxes(group, reserved)[("all", False)])


@given(st.sampled_from(["0.0.0.0/0", "169.0.0.0/8", "10.254.0.0/22", "126.0.0.0/7",
                        "192.168.1.0/24"]))
def test_broad_groups_never_include_the_host_the_gateway_or_link_local(broad: str) -> None:
    reserved = nftjson.reserved_ranges("10.254.0.1", ["192.168.1.5", "10.254.0.1"])
    group = SecurityGroup(name="g", rules=[EgressRule(protocol="all", destinations=[broad])])
    for address in ("169.254.169.254", "10.254.0.1", "192.168.1.5", "127.0.0.1"):
        assert not _allowed(group, reserved, address)


def test_a_rule_that_names_a_reserved_destination_keeps_it() -> None:
    reserved = nftjson.reserved_ranges("10.254.0.1", ["192.168.1.5"])
    named = SecurityGroup(name="g", rules=[
        EgressRule(protocol="all", destinations=["169.254.169.254"]),
        EgressRule(protocol="all", destinations=["10.254.0.1"]),
        EgressRule(protocol="all", destinations=["0.0.0.0/0"]),
    ])
    assert _allowed(named, reserved, "169.254.169.254")
    assert _allowed(named, reserved, "10.254.0.1")
    assert _allowed(named, reserved, "8.8.8.8")
    assert not _allowed(named, reserved, "169.254.0.1")
    assert not _allowed(named, reserved, "192.168.1.5")


def test_the_fixed_chains_are_rewritten_whole_so_an_older_table_is_brought_up_to_date() -> None:
    """Applied at every attach to an existing table: each chain is flushed before its rules
    are added (applying it twice leaves one copy), and the new table gets the same rules."""
    fixed = nftjson.fixed_chain_commands(SPEC)
    for chain in ("stamp", "from_container"):
        flush = fixed.index({"flush": {"chain": {"family": "inet", "table": "stockade",
                                                 "name": chain}}})
        rules = [i for i, c in enumerate(fixed)
                 if c.get("add", {}).get("rule", {}).get("chain") == chain]
        assert rules and flush < min(rules)
    table = nftjson.table_commands(SPEC)
    assert table[-len(fixed):] == fixed
