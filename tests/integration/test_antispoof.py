"""Anti-spoofing and no implicit host access, on a real bridge with real containers.

A container with NET_RAW (allowed without any unsafe flag) can put any frame on its
eth0. The image has busybox's arping for ARP; for spoofed IPv4 the test writes the
frames itself through a packet socket opened inside the attacker's own network
namespace, which is the same thing the container's raw socket would put on the wire.
Every frame goes only to namespaces and addresses this test made (its own bridge, its own
outside namespace, the host's loopback)."""

import contextlib
import ipaddress
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.engine import Engine
from stockade.network import links
from stockade.spec import EgressRule
from tests.integration.netfixtures import (
    HttpServer,
    Outside,
    fetch,
    free_port,
    leftovers,
    network_engine,
    outside_namespace,
    run,
    start_web,
    unique,
    wait_http,
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


# -- frames ---------------------------------------------------------------------------------

def _checksum(data: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_frame(dst_mac: bytes, src_mac: bytes, src: str, dst: str, port: int,
              payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                         ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return dst_mac + src_mac + b"\x08\x00" + header + udp


def arp_request(src_mac: bytes, sender: str, target: str) -> bytes:
    body = (struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + src_mac
            + ipaddress.IPv4Address(sender).packed + bytes(6)
            + ipaddress.IPv4Address(target).packed)
    return b"\xff" * 6 + src_mac + b"\x08\x06" + body


def send_frames(namespace: Path, frames: list[bytes]) -> None:
    """Out of eth0 in `namespace`, as a NET_RAW process there would send them."""
    def send() -> None:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as raw:
            raw.bind(("eth0", 0))
            for frame in frames:
                raw.send(frame)

    links.in_netns(namespace, send)


def mac_of(namespace: Path | None, name: str) -> bytes:
    with links.netlink(namespace) as ipr:
        return bytes.fromhex(links.link_mac(ipr, name).replace(":", ""))


class UdpSink:
    """Collects datagrams on one address: a namespace's, or the host's loopback."""

    def __init__(self, address: str, port: int, netns: Path | None = None) -> None:
        def make() -> socket.socket:
            return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

        self.sock = links.in_netns(netns, make) if netns else make()
        self.sock.bind((address, port))
        self.sock.settimeout(0.2)

    def received(self, wait: float = 1.0) -> list[tuple[bytes, str]]:
        got = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                data, peer = self.sock.recvfrom(4096)
                got.append((data, peer[0]))
        return got

    def close(self) -> None:
        self.sock.close()


def netns_of(engine: Engine, ip: str) -> Path:
    return engine.config.network.netns_dir / f"stockade-{int(ipaddress.IPv4Address(ip)):08x}"


def neighbours(bridge: str) -> dict[str, tuple[str, str]]:
    """address -> (MAC, state) on the bridge."""
    out = subprocess.run(["ip", "-4", "neigh", "show", "dev", bridge], capture_output=True,
                         text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if "lladdr" in parts:
            found[parts[0]] = (parts[parts.index("lladdr") + 1], parts[-1])
    return found


def start_raw(engine: Engine, handle: str, groups: list[str] | None = None) -> str:
    engine.create(web_spec(handle, groups=groups).model_copy(
        update={"cap_add": ["CAP_NET_RAW"]}))
    engine.start(handle)
    wait_http(engine, handle)
    ip = engine.inspect(handle).ip
    assert ip is not None
    return ip


# -- tests ----------------------------------------------------------------------------------

def test_spoofed_ipv4_gets_nothing_the_neighbours_groups_allow(
        engine: Engine, outside: Outside) -> None:
    config = engine.config.network
    sink = UdpSink(outside.addr, 9999, outside.netns)
    try:
        engine.net.create_group("udp-out", [EgressRule(protocol="udp",
                                                       destinations=[outside.addr],
                                                       ports="9999")])
        attacker, victim = unique("raw"), unique("vic")
        ip_a = start_raw(engine, attacker)
        ip_v = start_web(engine, victim, groups=["udp-out"])
        gateway_mac = mac_of(None, config.bridge)
        mac_a = mac_of(netns_of(engine, ip_a), "eth0")
        mac_v = mac_of(netns_of(engine, ip_v), "eth0")

        # the victim's own frame is what its group allows: it arrives (masqueraded)
        send_frames(netns_of(engine, ip_v),
                    [udp_frame(gateway_mac, mac_v, ip_v, outside.addr, 9999, b"victim")])
        assert [data for data, _ in sink.received()] == [b"victim"]

        # the attacker speaks as the victim: its address, then its address and MAC too
        send_frames(netns_of(engine, ip_a), [
            udp_frame(gateway_mac, mac_a, ip_v, outside.addr, 9999, b"spoofed-ip"),
            udp_frame(gateway_mac, mac_v, ip_v, outside.addr, 9999, b"spoofed-ip-mac"),
            udp_frame(gateway_mac, mac_v, ip_a, outside.addr, 9999, b"spoofed-mac"),
        ])
        # and with its own identity it has no group that allows this at all
        send_frames(netns_of(engine, ip_a),
                    [udp_frame(gateway_mac, mac_a, ip_a, outside.addr, 9999, b"own")])
        assert sink.received() == []
    finally:
        sink.close()


def test_forged_arp_changes_nothing_on_the_host(engine: Engine) -> None:
    config = engine.config.network
    attacker, victim = unique("raw"), unique("vic")
    ip_a = start_raw(engine, attacker)
    ip_v = start_web(engine, victim)
    mac_a = mac_of(netns_of(engine, ip_a), "eth0")
    unused = str(config.pool.network_address + 200)
    gateway = str(config.gateway)
    before = neighbours(config.bridge)
    # pinned: both containers' entries are permanent on the host
    assert before[ip_a][1] == before[ip_v][1] == "PERMANENT"

    # from inside the NET_RAW container: busybox arping claiming the victim's address
    # (ip_nonlocal_bind only lets arping bind the address it claims; NET_RAW does the rest)
    links.in_netns(netns_of(engine, ip_a), lambda: links.write_sysctl(
        links.sysctl_path("net", "ipv4", "ip_nonlocal_bind"), "1"))
    for claim in (ip_v, unused):
        _, output = run(engine, attacker, ["arping", "-c", "2", "-w", "2", "-s", claim,
                                              "-I", "eth0", gateway], user="0")
        assert "Sent 2 probe" in output and "Received 0 response" in output, output
    # raw frames: requests to the gateway that would teach the host a sender
    send_frames(netns_of(engine, ip_a), [arp_request(mac_a, ip_v, gateway),
                                         arp_request(mac_a, unused, gateway)])
    time.sleep(0.5)
    after = neighbours(config.bridge)
    assert after[ip_v] == before[ip_v]
    assert unused not in after

    # inside, the gateway's entry is pinned too: ARP cannot move it
    with links.netlink(netns_of(engine, ip_v)) as ns:
        entries = [n for n in ns.get_neighbours(family=2)
                   if n.get_attr("NDA_DST") == gateway]
    assert entries and entries[0]["state"] == links.NUD_PERMANENT


def test_loopback_from_a_bridge_port_never_reaches_the_hosts_services(engine: Engine) -> None:
    config = engine.config.network
    engine.net.create_group("anything", [EgressRule(protocol="all",
                                                    destinations=["0.0.0.0/0"])])
    attacker = unique("raw")
    ip_a = start_raw(engine, attacker, groups=["anything"])
    gateway_mac = mac_of(None, config.bridge)
    mac_a = mac_of(netns_of(engine, ip_a), "eth0")
    port = free_port()
    sink = UdpSink("127.0.0.1", port)
    try:
        send_frames(netns_of(engine, ip_a), [
            udp_frame(gateway_mac, mac_a, ip_a, "127.0.0.1", port, b"to-loopback")])
        assert sink.received() == []
    finally:
        sink.close()


def test_broad_groups_leave_out_the_gateway_and_host_unless_named(
        engine: Engine, outside: Outside) -> None:
    config = engine.config.network
    gateway = str(config.gateway)
    engine.net.create_group("anything", [EgressRule(protocol="tcp",
                                                    destinations=["0.0.0.0/0"])])
    web = unique("w")
    start_web(engine, web, groups=["anything"])
    port = free_port()
    servers = [HttpServer(gateway, port, "gateway"),
               HttpServer(outside.host_addr, port, "host-address"),
               HttpServer(outside.addr, 8000, "outside", netns=outside.netns)]
    try:
        assert fetch(engine, web, outside.addr, 8000) == "outside"  # the group works
        assert fetch(engine, web, gateway, port, timeout=1) is None
        assert fetch(engine, web, outside.host_addr, port, timeout=1) is None
        engine.net.create_group("gateway", [EgressRule(protocol="tcp", destinations=[gateway],
                                                       ports=str(port))])
        engine.net.bind("gateway", web)
        assert fetch(engine, web, gateway, port) == "gateway"  # named: allowed
        assert fetch(engine, web, outside.host_addr, port, timeout=1) is None
    finally:
        for server in servers:
            server.close()
