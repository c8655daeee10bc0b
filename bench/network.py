"""Network figures: setup cost against rules bound, connection cost, TCP throughput.

    python -m bench.network [--quick]

Runs on a private network (own bridge, pool, table) and an "outside" namespace it makes,
sends traffic only to those, and removes all of it at the end."""

import argparse
import contextlib
import ctypes
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from stockade.engine import Engine, EngineConfig
from stockade.host import probe
from stockade.network import AttachRequest, NetworkConfig, NetworkManager, links
from stockade.runtime.runc import Stdio
from stockade.spec import ContainerSpec, EgressRule, ProcessSpec, SecurityGroup

CLONE_NEWNET = 0x40000000
OUT_PORT = 5201


class Groups:
    """An in-memory GroupSource."""

    def __init__(self, *groups: SecurityGroup) -> None:
        self.groups = {g.name: g for g in groups}
        self.digests = {g.name: g.digest for g in groups}  # the engine stores it likewise

    def digest(self, name: str) -> str:
        return self.digests[name]

    def load(self, name: str) -> SecurityGroup:
        return self.groups[name]


def rules(count: int, allow: str) -> list[EgressRule]:
    """`count` rules: one allowing the outside server, the rest distinct /32s and ports."""
    base = int(ipaddress.IPv4Address("172.31.0.0"))  # never sent to: only rules
    made = [EgressRule(protocol="tcp", destinations=[allow], ports=str(OUT_PORT))]
    for i in range(count - 1):
        made.append(EgressRule(protocol="tcp", destinations=[str(ipaddress.IPv4Address(base + i))],
                               ports=f"{1000 + i % 5000},{8000 + i % 1000}"))
    return made


@contextlib.contextmanager
def outside() -> Iterator[tuple[Path, str, str, str]]:
    """(netns, host interface, host address, outside address)."""
    tag = secrets.token_hex(3)
    ns, host_if = Path(f"/run/netns/stkbench-{tag}"), f"stkbo{tag}"
    host_addr, addr = "10.252.251.1", "10.252.251.2"
    try:
        links.create_netns(ns)
        with links.netlink() as ipr:
            ipr.link("add", ifname=host_if, kind="veth", peer={"ifname": "eth0",
                                                               "net_ns_fd": str(ns)})
            index = links.index_of(ipr, host_if)
            ipr.addr("add", index=index, address=host_addr, prefixlen=24)
            ipr.link("set", index=index, state="up")
        with links.netlink(ns) as inner:
            eth0 = links.index_of(inner, "eth0")
            inner.link("set", index=links.index_of(inner, "lo"), state="up")
            inner.addr("add", index=eth0, address=addr, prefixlen=24)
            inner.link("set", index=eth0, state="up")
            inner.route("add", dst="0.0.0.0/0", gateway=host_addr, oif=eth0)
        yield ns, host_if, host_addr, addr
    finally:
        with links.netlink() as ipr:
            links.delete_link(ipr, host_if)
        links.remove_netns(ns)


def config(root: Path, uplink: str) -> NetworkConfig:
    return NetworkConfig(bridge=f"stkbb{secrets.token_hex(2)}",
                         pool=ipaddress.IPv4Network("10.253.252.0/24"),
                         table=f"stockade_bench{secrets.token_hex(2)}",
                         state_dir=root / "netstate", link_prefix="stkbc", uplinks=(uplink,),
                         log_group=4998)


def netns_holder() -> int:
    """A sleeping child in a new network namespace, standing in for a container init."""
    pid = os.fork()
    if pid == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) != 0:
            os._exit(1)
        time.sleep(120)
        os._exit(0)
    time.sleep(0.01)
    return pid


def setup_times(root: Path, uplink: str, count: int, samples: int,
                server_addr: str, network: NetworkConfig | None = None) -> dict[str, float]:
    """Median reserve+connect time with a `count`-rule default group bound."""
    group = SecurityGroup(name="bench", rules=rules(count, server_addr))
    groups = Groups(group)
    manager = NetworkManager(network or config(root, uplink), scope=str(root / f"scope-{count}"))
    times, first = [], 0.0
    holders: list[int] = []
    try:
        for i in range(samples + 1):
            pid = netns_holder()
            holders.append(pid)
            request = AttachRequest(handle=f"b{i}", files_dir=root / f"files-{count}-{i}",
                                    defaults=["bench"])
            start = time.perf_counter()
            manager.reserve(request)
            manager.connect(request, pid, groups)
            elapsed = time.perf_counter() - start
            if i == 0:
                first = elapsed  # the first container also installs the group's sets
            else:
                times.append(elapsed)
        connect = connect_time(manager, "b1", server_addr)
    finally:
        for i in range(samples + 1):
            manager.detach(f"b{i}")
        for pid in holders:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        manager.close()
    return {"first": first, "median": statistics.median(times), "connect": connect}


