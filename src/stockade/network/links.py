"""Links, addresses, routes and namespaces through netlink (pyroute2), and sysctls."""

import contextlib
import ctypes
import errno
import os
import threading
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any, TypeVar

from pyroute2 import IPRoute, NetlinkError, netns

from stockade.errors import Conflict, StockadeError

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_SCOPE_LINK = 253
_EXISTS = (errno.EEXIST,)
_GONE = (errno.ENODEV, errno.ENOENT, errno.ESRCH, errno.EADDRNOTAVAIL)


class LinkError(StockadeError):
    """The kernel refused a link, address or route change."""


@contextlib.contextmanager
def netlink(namespace: Path | None = None) -> Iterator[Any]:
    """An rtnetlink socket in the host namespace or in the namespace at `namespace`."""
    ipr = IPRoute() if namespace is None else IPRoute(netns=str(namespace), flags=0)
    try:
        yield ipr
    finally:
        ipr.close()


def index_of(ipr: Any, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


# -- sysctls ------------------------------------------------------------------------------

def sysctl_path(*parts: str) -> Path:
    return Path("/proc/sys", *parts)


def read_sysctl(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def write_sysctl(path: Path, value: str) -> None:
    path.write_text(value + "\n")


def in_netns(namespace: Path, work: Callable[[], T]) -> T:
    """Run `work` on a thread that has joined `namespace`; /proc/sys/net then shows that
    namespace's settings. Other threads keep the host's namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    outcome: dict[str, Any] = {}

    def runner() -> None:
        try:
            fd = os.open(namespace, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns failed", str(namespace))
            finally:
                os.close(fd)
            outcome["value"] = work()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=runner, name="stockade-netns")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    result: T = outcome["value"]
    return result


# -- host side -------------------------------------------------------------------------------

def check_pool_free(ipr: Any, pool: IPv4Network, bridge: str) -> None:
    """Refuse a pool that overlaps an address already on another interface."""
    bridge_index = index_of(ipr, bridge)
    for msg in ipr.get_addr(family=2):
        if msg["index"] == bridge_index:
            continue
        iface = IPv4Interface(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
        if iface.network.overlaps(pool):
            raise Conflict(f"address pool {pool} overlaps {iface} on interface "
                           f"{msg['index']}; choose another pool")


def ensure_bridge(ipr: Any, name: str, gateway: IPv4Address, prefixlen: int) -> int:
    """The bridge with the gateway address, up; created when missing."""
    index = index_of(ipr, name)
    if index is None:
        ipr.link("add", ifname=name, kind="bridge")
        index = index_of(ipr, name)
        if index is None:
            raise LinkError(f"bridge {name} vanished after creation")
    with contextlib.suppress(NetlinkError):  # already there after a crash: fine
        ipr.addr("add", index=index, address=str(gateway), prefixlen=prefixlen)
    ipr.link("set", index=index, state="up")
    return index


_NET_ADDR_SET = 3
NUD_PERMANENT = 0x80


def pin_bridge_mac(ipr: Any, index: int) -> str:
    """The bridge's MAC, made fixed: a bridge otherwise takes the lowest MAC of its ports,
    which would break the gateway entry pinned in every container."""
    link = ipr.get_links(index)[0]
    mac = str(link.get_attr("IFLA_ADDRESS"))
    name = link.get_attr("IFLA_IFNAME")
    assign = read_sysctl(Path("/sys/class/net", str(name), "addr_assign_type"))
    if assign != str(_NET_ADDR_SET):
        ipr.link("set", index=index, address=mac)
    return mac


def link_mac(ipr: Any, name: str) -> str:
    index = index_of(ipr, name)
    if index is None:
        raise LinkError(f"link {name} is missing")
    return str(ipr.get_links(index)[0].get_attr("IFLA_ADDRESS"))


def pin_neighbour(ipr: Any, index: int, address: IPv4Address, mac: str) -> None:
    """A permanent neighbour entry: ARP can neither change nor has to refresh it."""
    ipr.neigh("replace", dst=str(address), lladdr=mac, ifindex=index, state=NUD_PERMANENT)


def unpin_neighbour(ipr: Any, bridge: str, address: IPv4Address) -> None:
    """Remove a pinned entry; a missing bridge or entry is fine."""
    index = index_of(ipr, bridge)
    if index is None:
        return
    try:
        ipr.neigh("del", dst=str(address), ifindex=index)
    except NetlinkError as exc:
        if exc.code not in _GONE:
            raise


def delete_link(ipr: Any, name: str) -> None:
    """Remove a link; one that is already gone is fine."""
    index = index_of(ipr, name)
    if index is None:
        return
    try:
        ipr.link("del", index=index)
    except NetlinkError as exc:
        if exc.code not in _GONE:
            raise


def default_route_links(ipr: Any) -> list[str]:
    names = []
    for route in ipr.get_routes(family=2):
        if route["dst_len"] == 0 and route.get_attr("RTA_OIF") is not None:
            link = ipr.get_links(route.get_attr("RTA_OIF"))
            if link:
                names.append(str(link[0].get_attr("IFLA_IFNAME")))
    return sorted(set(names))


def link_names(ipr: Any) -> list[str]:
    return [str(link.get_attr("IFLA_IFNAME")) for link in ipr.get_links()]


# -- namespaces -----------------------------------------------------------------------------

def create_netns(path: Path) -> None:
    """A new network namespace kept alive by a bind mount at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    netns.create(str(path))


def hold_netns(path: Path, pid: int) -> None:
    """Bind-mount the network namespace of `pid` at `path`, so links and settings can be
    addressed by path and the namespace outlives no one: it goes when we unmount it and
    the container's processes are gone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    netns.attach(str(path), pid)


def remove_netns(path: Path) -> None:
    """Unmount and remove; safe when the namespace was never made or is already gone."""
    libc = ctypes.CDLL(None, use_errno=True)
    mnt_detach = 2
    libc.umount2(str(path).encode(), mnt_detach)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# -- the container's link ---------------------------------------------------------------------

def create_veth(ipr: Any, host_name: str, bridge_index: int, namespace: Path) -> None:
    """A veth pair: `host_name` on the bridge, `eth0` created straight in the namespace.
    The host end stays down: it goes up once its port guard is on (`set_up`)."""
    ipr.link("add", ifname=host_name, kind="veth",
             peer={"ifname": "eth0", "net_ns_fd": str(namespace)})
    index = index_of(ipr, host_name)
    if index is None:
        raise LinkError(f"veth {host_name} vanished after creation")
    ipr.link("set", index=index, master=bridge_index)
    # isolated ports cannot talk to each other at layer 2: container to container
    # traffic must be routed through the host, where the firewall sees it
    ipr.brport("set", index=index, isolated=1)


def set_up(ipr: Any, name: str) -> None:
    index = index_of(ipr, name)
    if index is None:
        raise LinkError(f"link {name} is missing")
    ipr.link("set", index=index, state="up")


def configure_inside(namespace: Path, address: IPv4Address, gateway: IPv4Address,
                     gateway_mac: str) -> str:
    """eth0 gets a /32, so every packet, even to a neighbour, goes via the gateway, whose
    MAC is pinned (the port guard lets no ARP reply through). Returns eth0's MAC."""
    with netlink(namespace) as ns:
        eth0 = index_of(ns, "eth0")
        loopback = index_of(ns, "lo")
        if eth0 is None or loopback is None:
            raise LinkError("the container namespace has no eth0")
        ns.link("set", index=loopback, state="up")
        ns.addr("add", index=eth0, address=str(address), prefixlen=32)
        ns.link("set", index=eth0, state="up")
        ns.route("add", dst=f"{gateway}/32", oif=eth0, scope=_SCOPE_LINK)
        ns.route("add", dst="0.0.0.0/0", gateway=str(gateway), oif=eth0)
        pin_neighbour(ns, eth0, gateway, gateway_mac)
        return link_mac(ns, "eth0")


def harden_inside(namespace: Path, ping_gids: tuple[int, int] | None) -> None:
    """No IPv6 (the firewall speaks IPv4), no redirects (they would bypass the host),
    any port bindable, and unprivileged ICMP echo for the container's own group ids."""
    settings: dict[tuple[str, ...], str] = {
        ("net", "ipv6", "conf", "all", "disable_ipv6"): "1",
        ("net", "ipv6", "conf", "default", "disable_ipv6"): "1",
        ("net", "ipv4", "conf", "all", "accept_redirects"): "0",
        ("net", "ipv4", "conf", "default", "accept_redirects"): "0",
        ("net", "ipv4", "conf", "eth0", "accept_redirects"): "0",
        # the namespace belongs to the host's user namespace, so container root has no
        # CAP_NET_BIND_SERVICE there; low ports are ports like any other inside
        ("net", "ipv4", "ip_unprivileged_port_start"): "0",
    }
    if ping_gids is not None:
        settings[("net", "ipv4", "ping_group_range")] = f"{ping_gids[0]} {ping_gids[1]}"

    def apply() -> None:
        for parts, value in settings.items():
            path = sysctl_path(*parts)
            if path.exists():
                write_sysctl(path, value)

    in_netns(namespace, apply)
