"""Compile stockade's network state into nftables JSON commands; pure, no side effects.

Layout of the one stockade-owned table (family inet):
  sets/maps   containers (addresses), egress_of (address -> verdict: jump c_<addr>),
              portmap_addr/_port (proto . host port -> address, port): published on every
              host address; portmap_ip_addr/_port (host address . proto . host port ->
              address, port): published on one (docker's -p IP:H:C),
              c2c (src . dst . proto . port)
  base chains prerouting/output_nat (DNAT through portmap), postrouting (masquerade),
              forward/input (from the bridge -> from_container, to it -> to_container),
              output (host -> containers: to_container), stamp (marks what may reach a
              container: the port guard (portguard.py) drops anything unmarked, so the
              ports fail closed when this table is gone)
  per container   c_<addr>: network policy, then the scope's defaults chain and bound groups,
              then a rate-limited log and drop
  per group   g_<scope>_<name> with interval sets per protocol (logged and not)
  per scope   d_<scope>: jumps to the groups bound as platform defaults

Groups never reach the reserved destinations (link-local, loopback, the gateway, the
host's own addresses) through a broader rule: only a rule whose destination lies wholly
inside a reserved range names it.
"""

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stockade.network.intervals import Box, Interval, disjoint
from stockade.spec.network import EgressRule, SecurityGroup

Command = dict[str, Any]
Expr = Any
# (protocol, host port, container port, host address or None for every address)
Published = tuple[str, int, int, str | None]

ALLOW_PREFIX = "stk:A:"
DENY_PREFIX = "stk:D"
GROUP_KINDS = ("tcp", "udp", "icmp", "all")
_SET_TYPES = {
    "tcp": ["ipv4_addr", "inet_service"],
    "udp": ["ipv4_addr", "inet_service"],
    "icmp": ["ipv4_addr", "icmp_type", "icmp_code"],
    "all": "ipv4_addr",
}


@dataclass(frozen=True)
class TableSpec:
    """The host-wide names and knobs every compiled command refers to."""

    table: str
    bridge: str
    log_group: int
    deny_log_per_second: int = 10
    mark: int = 0x20000000  # stamped on what may reach a container; see portguard.py


