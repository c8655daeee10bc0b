"""Attach containers to the stockade network and keep the firewall in step with policy.

Order of an attach (any failure undoes all of it): lease an address and host ports,
make sure the bridge and table exist, make the namespace and veth pair, install the
security groups the container needs, then one nftables transaction hooking the
container's address in. Detach runs the same steps backwards and tolerates any of them
being missing; the last detach removes the bridge and the table."""

import contextlib
import errno
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Protocol

from stockade.errors import Conflict, InvalidSpec, NotFound, StockadeError
from stockade.network import files, links, nftjson, portguard
from stockade.network.config import NetworkConfig, scope_tag
from stockade.network.leases import HostLock, Lease, LeaseStore, PortLease
from stockade.network.nft import Nft, NftError
from stockade.spec import PortMapping
from stockade.spec.network import NetworkPolicy, SecurityGroup


class GroupSource(Protocol):
    """Where the engine keeps security groups; loaded only when nftables needs them."""

    def digest(self, name: str) -> str: ...

    def load(self, name: str) -> SecurityGroup: ...


@dataclass(frozen=True)
class AttachRequest:
    handle: str
    files_dir: Path
    ports: list[PortMapping] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    defaults: list[str] = field(default_factory=list)
    policies: list[NetworkPolicy] = field(default_factory=list)
    ping_gids: tuple[int, int] | None = None
    hostname: str | None = None  # named in /etc/hosts with the handle, when it differs


@dataclass(frozen=True)
class Attachment:
    """What a container got: its address, namespace, published ports and config files."""

    address: IPv4Address
    netns: Path
    ports: list[PortLease]
    hosts: Path
    resolv_conf: Path


@dataclass(frozen=True)
class PortState:
    """A wired container's port as the host sees it: the guard on it, its rules in the table."""

    port: str
    guarded: bool
    hooked: bool
    table: str


