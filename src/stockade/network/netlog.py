"""Turn the firewall's log packets (nflog) into JSON-lines records, one file per engine root.

The table's rules log with a prefix (`stk:A:<group>` for a logged allowance, `stk:D` for a
denial, rate-limited per container) to an nflog group. This reader binds that group,
parses each logged packet's IPv4 header, finds the container by source address in the
lease store and appends a record to `<root>/network-log.jsonl`. Packets logged while no
reader is bound are not recorded; the daemon is meant to run one for its lifetime."""

import contextlib
import errno
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from stockade.errors import Conflict
from stockade.linux import private
from stockade.network import nftjson
from stockade.network.config import NetworkConfig
from stockade.network.leases import LeaseStore

NETLINK_NETFILTER = 12
_NFNL_SUBSYS_ULOG = 4
_MSG_PACKET = (_NFNL_SUBSYS_ULOG << 8) | 0
_MSG_CONFIG = (_NFNL_SUBSYS_ULOG << 8) | 1
_NLMSG_ERROR = 2
_NLM_F_REQUEST = 1
_NLM_F_ACK = 4
_CFG_CMD = 1
_CFG_MODE = 2
_CMD_BIND = 1
_CMD_UNBIND = 2
_COPY_PACKET = 2
_COPY_RANGE = 128  # IPv4 and transport headers are all we read
_ATTR_PAYLOAD = 9
_ATTR_PREFIX = 10
_ATTR_TYPE_MASK = 0x3FFF
_PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp"}


@dataclass(frozen=True)
class LoggedPacket:
    prefix: str
    payload: bytes


def _attr(kind: int, data: bytes) -> bytes:
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + b"\0" * (-length % 4)


def config_message(group: int, command: int, seq: int) -> bytes:
    """NFULNL_MSG_CONFIG: bind (or unbind) `group` and ask for packet headers."""
    body = struct.pack("=BB", socket.AF_UNSPEC, 0) + struct.pack("!H", group)
    body += _attr(_CFG_CMD, struct.pack("=B", command))
    if command == _CMD_BIND:
        body += _attr(_CFG_MODE, struct.pack("!IBB", _COPY_RANGE, _COPY_PACKET, 0))
    header = struct.pack("=LHHLL", 16 + len(body), _MSG_CONFIG, _NLM_F_REQUEST | _NLM_F_ACK,
                         seq, 0)
    return header + body


def parse_messages(data: bytes) -> Iterator[LoggedPacket | int]:
    """Logged packets, and netlink error codes (0 is an ack) from one datagram."""
    offset = 0
    while offset + 16 <= len(data):
        length, kind, _, _, _ = struct.unpack_from("=LHHLL", data, offset)
        if length < 16:
            return
        body = data[offset + 16: offset + length]
        if kind == _NLMSG_ERROR:
            yield -struct.unpack_from("=i", body)[0]
        elif kind == _MSG_PACKET:
            yield _packet(body[4:])
        offset += (length + 3) & ~3


def _packet(attrs: bytes) -> LoggedPacket:
    prefix, payload = "", b""
    offset = 0
    while offset + 4 <= len(attrs):
        length, kind = struct.unpack_from("=HH", attrs, offset)
        if length < 4:
            break
        value = attrs[offset + 4: offset + length]
        if kind & _ATTR_TYPE_MASK == _ATTR_PREFIX:
            prefix = value.rstrip(b"\0").decode(errors="replace")
        elif kind & _ATTR_TYPE_MASK == _ATTR_PAYLOAD:
            payload = value
        offset += (length + 3) & ~3
    return LoggedPacket(prefix, payload)


def describe(packet: LoggedPacket) -> dict[str, Any] | None:
    """Verdict, group, addresses, protocol and port of one of our logged IPv4 packets."""
    if not packet.prefix.startswith(("stk:A:", nftjson.DENY_PREFIX)) or \
            len(packet.payload) < 20 or packet.payload[0] >> 4 != 4:
        return None
    data = packet.payload
    header = (data[0] & 0xF) * 4
    number = data[9]
    record: dict[str, Any] = {
        "verdict": "allowed" if packet.prefix.startswith(nftjson.ALLOW_PREFIX) else "denied",
        "group": packet.prefix.removeprefix(nftjson.ALLOW_PREFIX)
        if packet.prefix.startswith(nftjson.ALLOW_PREFIX) else None,
        "source": str(IPv4Address(data[12:16])),
        "destination": str(IPv4Address(data[16:20])),
        "protocol": _PROTOCOLS.get(number, str(number)),
        "port": None,
    }
    if number in (6, 17) and len(data) >= header + 4:
        record["port"] = struct.unpack_from("!H", data, header + 2)[0]
    elif number == 1 and len(data) >= header + 2:
        record["icmp_type"], record["icmp_code"] = data[header], data[header + 1]
    return record


class NetworkLogReader:
    """Binds the network's nflog group and writes records until `stop` is set."""

    def __init__(self, config: NetworkConfig,
                 listener: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.config = config
        self._listener = listener  # the daemon audits denied egress as it is written
        self.leases = LeaseStore(config.state_dir)
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        self.sock.settimeout(0.2)
        self._bind()

    def _bind(self) -> None:
        self.sock.send(config_message(self.config.log_group, _CMD_BIND, 1))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                for item in parse_messages(self.sock.recv(65536)):
                    if isinstance(item, int):
                        if item == errno.EBUSY:
                            raise Conflict(f"another reader holds nflog group "
                                           f"{self.config.log_group}")
                        if item:
                            raise OSError(item, f"nflog bind failed: {errno.errorcode[item]}")
                        return
        raise TimeoutError("no answer binding the nflog group")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.send(config_message(self.config.log_group, _CMD_UNBIND, 2))
        self.sock.close()
        self.leases.close()

    def run(self, stop: threading.Event) -> int:
        """Record until `stop`; returns how many records were written."""
        written = 0
        while not stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # the kernel dropped some: go on
                    continue
                raise
            for item in parse_messages(data):
                if isinstance(item, LoggedPacket) and self.record(item):
                    written += 1
        return written

    def record(self, packet: LoggedPacket) -> bool:
        entry = describe(packet)
        if entry is None:
            return False
        lease = self.leases.by_address(IPv4Address(entry["source"]))
        if lease is None:
            return False
        entry = {"time": time.time(), "handle": lease.handle, **entry}
        fd = private.open_append(Path(lease.scope) / "network-log.jsonl")
        try:
            os.write(fd, (json.dumps(entry) + "\n").encode())
        finally:
            os.close(fd)
        if self._listener is not None:
            self._listener({**entry, "scope": lease.scope})
        return True