def _ip(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def addr_hex(address: str) -> str:
    return f"{int(ipaddress.IPv4Address(address)):08x}"


def container_chain(address: str) -> str:
    return f"c_{addr_hex(address)}"


def group_chain(scope_tag: str, name: str) -> str:
    return f"g_{scope_tag}_{name}"


def defaults_chain(scope_tag: str) -> str:
    return f"d_{scope_tag}"


def group_set(scope_tag: str, name: str, kind: str, logged: bool) -> str:
    return f"{group_chain(scope_tag, name)}_{kind}" + ("_log" if logged else "")


# -- expression helpers -----------------------------------------------------------------

def _meta(key: str) -> Expr:
    return {"meta": {"key": key}}


def _payload(protocol: str, field: str) -> Expr:
    return {"payload": {"protocol": protocol, "field": field}}


def _match(left: Expr, right: Expr, op: str = "==") -> Expr:
    return {"match": {"op": op, "left": left, "right": right}}


def _range(low: int, high: int, as_ip: bool = False) -> Expr:
    fmt = _ip if as_ip else (lambda v: v)
    return fmt(low) if low == high else {"range": [fmt(low), fmt(high)]}


def _rule(spec: TableSpec, chain: str, *expr: Expr) -> Command:
    return {"add": {"rule": {"family": "inet", "table": spec.table, "chain": chain,
                             "expr": list(expr)}}}


def _obj(spec: TableSpec, kind: str, name: str, **extra: Any) -> dict[str, Any]:
    return {kind: {"family": "inet", "table": spec.table, "name": name, **extra}}


def _log(spec: TableSpec, prefix: str) -> Expr:
    return {"log": {"prefix": prefix, "group": spec.log_group}}


LOOPBACK: Expr = {"prefix": {"addr": "127.0.0.0", "len": 8}}
ACCEPT: Expr = {"accept": None}
DROP: Expr = {"drop": None}
CT_ESTABLISHED = _match({"ct": {"key": "state"}}, ["established", "related"], "in")
CT_INVALID = _match({"ct": {"key": "state"}}, "invalid", "in")
TH_DPORT = _payload("th", "dport")
_FLOW_KEY = {"concat": [_payload("ip", "saddr"), _payload("ip", "daddr"), _meta("l4proto"),
                        TH_DPORT]}


# -- the table --------------------------------------------------------------------------

def _base_chain(spec: TableSpec, name: str, kind: str, hook: str, prio: int) -> Command:
    return {"add": _obj(spec, "chain", name, type=kind, hook=hook, prio=prio, policy="accept")}


def table_commands(spec: TableSpec) -> list[Command]:
    """Create the whole table with its shared sets and base chains, in one batch."""
    bridge_in = _match(_meta("iifname"), spec.bridge)
    bridge_out = _match(_meta("oifname"), spec.bridge)
    return [
        {"add": {"table": {"family": "inet", "name": spec.table}}},
        {"add": _obj(spec, "set", "containers", type="ipv4_addr")},
        {"add": _obj(spec, "map", "egress_of", type="ipv4_addr", map="verdict")},
        # libnftables 1.0.6 cannot declare concatenated map data in JSON: two maps instead
        {"add": _obj(spec, "map", "portmap_addr", type=["inet_proto", "inet_service"],
                     map="ipv4_addr")},
        {"add": _obj(spec, "map", "portmap_port", type=["inet_proto", "inet_service"],
                     map="inet_service")},
        {"add": _obj(spec, "set", "c2c",
                     type=["ipv4_addr", "ipv4_addr", "inet_proto", "inet_service"])},
        _base_chain(spec, "postrouting", "nat", "postrouting", 100),
        _base_chain(spec, "forward", "filter", "forward", 0),
        _base_chain(spec, "input", "filter", "input", 0),
        _base_chain(spec, "output", "filter", "output", 0),
        {"add": _obj(spec, "chain", "from_container")},
        {"add": _obj(spec, "chain", "to_container")},
        # a loopback source cannot be answered from inside; the gateway stands in for it
        _rule(spec, "postrouting", bridge_out,
              _match(_payload("ip", "saddr"), {"prefix": {"addr": "127.0.0.0", "len": 8}}),
              {"masquerade": None}),
        _rule(spec, "postrouting", _match(_payload("ip", "saddr"), "@containers"),
              _match(_meta("oifname"), spec.bridge, "!="), {"masquerade": None}),
        _rule(spec, "forward", bridge_in, {"jump": {"target": "from_container"}}),
        _rule(spec, "forward", bridge_out, {"jump": {"target": "to_container"}}),
        _rule(spec, "input", bridge_in, {"jump": {"target": "from_container"}}),
        _rule(spec, "output", bridge_out, {"jump": {"target": "to_container"}}),
        _rule(spec, "to_container", CT_ESTABLISHED, ACCEPT),
        _rule(spec, "to_container", _match({"ct": {"key": "status"}}, "dnat", "in"), ACCEPT),
        _rule(spec, "to_container", DROP),
        *fixed_chain_commands(spec),
    ]


def _dnat(key: Expr, addr_map: str, port_map: str) -> Expr:
    return {"dnat": {"family": "ip", "addr": {"map": {"key": key, "data": f"@{addr_map}"}},
                     "port": {"map": {"key": key, "data": f"@{port_map}"}}}}


def dnat_commands(spec: TableSpec) -> list[Command]:
    """The published ports' DNAT, in prerouting (from other interfaces, never hairpin from
    the bridge) and output_nat (from the host itself): first the mappings bound to one
    host address (keyed by the destination address too), then those on every address. A
    key missing from a map ends its rule, so each packet meets at most one mapping (the
    leases never hold one (protocol, port) both ways on an address)."""
    local = _match({"fib": {"result": "type", "flags": ["daddr"]}}, "local")
    on_one = _dnat({"concat": [_payload("ip", "daddr"), _meta("l4proto"), TH_DPORT]},
                   "portmap_ip_addr", "portmap_ip_port")
    on_all = _dnat({"concat": [_meta("l4proto"), TH_DPORT]}, "portmap_addr", "portmap_port")
    from_outside = _match(_meta("iifname"), spec.bridge, "!=")
    return [
        {"add": _obj(spec, "map", "portmap_ip_addr",
                     type=["ipv4_addr", "inet_proto", "inet_service"], map="ipv4_addr")},
        {"add": _obj(spec, "map", "portmap_ip_port",
                     type=["ipv4_addr", "inet_proto", "inet_service"], map="inet_service")},
        _base_chain(spec, "prerouting", "nat", "prerouting", -100),
        _base_chain(spec, "output_nat", "nat", "output", -100),
        {"flush": _obj(spec, "chain", "prerouting")},
        {"flush": _obj(spec, "chain", "output_nat")},
        _rule(spec, "prerouting", from_outside, local, on_one),
        _rule(spec, "prerouting", from_outside, local, on_all),
        _rule(spec, "output_nat", local, on_one),
        _rule(spec, "output_nat", local, on_all),
    ]


def fixed_chain_commands(spec: TableSpec) -> list[Command]:
    """The DNAT rules, `stamp` and `from_container`, flushed and written whole in one
    transaction. Part of every new table, and applied to an existing one at each attach:
    a table an older version made (no stamp, so the port guards would pass nothing; no
    maps for one-address mappings) is brought up to date."""
    bridge_out = _match(_meta("oifname"), spec.bridge)
    return [
        *dnat_commands(spec),
        # after every filter has had its say: what is still going to a container is allowed
        _base_chain(spec, "stamp", "filter", "postrouting", 300),
        {"flush": _obj(spec, "chain", "stamp")},
        _rule(spec, "stamp", bridge_out, _match(_meta("nfproto"), "ipv4"),
              {"mangle": {"key": _meta("mark"), "value": {"|": [_meta("mark"), spec.mark]}}}),
        {"add": _obj(spec, "chain", "from_container")},
        {"flush": _obj(spec, "chain", "from_container")},
        # route_localnet on the bridge would take these to the host's 127.0.0.1 services;
        # only the replies of a published port reached from loopback (DNAT) come this way
        _rule(spec, "from_container", _match(_payload("ip", "daddr"), LOOPBACK),
              _match({"ct": {"key": "status"}}, "dnat", "!"), DROP),
        _rule(spec, "from_container", CT_ESTABLISHED, ACCEPT),
        _rule(spec, "from_container", CT_INVALID, DROP),
        _rule(spec, "from_container", {"vmap": {"key": _payload("ip", "saddr"),
                                                "data": "@egress_of"}}),
        _rule(spec, "from_container", DROP),  # a source no container owns: spoofed
    ]


def delete_table(spec: TableSpec) -> list[Command]:
    return [{"delete": {"table": {"family": "inet", "name": spec.table}}}]


# -- security groups --------------------------------------------------------------------

LINK_LOCAL: Interval = (int(ipaddress.IPv4Address("169.254.0.0")),
                        int(ipaddress.IPv4Address("169.254.255.255")))
LOOPBACK_RANGE: Interval = (int(ipaddress.IPv4Address("127.0.0.0")),
                            int(ipaddress.IPv4Address("127.255.255.255")))


def reserved_ranges(gateway: str, host_addresses: Iterable[str]) -> list[Interval]:
    """What no group reaches unless a rule names it: link-local (cloud metadata lives
    there), loopback, the gateway and every address of the host."""
    singles = [int(ipaddress.IPv4Address(a)) for a in (gateway, *host_addresses)]
    return sorted({LINK_LOCAL, LOOPBACK_RANGE, *((a, a) for a in singles)})


def carve(destination: Interval, reserved: Sequence[Interval]) -> list[Interval]:
    """`destination` less every reserved range it does not lie wholly inside."""
    low, high = destination
    if any(r_low <= low and high <= r_high for r_low, r_high in reserved):
        return [destination]  # the rule names a reserved destination: it meant it
    pieces = [destination]
    for r_low, r_high in reserved:
        cut: list[Interval] = []
        for p_low, p_high in pieces:
            below, above = (p_low, min(p_high, r_low - 1)), (max(p_low, r_high + 1), p_high)
            cut += [part for part in (below, above) if part[0] <= part[1]]
        pieces = cut
    return pieces


def _rule_boxes(rule: EgressRule, reserved: Sequence[Interval] = ()) -> tuple[str, list[Box]]:
    dests = [piece for d in rule.destination_intervals() for piece in carve(d, reserved)]
    if rule.protocol in ("tcp", "udp"):
        return rule.protocol, [(d, p) for d in dests for p in rule.port_intervals()]
    if rule.protocol == "icmp":
        types, codes = rule.icmp_intervals()
        return "icmp", [(d, types, codes) for d in dests]
    return "all", [(d,) for d in dests]


def group_boxes(group: SecurityGroup,
                reserved: Sequence[Interval] = ()) -> dict[tuple[str, bool], list[Box]]:
    """(kind, logged) -> disjoint boxes; logged allowances are kept apart so they log."""
    raw: dict[tuple[str, bool], list[Box]] = {(k, lg): [] for k in GROUP_KINDS
                                               for lg in (False, True)}
    for rule in group.rules:
        kind, boxes = _rule_boxes(rule, reserved)
        raw[(kind, rule.log)].extend(boxes)
    return {key: disjoint(boxes) for key, boxes in raw.items()}


def _element(kind: str, box: Box) -> Expr:
    address = _range(*box[0], as_ip=True)
    if kind == "all":
        return address
    return {"concat": [address, *(_range(*iv) for iv in box[1:])]}


def _group_match(kind: str, set_name: str) -> list[Expr]:
    daddr = _payload("ip", "daddr")
    if kind in ("tcp", "udp"):
        return [_match(_meta("l4proto"), kind),
                _match({"concat": [daddr, TH_DPORT]}, f"@{set_name}")]
    if kind == "icmp":
        key = {"concat": [daddr, _payload("icmp", "type"), _payload("icmp", "code")]}
        return [_match(_meta("l4proto"), "icmp"), _match(key, f"@{set_name}")]
    return [_match(daddr, f"@{set_name}")]


def group_commands(spec: TableSpec, scope_tag: str, group: SecurityGroup,
                   reserved: Sequence[Interval] = ()) -> list[Command]:
    """Install or replace a group in place: containers jumping to it see the change at once.
    `reserved` (see reserved_ranges) is carved out of every broader rule."""
    chain = group_chain(scope_tag, group.name)
    commands: list[Command] = [{"add": _obj(spec, "chain", chain)},
                               {"flush": _obj(spec, "chain", chain)}]
    rules: list[Command] = []
    for (kind, logged), boxes in sorted(group_boxes(group, reserved).items(),
                                        key=_logged_first):
        name = group_set(scope_tag, group.name, kind, logged)
        commands += [{"add": _obj(spec, "set", name, type=_SET_TYPES[kind], flags=["interval"])},
                     {"flush": _obj(spec, "set", name)}]
        if not boxes:
            continue
        commands.append({"add": {"element": {"family": "inet", "table": spec.table,
                                             "name": name,
                                             "elem": [_element(kind, b) for b in boxes]}}})
        verdict = [_log(spec, ALLOW_PREFIX + group.name), ACCEPT] if logged else [ACCEPT]
        rules.append(_rule(spec, chain, *_group_match(kind, name), *verdict))
    return commands + rules


def _logged_first(item: tuple[tuple[str, bool], list[Box]]) -> tuple[bool, int]:
    (kind, logged), _ = item
    return (not logged, GROUP_KINDS.index(kind))


def delete_group_commands(spec: TableSpec, scope_tag: str, name: str) -> list[Command]:
    commands: list[Command] = [{"delete": _obj(spec, "chain", group_chain(scope_tag, name))}]
    for kind in GROUP_KINDS:
        for logged in (False, True):
            set_name = group_set(scope_tag, name, kind, logged)
            commands.append({"delete": _obj(spec, "set", set_name)})
    return commands


def defaults_commands(spec: TableSpec, scope_tag: str, groups: Sequence[str]) -> list[Command]:
    """The scope's platform-default groups, rewritten atomically."""
    chain = defaults_chain(scope_tag)
    return [{"add": _obj(spec, "chain", chain)}, {"flush": _obj(spec, "chain", chain)},
            *(_rule(spec, chain, {"jump": {"target": group_chain(scope_tag, g)}})
              for g in groups)]


# -- containers ---------------------------------------------------------------------------

def container_rules(spec: TableSpec, address: str, scope_tag: str,
                    groups: Sequence[str]) -> list[Command]:
    """The container's egress chain body: policy, defaults, own groups, logged deny."""
    chain = container_chain(address)
    to_container = _match(_payload("ip", "daddr"), "@containers")
    not_container = _match(_payload("ip", "daddr"), "@containers", "!=")
    limit = {"limit": {"rate": spec.deny_log_per_second,
                       "burst": spec.deny_log_per_second * 2, "per": "second"}}
    return [
        {"add": _obj(spec, "chain", chain)},
        {"flush": _obj(spec, "chain", chain)},
        _rule(spec, chain, to_container, _match(_FLOW_KEY, "@c2c"), ACCEPT),
        _rule(spec, chain, not_container, {"jump": {"target": defaults_chain(scope_tag)}}),
        *(_rule(spec, chain, not_container, {"jump": {"target": group_chain(scope_tag, g)}})
          for g in groups),
        _rule(spec, chain, limit, _log(spec, DENY_PREFIX)),
        _rule(spec, chain, DROP),
    ]


def _element_cmd(verb: str, spec: TableSpec, name: str, elems: list[Expr]) -> Command:
    return {verb: {"element": {"family": "inet", "table": spec.table, "name": name,
                               "elem": elems}}}


def attach_commands(spec: TableSpec, address: str, scope_tag: str, groups: Sequence[str],
                    ports: Iterable[Published]) -> list[Command]:
    """Everything one container adds: its chain, its address, its published ports."""
    commands = container_rules(spec, address, scope_tag, groups)
    commands.append(_element_cmd("add", spec, "containers", [address]))
    commands.append(_element_cmd("add", spec, "egress_of",
                                 [[address, {"jump": {"target": container_chain(address)}}]]))
    commands += portmap_commands("add", spec, address, ports)
    return commands


def portmap_commands(verb: str, spec: TableSpec, address: str,
                     ports: Iterable[Published]) -> list[Command]:
    """Mappings added to or deleted from the portmap maps: those with a host address
    go to portmap_ip_*, keyed (host address . protocol . host port), the rest to
    portmap_*, keyed (protocol . host port)."""
    ports = list(ports)
    commands: list[Command] = []
    for maps, chosen in ((("portmap_addr", "portmap_port"),
                          [(p, h, c, []) for p, h, c, ip in ports if ip is None]),
                         (("portmap_ip_addr", "portmap_ip_port"),
                          [(p, h, c, [ip]) for p, h, c, ip in ports if ip is not None])):
        if not chosen:
            continue
        keys = [{"concat": [*ip, proto, host]} for proto, host, _, ip in chosen]
        if verb == "delete":  # deleting map elements names keys only
            commands += [_element_cmd("delete", spec, name, keys) for name in maps]
            continue
        inner = [port for _, _, port, _ in chosen]
        commands += [_element_cmd(verb, spec, maps[0], [[k, address] for k in keys]),
                     _element_cmd(verb, spec, maps[1],
                                  [[k, p] for k, p in zip(keys, inner, strict=True)])]
    return commands


def detach_commands(spec: TableSpec, address: str,
                    ports: Iterable[Published]) -> list[Command]:
    """Undo attach_commands: unhook the address first so the chain has no references."""
    return [
        _element_cmd("delete", spec, "egress_of", [address]),
        _element_cmd("delete", spec, "containers", [address]),
        *portmap_commands("delete", spec, address, ports),
        {"delete": _obj(spec, "chain", container_chain(address))},
    ]


def flow_element(source: str, destination: str, protocol: str, port: int) -> Expr:
    return {"concat": [source, destination, protocol, port]}


def flow_commands(verb: str, spec: TableSpec, flows: Sequence[Expr]) -> list[Command]:
    return [_element_cmd(verb, spec, "c2c", list(flows))] if flows else []