class NetworkManager:
    """One engine root's view of a (possibly shared) stockade network."""

    def __init__(self, config: NetworkConfig, scope: str) -> None:
        self.config = config
        self.scope = scope
        self.tag = scope_tag(scope)
        self.spec = nftjson.TableSpec(table=config.table, bridge=config.bridge,
                                      log_group=config.log_group,
                                      deny_log_per_second=config.deny_log_per_second)
        self.lock = HostLock(config.state_dir)
        self.leases = LeaseStore(config.state_dir)
        self.nft = Nft()

    def close(self) -> None:
        self.leases.close()

    # -- names derived from the address --------------------------------------------------

    def veth_name(self, address: IPv4Address) -> str:
        return f"{self.config.link_prefix}{int(address):08x}"

    def netns_path(self, address: IPv4Address) -> Path:
        return self.config.netns_dir / f"stockade-{int(address):08x}"

    # -- attach ------------------------------------------------------------------------------
    #
    # Two steps, because the namespace must belong to the container's user namespace (runc
    # exec and the sysfs mount both need that), and only `runc create` makes that one:
    # reserve() before create leases the address and writes /etc/hosts and resolv.conf for
    # the bundle; connect() after create wires the init's namespace and opens the firewall.

    def reserve(self, request: AttachRequest) -> Attachment:
        with self.lock.held():
            stale = self.leases.lease(self.scope, request.handle)
            if stale is not None:  # left by a crash; the engine has no such container now
                self._detach(stale)
            lease = self.leases.allocate(self.scope, request.handle,
                                         self.config.host_addresses())
            if lease is None:
                raise Conflict(f"address pool {self.config.pool} is exhausted")
            try:
                ports = [self._reserve_port(lease.address, m) for m in request.ports]
                return self._write_files(request, lease.address, ports)
            except BaseException:
                self._detach(lease)
                raise

    def connect(self, request: AttachRequest, pid: int, groups: GroupSource) -> None:
        """Wire the namespace of process `pid` (the container's init) to the bridge."""
        with self.lock.held():
            lease = self.leases.lease(self.scope, request.handle)
            if lease is None:
                raise NotFound(f"container {request.handle} has no address reserved")
            try:
                self._connect(lease, request, pid, groups)
            except BaseException:
                self._detach(lease)
                raise

    def _connect(self, lease: Lease, request: AttachRequest, pid: int,
                 groups: GroupSource) -> None:
        ports = self.leases.ports(lease.address)
        bridge, gateway_mac = self._ensure_base()
        namespace = self.netns_path(lease.address)
        veth = self.veth_name(lease.address)
        links.hold_netns(namespace, pid)
        with links.netlink() as ipr:
            links.create_veth(ipr, veth, bridge, namespace)
        mac = links.configure_inside(namespace, lease.address, self.config.gateway, gateway_mac)
        # the guard goes on before the port comes up, so no frame ever passes unguarded
        portguard.install(veth, mac, lease.address, self.spec.mark)
        with links.netlink() as ipr:
            links.pin_neighbour(ipr, bridge, lease.address, mac)
            links.set_up(ipr, veth)
        links.harden_inside(namespace, request.ping_gids)
        self._ensure_defaults(request.defaults, groups)
        for name in request.groups:
            self._ensure_group(name, groups)
        commands = nftjson.attach_commands(self.spec, str(lease.address), self.tag,
                                           request.groups, [p.entry() for p in ports])
        commands += nftjson.flow_commands("add", self.spec,
                                          self._flows(request.handle, lease.address,
                                                      request.policies))
        self.nft.apply(commands)
        self.leases.mark_installed(lease.address)

    def _write_files(self, request: AttachRequest, address: IPv4Address,
                     ports: list[PortLease]) -> Attachment:
        request.files_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
        hosts = request.files_dir / "hosts"
        resolv = request.files_dir / "resolv.conf"
        hosts.write_text(files.hosts_file(request.handle, address, request.hostname))
        servers = list(self.config.dns_servers) if self.config.dns_servers is not None \
            else files.host_nameservers()
        resolv.write_text(files.resolv_conf(servers))
        for path in (hosts, resolv):
            path.chmod(0o644)
        return Attachment(address, self.netns_path(address), ports, hosts, resolv)

    def _flows(self, handle: str, address: IPv4Address,
               policies: Iterable[NetworkPolicy]) -> list[Any]:
        """c2c elements for policies naming this container whose peer is attached."""
        flows = []
        for policy in policies:
            if policy.source == handle:
                peer = self.leases.lease(self.scope, policy.destination)
                if peer is not None and peer.installed:
                    flows.append(nftjson.flow_element(str(address), str(peer.address),
                                                      policy.protocol, policy.port))
            if policy.destination == handle:
                peer = self.leases.lease(self.scope, policy.source)
                if peer is not None and peer.installed:
                    flows.append(nftjson.flow_element(str(peer.address), str(address),
                                                      policy.protocol, policy.port))
        return flows

    # -- host-wide pieces -------------------------------------------------------------------

    def _ensure_base(self) -> tuple[int, str]:
        """The bridge, its sysctls and the table; returns the bridge's index and MAC."""
        cfg = self.config
        with links.netlink() as ipr:
            links.check_pool_free(ipr, cfg.pool, cfg.bridge)
            index = links.ensure_bridge(ipr, cfg.bridge, cfg.gateway, cfg.pool.prefixlen)
            mac = links.pin_bridge_mac(ipr, index)
            uplinks = cfg.uplinks if cfg.uplinks is not None else links.default_route_links(ipr)
        # routing from the bridge, DNAT of published ports to loopback clients
        self._set_sysctl(("net", "ipv4", "conf", cfg.bridge, "forwarding"), "1", save=False)
        self._set_sysctl(("net", "ipv4", "conf", cfg.bridge, "route_localnet"), "1", save=False)
        for name in uplinks:  # replies and published-port traffic arrive on these
            self._set_sysctl(("net", "ipv4", "conf", name, "forwarding"), "1", save=True)
        if not self.nft.table_exists(cfg.table):
            self._recreate_table()
        else:
            self.nft.apply(nftjson.fixed_chain_commands(self.spec))
        return index, mac

    def _recreate_table(self) -> None:
        """A fresh table. Groups and defaults went with the old one; wired containers stay
        marked installed, so the watch (firewall_missing, restore) finds their rules gone."""
        wired = [lease.address for lease in self.leases.all() if lease.installed]
        self.leases.forget_table()
        for address in wired:
            self.leases.mark_installed(address)
        self.nft.apply(nftjson.table_commands(self.spec))

    def _set_sysctl(self, parts: tuple[str, ...], value: str, save: bool) -> None:
        path = links.sysctl_path(*parts)
        current = links.read_sysctl(path)
        if current is None:
            raise StockadeError(f"cannot read {path}: is the interface there?")
        if current != value:
            if save:
                self.leases.save_sysctl(str(path), current)
            links.write_sysctl(path, value)

    def _teardown_if_idle(self) -> None:
        if self.leases.count() > 0:
            return
        if self.nft.table_exists(self.config.table):
            with contextlib.suppress(NftError):
                self.nft.apply(nftjson.delete_table(self.spec))
        self.leases.forget_table()
        with links.netlink() as ipr:
            links.delete_link(ipr, self.config.bridge)
        for path, value in self.leases.saved_sysctls().items():
            with contextlib.suppress(OSError):
                links.write_sysctl(Path(path), value)
            self.leases.forget_sysctl(path)

    # -- groups -----------------------------------------------------------------------------

    def _reserved(self) -> tuple[list[tuple[int, int]], str]:
        """The ranges groups reach only by naming them, and a tag that changes with them
        (recorded with each installed group, so a new host address reinstalls it)."""
        with links.netlink() as ipr:
            host = sorted({str(m.get_attr("IFA_ADDRESS")) for m in ipr.get_addr(family=2)})
        ranges = nftjson.reserved_ranges(str(self.config.gateway), host)
        return ranges, scope_tag(repr(ranges))

    def _ensure_group(self, name: str, groups: GroupSource) -> None:
        reserved, tag = self._reserved()
        digest = f"{groups.digest(name)}/{tag}"
        if self.leases.group_digest(self.scope, name) != digest:
            self.nft.apply(nftjson.group_commands(self.spec, self.tag, groups.load(name),
                                                  reserved))
            self.leases.set_group(self.scope, name, digest)

    def _ensure_defaults(self, names: list[str], groups: GroupSource) -> None:
        for name in names:
            self._ensure_group(name, groups)
        if self.leases.defaults(self.scope) != names:
            self.nft.apply(nftjson.defaults_commands(self.spec, self.tag, names))
            self.leases.set_defaults(self.scope, names)

    def update_group(self, group: SecurityGroup) -> None:
        """A changed group takes effect at once in every container that uses it."""
        with self.lock.held():
            if self.leases.group_digest(self.scope, group.name) is None:
                return  # not in use: installed on first use
            if not self.nft.table_exists(self.config.table):
                self.leases.forget_table()
                return
            reserved, tag = self._reserved()
            self.nft.apply(nftjson.group_commands(self.spec, self.tag, group, reserved))
            self.leases.set_group(self.scope, group.name, f"{group.digest}/{tag}")

    def remove_group(self, name: str) -> None:
        """Drop a group nobody references any more (the engine checks bindings)."""
        with self.lock.held():
            if self.leases.group_digest(self.scope, name) is None:
                return
            if self.nft.table_exists(self.config.table):
                self.nft.apply(nftjson.delete_group_commands(self.spec, self.tag, name))
            self.leases.set_group(self.scope, name, None)

    def set_defaults(self, names: list[str], groups: GroupSource) -> None:
        """Rebind the platform defaults of this scope; running containers follow."""
        with self.lock.held():
            if not self.leases.all(self.scope) or not self.nft.table_exists(self.config.table):
                return  # installed with the first container
            self._ensure_defaults(names, groups)

    def set_container_groups(self, handle: str, names: list[str], groups: GroupSource) -> None:
        """Rebind one running container's own groups."""
        with self.lock.held():
            lease = self.leases.lease(self.scope, handle)
            if lease is None or not lease.installed:
                return
            for name in names:
                self._ensure_group(name, groups)
            self.nft.apply(nftjson.container_rules(self.spec, str(lease.address), self.tag,
                                                   names))

    # -- container-to-container policy --------------------------------------------------------

    def apply_policy(self, policy: NetworkPolicy, allow: bool) -> None:
        with self.lock.held():
            source = self.leases.lease(self.scope, policy.source)
            target = self.leases.lease(self.scope, policy.destination)
            if source is None or target is None or not (source.installed and target.installed):
                return  # added when both are attached
            element = nftjson.flow_element(str(source.address), str(target.address),
                                           policy.protocol, policy.port)
            present = element in self.nft.set_elements(self.config.table, "c2c")
            if allow and not present:
                self.nft.apply(nftjson.flow_commands("add", self.spec, [element]))
            elif not allow and present:
                self.nft.apply(nftjson.flow_commands("delete", self.spec, [element]))

    # -- published ports ----------------------------------------------------------------------

    def _reserve_port(self, address: IPv4Address, mapping: PortMapping) -> PortLease:
        """Lease a host port; taken when any published port overlaps it (same protocol and
        port, and an address in common: a mapping on every address shares each one) or a
        host service holds it on that address."""
        proto, host_ip = mapping.protocol, mapping.host_ip
        if mapping.host_port:
            wanted = PortLease(proto, mapping.host_port, address, mapping.container_port,
                               host_ip)
            if self.leases.port_taken(proto, mapping.host_port, host_ip) or \
                    not _bindable(proto, mapping.host_port, host_ip):
                raise Conflict(f"host port {wanted.where()} is already in use")
            port = mapping.host_port
        else:
            port = self._free_port(proto, host_ip)
        lease = PortLease(proto, port, address, mapping.container_port, host_ip)
        self.leases.add_port(lease)
        return lease

    def _free_port(self, proto: str, host_ip: IPv4Address | None) -> int:
        low, high = self.config.port_range
        for port in range(low, high + 1):
            if not self.leases.port_taken(proto, port, host_ip) and \
                    _bindable(proto, port, host_ip):
                return port
        where = f" on {host_ip}" if host_ip is not None else ""
        raise Conflict(f"no free host port in {low}-{high}{where}")

    def publish(self, handle: str, mapping: PortMapping) -> PortLease:
        """Add a port mapping to an attached container (net-in)."""
        with self.lock.held():
            lease = self.leases.lease(self.scope, handle)
            if lease is None or not lease.installed:
                raise NotFound(f"container {handle} has no network")
            port = self._reserve_port(lease.address, mapping)
            try:
                self.nft.apply(nftjson.portmap_commands("add", self.spec, str(lease.address),
                                                        [port.entry()]))
            except BaseException:
                self.leases.release_port(port)
                raise
            return port

    # -- the firewall watch ----------------------------------------------------------------------

    def firewall_missing(self) -> list[str]:
        """Handles of this scope's wired containers whose rules are not in the table (all
        of them when the table is gone); cheap enough for every watcher tick."""
        wired = [lease for lease in self.leases.all(self.scope) if lease.installed]
        if not wired:
            return []
        present = self.nft.query({"list": {"set": {"family": "inet", "table": self.config.table,
                                                   "name": "containers"}}})
        if present is None:
            return [lease.handle for lease in wired]
        hooked = {str(e) for item in present if "set" in item
                  for e in item["set"].get("elem", [])}
        return [lease.handle for lease in wired if str(lease.address) not in hooked]

    def restore(self, requests: list[AttachRequest], groups: GroupSource) -> list[str]:
        """Put back the table and the rules of this scope's containers that lost them (an
        `nft flush ruleset`, a restart of the nftables service). Until then the port guards
        pass nothing to them. `requests` carry each container's groups and policies.
        Returns the handles restored."""
        with self.lock.held():
            missing = set(self.firewall_missing())
            if not missing:
                return []
            if not self.nft.table_exists(self.config.table):
                self._recreate_table()
            wanted = {r.handle: r for r in requests}
            self._ensure_defaults(requests[0].defaults if requests else [], groups)
            restored = []
            for lease in self.leases.all(self.scope):
                request = wanted.get(lease.handle)
                if lease.handle not in missing or request is None:
                    continue  # no longer the engine's: cleanup detaches it
                for name in request.groups:
                    self._ensure_group(name, groups)
                ports = [p.entry() for p in self.leases.ports(lease.address)]
                commands = nftjson.attach_commands(self.spec, str(lease.address), self.tag,
                                                   request.groups, ports)
                commands += nftjson.flow_commands(
                    "add", self.spec, self._flows(lease.handle, lease.address,
                                                  request.policies))
                self.nft.apply(commands)
                restored.append(lease.handle)
            return restored

    def port_state(self, handle: str) -> "PortState | None":
        """What verify reports as the firewall row: None when the container is not wired."""
        lease = self.leases.lease(self.scope, handle)
        if lease is None or not lease.installed:
            return None
        port = self.veth_name(lease.address)
        return PortState(port=port, guarded=portguard.installed(port),
                         hooked=handle not in self.firewall_missing(), table=self.config.table)

    # -- lookups -------------------------------------------------------------------------------

    def lookup(self, handle: str) -> tuple[IPv4Address, list[PortLease]] | None:
        lease = self.leases.lease(self.scope, handle)
        if lease is None:
            return None
        return lease.address, self.leases.ports(lease.address)

    def counters(self, handle: str) -> tuple[int, int] | None:
        """(bytes the container sent, bytes it received), from the host end of its veth."""
        lease = self.leases.lease(self.scope, handle)
        if lease is None:
            return None
        stats = Path("/sys/class/net") / self.veth_name(lease.address) / "statistics"
        try:
            return (int((stats / "rx_bytes").read_text()), int((stats / "tx_bytes").read_text()))
        except OSError:
            return None

    def free_addresses(self) -> int:
        return len(self.config.host_addresses()) - self.leases.count()

    # -- detach and cleanup ----------------------------------------------------------------------

    def detach(self, handle: str) -> None:
        """Remove the container's rules, ports, links and lease; safe to repeat."""
        with self.lock.held():
            lease = self.leases.lease(self.scope, handle)
            if lease is not None:
                self._detach(lease)
            self._teardown_if_idle()

    def _detach(self, lease: Lease) -> None:
        address = lease.address
        if self.nft.table_exists(self.config.table):
            self._unhook(address)
        with links.netlink() as ipr:
            links.delete_link(ipr, self.veth_name(address))
            links.unpin_neighbour(ipr, self.config.bridge, address)
        links.remove_netns(self.netns_path(address))
        self.leases.release(address)

    def _unhook(self, address: IPv4Address) -> None:
        ports = [p.entry() for p in self.leases.ports(address)]
        flows = [e for e in self.nft.set_elements(self.config.table, "c2c")
                 if str(address) in e.get("concat", [])[:2]]
        commands = nftjson.flow_commands("delete", self.spec, flows)
        commands += nftjson.detach_commands(self.spec, str(address), ports)
        try:
            self.nft.apply(commands)
        except NftError:  # half-attached: remove whatever pieces exist, one by one
            for command in commands:
                with contextlib.suppress(NftError):
                    self.nft.apply([command])

    def cleanup(self, live_handles: set[str]) -> list[str]:
        """Detach this scope's containers the engine no longer knows, remove links and
        namespaces of ours that no lease explains, and the bridge and table when idle."""
        removed = []
        with self.lock.held():
            for lease in self.leases.all(self.scope):
                if lease.handle not in live_handles:
                    self._detach(lease)
                    removed.append(lease.handle)
            self._remove_strays()
            self._teardown_if_idle()
        return removed

    def _remove_strays(self) -> None:
        leased = {int(lease.address) for lease in self.leases.all()}
        prefix = self.config.link_prefix
        with links.netlink() as ipr:
            for name in links.link_names(ipr):
                address = _hex_address(name.removeprefix(prefix)) if name.startswith(prefix) \
                    else None
                if address is not None and address in self.config.pool and \
                        int(address) not in leased:
                    links.delete_link(ipr, name)
        if self.config.netns_dir.is_dir():
            for path in self.config.netns_dir.glob("stockade-*"):
                address = _hex_address(path.name.removeprefix("stockade-"))
                if address is not None and address in self.config.pool and \
                        int(address) not in leased:
                    links.remove_netns(path)


def _hex_address(text: str) -> IPv4Address | None:
    if len(text) != 8:
        return None
    try:
        return IPv4Address(int(text, 16))
    except ValueError:
        return None


def _bindable(proto: str, port: int, host_ip: IPv4Address | None = None) -> bool:
    """Whether a host service already holds the port on that address (on every address
    when None; a service on any one of them counts): we would hijack its traffic. An
    address this host does not own is refused, as docker does."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    where = "0.0.0.0" if host_ip is None else str(host_ip)
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((where, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            if exc.errno == errno.EADDRNOTAVAIL:
                raise InvalidSpec(f"host address {where} is not an address of this host") \
                    from None
            raise
    return True
