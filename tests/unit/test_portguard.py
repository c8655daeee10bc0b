"""The port guard's classic BPF programs, run through the same semantics the kernel gives
them (the integration tests run them in the kernel): own frames pass, anything spoofed,
short, tagged or not IPv4/ARP is dropped; towards the container only marked packets."""

import ipaddress

from hypothesis import assume, given
from hypothesis import strategies as st

from stockade.network import portguard

PASS, DROP = portguard.TC_ACT_OK, portguard.TC_ACT_SHOT
macs = st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b))
addresses = st.integers(1, 2**32 - 2).map(ipaddress.IPv4Address)
GATEWAY_MAC = bytes.fromhex("020000000001")


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ipv4_frame(src_mac: str, src: ipaddress.IPv4Address, payload: bytes = b"") -> bytes:
    header = bytes([0x45, 0, 0, 20 + len(payload), 0, 0, 0x40, 0, 64, 17, 0, 0]) + \
        src.packed + ipaddress.IPv4Address("10.0.0.1").packed
    return GATEWAY_MAC + _mac(src_mac) + b"\x08\x00" + header + payload


def arp_frame(eth_src: str, sha: str, spa: ipaddress.IPv4Address, op: int = 1) -> bytes:
    body = (b"\x00\x01\x08\x00\x06\x04" + op.to_bytes(2, "big") + _mac(sha) + spa.packed
            + bytes(6) + ipaddress.IPv4Address("10.0.0.1").packed)
    return b"\xff" * 6 + _mac(eth_src) + b"\x08\x06" + body


@given(macs, addresses, st.binary(max_size=40))
def test_own_ipv4_and_arp_pass(mac: str, address: ipaddress.IPv4Address, payload: bytes) -> None:
    program = portguard.ingress_program(mac, address)
    assert portguard.run_program(program, ipv4_frame(mac, address, payload)) == PASS
    for op in (1, 2):
        assert portguard.run_program(program, arp_frame(mac, mac, address, op)) == PASS


@given(macs, addresses, macs, addresses)
def test_a_neighbours_address_or_mac_is_dropped(mac: str, address: ipaddress.IPv4Address,
                                               other_mac: str,
                                               other: ipaddress.IPv4Address) -> None:
    assume(mac != other_mac and address != other)
    program = portguard.ingress_program(mac, address)
    spoofed = [
        ipv4_frame(mac, other), ipv4_frame(other_mac, address), ipv4_frame(other_mac, other),
        arp_frame(mac, mac, other), arp_frame(mac, other_mac, address),
        arp_frame(other_mac, mac, address), arp_frame(other_mac, other_mac, other),
    ]
    assert all(portguard.run_program(program, frame) == DROP for frame in spoofed)


@given(macs, addresses, st.binary(max_size=80))
def test_other_protocols_and_short_frames_are_dropped(mac: str, address: ipaddress.IPv4Address,
                                                      tail: bytes) -> None:
    program = portguard.ingress_program(mac, address)
    own = ipv4_frame(mac, address)
    for ethertype in (b"\x86\xdd", b"\x81\x00", b"\x88\xa8", b"\x88\x8e"):
        assert portguard.run_program(program, own[:12] + ethertype + own[14:] + tail) == DROP
    for length in range(32):  # a load past the end would end the program with "pass"
        assert portguard.run_program(program, (own + tail)[:length]) == DROP


@given(st.integers(0, 2**32 - 1), st.integers(0, 31))
def test_towards_the_container_only_marked_packets_pass(mark: int, bit: int) -> None:
    program = portguard.egress_program(1 << bit)
    expected = PASS if mark & (1 << bit) else DROP
    assert portguard.run_program(program, b"", mark=mark) == expected


def test_bytecode_is_what_tc_reads() -> None:
    program = portguard.egress_program(0x20000000)
    text = portguard.bytecode(program)
    count, *insns = text.split(",")
    assert int(count) == len(program) == len(insns)
    assert all(len(insn.split()) == 4 for insn in insns)