def connect_time(manager: NetworkManager, handle: str, server_addr: str,
                 rounds: int = 200) -> float:
    """Median time of a new TCP connection from the container's namespace (every one is
    evaluated by the egress rules; established traffic never is)."""
    found = manager.lookup(handle)
    assert found is not None
    namespace = manager.netns_path(found[0])

    def measure() -> float:
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            with socket.create_connection((server_addr, OUT_PORT), timeout=2):
                samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    return links.in_netns(namespace, measure)


class Sink:
    """Accepts connections and discards bytes; records each connection's rate."""

    def __init__(self, address: str, port: int, netns: Path | None) -> None:
        def make() -> socket.socket:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)

        self.sock = links.in_netns(netns, make) if netns else make()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(64)
        self.rates: list[float] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                total, started = 0, None
                while chunk := conn.recv(1 << 20):
                    if started is None:
                        started = time.perf_counter()
                    total += len(chunk)
                if started is not None and total > (1 << 20):
                    self.rates.append(total / (time.perf_counter() - started))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.sock.close()
        self.thread.join(timeout=5)


SEND = "dd if=/dev/zero bs=65536 count={blocks} 2>/dev/null | nc -w 5 {addr} {port}"


def throughput(root: Path, uplink: str, ns: Path, server_addr: str, blocks: int) -> tuple[
        float, float]:
    """(container -> outside namespace, host loopback) in bytes per second, busybox both."""
    sink = Sink(server_addr, OUT_PORT, ns)
    engine = Engine(EngineConfig(root=root / "engine", network=config(root, uplink)), probe())
    handle = f"bench-{secrets.token_hex(3)}"
    try:
        engine.net.create_group("out", [EgressRule(protocol="tcp", destinations=[server_addr],
                                                   ports=str(OUT_PORT))])
        engine.create(ContainerSpec(handle=handle, process=ProcessSpec(args=["sleep", "300"]),
                                    security_groups=["out"]))
        engine.start(handle)
        with open(os.devnull, "rb") as null, open(os.devnull, "wb") as out:
            command = SEND.format(blocks=blocks, addr=server_addr, port=OUT_PORT)
            engine.exec(handle, ["sh", "-c", command], Stdio(null.fileno(), out.fileno(),
                                                             out.fileno()))
        time.sleep(0.2)
        container_rate = max(sink.rates) if sink.rates else 0.0
    finally:
        with contextlib.suppress(Exception):
            engine.destroy(handle)
        engine.close()
        sink.close()
    loop = Sink("127.0.0.1", 0, None)
    port = loop.sock.getsockname()[1]
    try:
        subprocess.run(["busybox", "sh", "-c", SEND.format(blocks=blocks, addr="127.0.0.1",
                                                           port=port)], check=False)
        time.sleep(0.2)
        loop_rate = max(loop.rates) if loop.rates else 0.0
    finally:
        loop.close()
    return container_rate, loop_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples, less data")
    args = parser.parse_args()
    samples, blocks = (5, 4096) if args.quick else (15, 16384)
    root = Path(tempfile.mkdtemp(prefix="stockade-bench-net-"))
    root.chmod(0o711)
    try:
        with outside() as (ns, host_if, _, server_addr):
            sink = Sink(server_addr, OUT_PORT, ns)  # for connection timing
            results = {}
            try:
                for count in (1, 1000, 10000):
                    results[count] = setup_times(root, host_if, count, samples, server_addr)
            finally:
                sink.close()
            report_setup(results)
            container, loopback = throughput(root, host_if, ns, server_addr, blocks)
            print(f"\nTCP throughput (busybox dd | nc, {blocks * 64 // 1024} MiB)")
            print(f"  container -> test namespace  {container / 1e9 * 8:7.2f} Gbit/s")
            print(f"  host loopback                {loopback / 1e9 * 8:7.2f} Gbit/s")
            if loopback:
                print(f"  ratio                        {container / loopback:7.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report_setup(results: dict[int, dict[str, float]]) -> None:
    print("container network setup (reserve + connect: namespace, veth, addresses, nft)")
    print(f"{'rules bound':>12} {'first (ms)':>11} {'median (ms)':>12} {'new conn (us)':>14}")
    for count, r in results.items():
        print(f"{count:>12} {r['first'] * 1e3:>11.1f} {r['median'] * 1e3:>12.1f} "
              f"{r['connect'] * 1e6:>14.1f}")
    base, top = results[1], results[10000]
    print(f"ratio 10,000/1: setup {top['median'] / base['median']:.2f}, "
          f"new connection {top['connect'] / base['connect']:.2f} "
          "(first container of a table also installs the group)")


if __name__ == "__main__":
    main()
