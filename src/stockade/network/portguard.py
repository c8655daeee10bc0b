"""The guard on each container's bridge port: two classic BPF programs that tc runs
(cls_bpf, direct action) on the host end of the container's veth.

They live outside nftables on purpose: `nft flush ruleset`, or a restart of the
distribution's nftables service, removes Stockade's table but cannot touch them.
- ingress (frames the container sends): only IPv4 from the container's own MAC and
  address, and ARP whose sender is that MAC and address; anything else is dropped, so a
  container with NET_RAW cannot speak as a neighbour, forge ARP or send IPv6 or VLANs.
- egress (frames towards the container): only packets carrying `mark`, which Stockade's
  table stamps on everything it lets through to the bridge. Without the table nothing
  reaches a container at all, so no connection to the gateway, a neighbour or the
  outside completes: the port fails closed until the daemon puts the table back.
  ARP does not pass nftables, so both sides pin their neighbour entries instead.

This kernel (like many) has no gact, flower, matchall or fw classifier, so the
programs are classic BPF written out here; cls_bpf takes them as bytecode.

The program builders are pure; `install` runs tc."""

import shutil
import subprocess
from collections.abc import Sequence
from ipaddress import IPv4Address

from stockade.errors import StockadeError

TC_ACT_OK = 0
TC_ACT_SHOT = 2

# classic BPF opcodes (linux/bpf_common.h)
_LD_W_ABS = 0x20
_LD_H_ABS = 0x28
_LD_LEN = 0x80
_JGE_K = 0x35
_JEQ_K = 0x15
_JSET_K = 0x45
_RET_K = 0x06
_SKF_AD_MARK = 0xFFFFF000 + 20  # SKF_AD_OFF + SKF_AD_MARK: the skb's mark

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
_MIN_FRAME = 32  # the furthest load below ends at byte 32 (the ARP sender address)

Insn = tuple[int, int, int, int]
# an unassembled instruction: (opcode, jump-if-true label, jump-if-false label, k)
_Line = tuple[int, str | None, str | None, int]


class PortGuardError(StockadeError):
    """tc refused to put the guard on a container's port."""


def _assemble(lines: Sequence[_Line | str]) -> list[Insn]:
    """Resolve labels (plain strings mark the next instruction) into relative jumps."""
    labels: dict[str, int] = {}
    code: list[_Line] = []
    for line in lines:
        if isinstance(line, str):
            labels[line] = len(code)
        else:
            code.append(line)
    out: list[Insn] = []
    for index, (op, true, false, k) in enumerate(code):
        jt = labels[true] - index - 1 if true else 0
        jf = labels[false] - index - 1 if false else 0
        if not (0 <= jt <= 255 and 0 <= jf <= 255):
            raise ValueError("a classic BPF jump must go forward by at most 255")
        out.append((op, jt, jf, k))
    return out


def _mac_words(mac: str) -> tuple[int, int]:
    raw = bytes.fromhex(mac.replace(":", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {mac}")
    return int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:], "big")


def ingress_program(mac: str, address: IPv4Address) -> list[Insn]:
    """Pass IPv4 from (mac, address) and ARP whose sender is (mac, address); drop the rest.
    Offsets count from the Ethernet header, where cls_bpf starts on both hooks."""
    hi, lo = _mac_words(mac)
    ip = int(address)
    return _assemble([
        # a load past the end ends a classic program with 0, which tc reads as "pass":
        # frames too short for every load below never get that far
        (_LD_LEN, None, None, 0), (_JGE_K, "src_hi", "drop", _MIN_FRAME),
        "src_hi", (_LD_W_ABS, None, None, 6), (_JEQ_K, "src_lo", "drop", hi),
        "src_lo", (_LD_H_ABS, None, None, 10), (_JEQ_K, "type", "drop", lo),
        "type", (_LD_H_ABS, None, None, 12), (_JEQ_K, "ipv4", "not_ip", ETH_P_IP),
        "not_ip", (_JEQ_K, "arp", "drop", ETH_P_ARP),
        "ipv4", (_LD_W_ABS, None, None, 14 + 12), (_JEQ_K, "pass", "drop", ip),
        # Ethernet hardware, IPv4 protocol, 6- and 4-byte addresses, then the sender's
        "arp", (_LD_H_ABS, None, None, 14), (_JEQ_K, "ptype", "drop", 1),
        "ptype", (_LD_H_ABS, None, None, 16), (_JEQ_K, "lens", "drop", ETH_P_IP),
        "lens", (_LD_H_ABS, None, None, 18), (_JEQ_K, "sha", "drop", 0x0604),
        "sha", (_LD_W_ABS, None, None, 22), (_JEQ_K, "sha_lo", "drop", hi),
        "sha_lo", (_LD_H_ABS, None, None, 26), (_JEQ_K, "spa", "drop", lo),
        "spa", (_LD_W_ABS, None, None, 28), (_JEQ_K, "pass", "drop", ip),
        "pass", (_RET_K, None, None, TC_ACT_OK),
        "drop", (_RET_K, None, None, TC_ACT_SHOT),
    ])


