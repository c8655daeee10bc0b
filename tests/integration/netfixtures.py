"""Test networks, an "outside" namespace, tiny servers and clients; everything is removed
even when a test fails. Traffic only ever goes to addresses these fixtures created."""

import contextlib
import ipaddress
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stockade.engine import Engine, EngineConfig
from stockade.host import probe
from stockade.network import NetworkConfig, links
from stockade.runtime.runc import Stdio
from stockade.spec import ContainerSpec, PortMapping, ProcessSpec

NETNS_DIR = Path("/run/netns")


def _free_octet(prefix: str) -> int:
    """A /24 under `prefix` that no interface on the host uses yet."""
    with links.netlink() as ipr:
        used = [ipaddress.IPv4Interface(f"{m.get_attr('IFA_ADDRESS')}/{m['prefixlen']}").network
                for m in ipr.get_addr(family=2)]
    for _ in range(200):
        octet = secrets.randbelow(250) + 2
        net = ipaddress.IPv4Network(f"{prefix}.{octet}.0/24")
        if not any(net.overlaps(u) for u in used):
            return octet
    raise RuntimeError("no free test subnet")


@dataclass
class Outside:
    """A namespace standing in for a client or server outside the host."""

    netns: Path
    host_if: str
    host_addr: str  # the host's address facing it
    addr: str  # its own address


@contextlib.contextmanager
def outside_namespace() -> Iterator[Outside]:
    tag = secrets.token_hex(3)
    octet = _free_octet("10.252")
    out = Outside(NETNS_DIR / f"stktest-{tag}", f"stko{tag}", f"10.252.{octet}.1",
                  f"10.252.{octet}.2")
    try:
        links.create_netns(out.netns)
        with links.netlink() as ipr:
            ipr.link("add", ifname=out.host_if, kind="veth",
                     peer={"ifname": "eth0", "net_ns_fd": str(out.netns)})
            index = links.index_of(ipr, out.host_if)
            ipr.addr("add", index=index, address=out.host_addr, prefixlen=24)
            ipr.link("set", index=index, state="up")
        with links.netlink(out.netns) as ns:
            eth0 = links.index_of(ns, "eth0")
            ns.link("set", index=links.index_of(ns, "lo"), state="up")
            ns.addr("add", index=eth0, address=out.addr, prefixlen=24)
            ns.link("set", index=eth0, state="up")
            ns.route("add", dst="0.0.0.0/0", gateway=out.host_addr, oif=eth0)
        yield out
    finally:
        with links.netlink() as ipr:
            links.delete_link(ipr, out.host_if)
        links.remove_netns(out.netns)


def network_config(root: Path, uplinks: tuple[str, ...]) -> NetworkConfig:
    tag = secrets.token_hex(2)
    octet = _free_octet("10.253")
    return NetworkConfig(
        bridge=f"stkb{tag}", pool=ipaddress.IPv4Network(f"10.253.{octet}.0/24"),
        table=f"stockade_t{tag}", state_dir=root / "netstate", link_prefix="stkt",
        uplinks=uplinks, log_group=5000 + secrets.randbelow(1000),
        port_range=(42000 + secrets.randbelow(200) * 10, 44999),
    )


@contextlib.contextmanager
def network_engine(uplinks: tuple[str, ...] = ()) -> Iterator[Engine]:
    root = Path(tempfile.mkdtemp(prefix="stockade-test-net-"))
    root.chmod(0o711)  # the container's root user must traverse to its rootfs
    engine = Engine(EngineConfig(root=root / "root", network=network_config(root, uplinks)),
                    probe())
    try:
        yield engine
    finally:
        for info in engine.list():
            with contextlib.suppress(Exception):
                engine.destroy(info.handle)
        with contextlib.suppress(Exception):
            engine.cleanup()
        engine.close()
        shutil.rmtree(root, ignore_errors=True)


def leftovers(config: NetworkConfig) -> list[str]:
    """Anything of this test network still on the host."""
    found = []
    with links.netlink() as ipr:
        for name in links.link_names(ipr):
            if name == config.bridge or name.startswith(config.link_prefix):
                found.append(f"link {name}")
    from stockade.network.nft import Nft

    if Nft().table_exists(config.table):
        found.append(f"table {config.table}")
    for path in NETNS_DIR.glob("stockade-*") if NETNS_DIR.is_dir() else []:
        with contextlib.suppress(ValueError):
            if ipaddress.IPv4Address(int(path.name[9:], 16)) in config.pool:
                found.append(f"netns {path}")
    return found


# -- containers ------------------------------------------------------------------------------

def web_spec(handle: str, publish: list[PortMapping] | None = None,
             groups: list[str] | None = None) -> ContainerSpec:
    """busybox httpd on 8080 answering `hello-<handle>`."""
    script = (f"mkdir -p /tmp/www && echo hello-{handle} > /tmp/www/index.html && "
              "exec httpd -f -p 8080 -h /tmp/www")
    return ContainerSpec(handle=handle, process=ProcessSpec(args=["sh", "-c", script]),
                         ports=publish or [], security_groups=groups or [],
                         listen_ports="8080")


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def run(engine: Engine, handle: str, args: list[str],
        user: str | None = None) -> tuple[int, str]:
    """Exec in the container; exit code and combined output."""
    with tempfile.TemporaryFile() as out, open(os.devnull, "rb") as devnull:
        code = engine.exec(handle, args, Stdio(devnull.fileno(), out.fileno(), out.fileno()),
                           user=user)
        out.seek(0)
        return code, out.read().decode(errors="replace")


def fetch(engine: Engine, handle: str, address: str, port: int, timeout: int = 2) -> str | None:
    """HTTP GET from inside a container; the body, or None when it could not connect.
    (busybox nc: the static busybox's wget crashes in its resolver.)"""
    script = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w {timeout} {address} {port}"
    code, output = run(engine, handle, ["timeout", str(timeout + 2), "sh", "-c", script])
    if code != 0 or "\r\n\r\n" not in output:
        return None
    return output.split("\r\n\r\n", 1)[1].strip()


def wait_http(engine: Engine, handle: str, port: int = 8080) -> None:
    deadline = time.monotonic() + 10
    while fetch(engine, handle, "127.0.0.1", port, 1) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{handle} never served on {port}")
        time.sleep(0.1)


def start_web(engine: Engine, handle: str, **kwargs: object) -> str:
    """Create and start a web container; its address."""
    engine.create(web_spec(handle, **kwargs))  # type: ignore[arg-type]
    engine.start(handle)
    wait_http(engine, handle)
    ip = engine.inspect(handle).ip
    assert ip is not None
    return ip


# -- servers and clients on the host side ------------------------------------------------------

class HttpServer:
    """Answers every connection with a fixed HTTP response, in a namespace or on the host."""

    def __init__(self, address: str, port: int, body: str, netns: Path | None = None) -> None:
        def make() -> socket.socket:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)

        self.sock = links.in_netns(netns, make) if netns else make()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.body = body
        self.hits = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                                 + self.body.encode() + b"\n")
                self.hits += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


def http_get(address: str, port: int, netns: Path | None = None,
             timeout: float = 2) -> str | None:
    """A GET from the host or from a namespace; the body, or None when refused/timed out."""
    def make() -> socket.socket:
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    sock = links.in_netns(netns, make) if netns else make()
    with sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        except OSError:
            return None
    return data.split(b"\r\n\r\n", 1)[-1].decode().strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