def egress_program(mark: int) -> list[Insn]:
    """Pass what carries every bit of `mark`; drop the rest."""
    if not 0 < mark <= 0xFFFFFFFF:
        raise ValueError("the firewall mark must be a non-zero 32-bit value")
    return _assemble([
        (_LD_W_ABS, None, None, _SKF_AD_MARK), (_JSET_K, "pass", "drop", mark),
        "pass", (_RET_K, None, None, TC_ACT_OK),
        "drop", (_RET_K, None, None, TC_ACT_SHOT),
    ])


def run_program(program: Sequence[Insn], frame: bytes, mark: int = 0) -> int:
    """Interpret the subset of classic BPF these programs use; for tests and checks."""
    pc, acc = 0, 0
    while True:
        op, jt, jf, k = program[pc]
        if op == _RET_K:
            return k
        if op == _LD_LEN:
            acc = len(frame)
            pc += 1
            continue
        if op in (_LD_W_ABS, _LD_H_ABS):
            size = 4 if op == _LD_W_ABS else 2
            if k == _SKF_AD_MARK:
                acc = mark
            elif k + size > len(frame):
                return 0  # as the kernel does: a load past the end returns 0
            else:
                acc = int.from_bytes(frame[k:k + size], "big")
            pc += 1
        elif op in (_JEQ_K, _JSET_K, _JGE_K):
            taken = {_JEQ_K: acc == k, _JSET_K: bool(acc & k), _JGE_K: acc >= k}[op]
            pc += 1 + (jt if taken else jf)
        else:
            raise ValueError(f"opcode {op:#x} is not interpreted here")


def bytecode(program: Sequence[Insn]) -> str:
    """The text form tc's `bytecode` argument reads."""
    return ",".join([str(len(program)), *(f"{op} {jt} {jf} {k}" for op, jt, jf, k in program)])


def install(link: str, mac: str, address: IPv4Address, mark: int) -> None:
    """Put both programs on `link` (the host end of the container's veth). They go away
    with the link, so there is nothing to remove separately."""
    tc = shutil.which("tc")
    if tc is None:
        raise PortGuardError("tc (iproute2) is not installed: it is needed to guard "
                             "container ports")
    steps = [
        ["qdisc", "replace", "dev", link, "clsact"],
        ["filter", "replace", "dev", link, "ingress", "pref", "10", "protocol", "all",
         "handle", "1", "bpf", "da", "bytecode", bytecode(ingress_program(mac, address))],
        ["filter", "replace", "dev", link, "egress", "pref", "10", "protocol", "all",
         "handle", "1", "bpf", "da", "bytecode", bytecode(egress_program(mark))],
    ]
    for step in steps:
        done = subprocess.run([tc, *step], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            detail = (done.stderr.strip().splitlines() or ["no error text"])[0]
            raise PortGuardError(f"cannot guard port {link}: tc {' '.join(step[:2])}: "
                                 f"{detail}")


def installed(link: str) -> bool:
    """Whether both programs are on `link`."""
    tc = shutil.which("tc")
    if tc is None:
        return False
    found = []
    for hook in ("ingress", "egress"):
        done = subprocess.run([tc, "filter", "show", "dev", link, hook], capture_output=True,
                              text=True, check=False)
        found.append(done.returncode == 0 and "direct-action" in done.stdout)
    return all(found)
