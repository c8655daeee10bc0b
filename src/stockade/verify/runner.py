"""Run the probe inside a container, read the host's side, and judge both."""

import contextlib
import itertools
import os
import secrets
import socket
import tempfile
from collections.abc import Iterator

from stockade.engine import Engine
from stockade.errors import StockadeError
from stockade.policy.landlock import PROBE_PATH
from stockade.runtime.runc import Stdio
from stockade.spec import ContainerInfo, ContainerSpec, ProcessSpec, parse_ports
from stockade.verify import hostside
from stockade.verify.evaluate import evaluate
from stockade.verify.expect import Expectations, expectations
from stockade.verify.facts import DiskFacts, FirewallFacts, HostFacts, NetworkFacts, parse_probe
from stockade.verify.model import Evidence
from stockade.wire.verify import Report

# Root inside is the worst case an attacker reaches; every layer must hold even for it.
PROBE_USER = "0:0"
DEFAULT_COMMAND = ["sleep", "3600"]


def probe_args(expect: Expectations, targets: tuple[str, ...]) -> list[str]:
    """The probe's command line: what to check comes from policy, not from the C side."""
    args = [PROBE_PATH]
    for flag, values in (("-m", expect.masked_paths), ("-r", expect.readonly_paths),
                         ("-s", expect.platform_sockets), ("-c", targets),
                         ("-w", expect.writable_dirs)):
        for value in values:
            args += [flag, value]
    if expect.landlock_network:
        args += ["-p", str(expect.unlisted_port)]
    return args


def run_probe(engine: Engine, handle: str, args: list[str]) -> tuple[str, str, int]:
    """(stdout, stderr, exit code) of the probe, exec'd through the init as container root."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        stdin = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        try:
            code = engine.exec(handle, args, Stdio(stdin, out.fileno(), err.fileno()),
                               user=PROBE_USER)
        finally:
            os.close(stdin)
        out.seek(0)
        err.seek(0)
        return out.read().decode(errors="replace"), err.read().decode(errors="replace"), code


@contextlib.contextmanager
def egress_targets(engine: Engine, info: ContainerInfo,
                   ports: tuple[int, ...] = (0,)) -> Iterator[tuple[str, ...]]:
    """Destinations default-deny egress must refuse, each with a listener behind it.

    Verify opens a TCP listener of its own on the bridge gateway, a host address the
    container routes through, so a refused or timed-out connect can only mean the
    firewall stopped it; a connect that succeeds is egress left open. Nothing is sent
    and no address outside the platform is touched. A container without an address (no
    network layer) has nothing to try: the egress row then proves the empty namespace."""
    if info.ip is None:
        yield ()
        return
    gateway = str(engine.config.network.gateway)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        if not _listen_on_one(listener, gateway, ports):
            yield ()  # the gateway is not up: the egress row says "not proven"
            return
        yield (f"{gateway}:{listener.getsockname()[1]}",)


def _listen_on_one(listener: socket.socket, address: str, ports: tuple[int, ...]) -> bool:
    for port in ports:
        try:
            listener.bind((address, port))
        except OSError:
            continue
        listener.listen(1)
        return True
    return False


def firewall_ports(expect: Expectations) -> tuple[int, ...]:
    """Ports for the egress listener. Where Landlock limits connect, one it lets through,
    so the connect reaches the firewall and the firewall is what gets proven (any free
    port last: Landlock then refuses first, which the egress row also accepts)."""
    if not expect.connect_ports:
        return (0,)
    ports = (port for low, high in parse_ports(expect.connect_ports)
             for port in range(low, high + 1))
    return (*itertools.islice(ports, 16), 0)


def disk_facts(info: ContainerInfo) -> DiskFacts | None:
    """The quota the volumes layer reports, or None where the writable layer has none."""
    if info.disk is None:
        return None
    return DiskFacts(backend=info.disk.backend, limit_bytes=info.disk.limit_bytes,
                     used_bytes=info.disk.used_bytes)


def firewall_facts(engine: Engine, handle: str) -> FirewallFacts | None:
    state = engine.port_state(handle)
    if state is None:
        return None
    return FirewallFacts(port=state.port, guarded=state.guarded, hooked=state.hooked,
                         table=state.table)


def _host_facts(info: ContainerInfo, pid: int, targets: tuple[str, ...],
                firewall: FirewallFacts | None) -> HostFacts:
    return HostFacts(
        host_namespaces=hostside.host_namespaces(), container_namespaces=hostside.namespaces(pid),
        init_status=hostside.process_status(pid),
        init_fds=hostside.descriptors_above_stderr(pid), cgroup=hostside.cgroup_facts(pid),
        disk=disk_facts(info),
        network=NetworkFacts(ip=info.ip, egress_targets=targets, firewall=firewall))


def verify_container(engine: Engine, handle: str, strict: bool = False,
                     extra_sockets: tuple[str, ...] = ()) -> Report:
    """Check a running container from inside and outside; the report says what holds."""
    info = engine.inspect(handle)
    if info.state != "running" or info.pid is None:
        raise StockadeError(f"container {handle} is {info.state}: verify needs it running")
    expect = expectations(engine.state.get(handle).spec, engine.host, engine.config.id_base,
                          extra_sockets)
    with egress_targets(engine, info, firewall_ports(expect)) as targets:
        # before the probe: the pid is surely ours
        host = _host_facts(info, info.pid, targets, firewall_facts(engine, handle))
        out, err, code = run_probe(engine, handle, probe_args(expect, targets))
    host = host.model_copy(update={"probe_exit": code, "probe_stderr": err})
    checks = evaluate(Evidence(probe=parse_probe(out), host=host, expect=expect))
    return Report.build(handle, checks, list(expect.unsafe), strict, list(expect.cap_add))


def verify_new(engine: Engine, strict: bool = False,
               extra_sockets: tuple[str, ...] = ()) -> Report:
    """Create a default container, verify it, and destroy it whatever happens."""
    spec = ContainerSpec(handle=f"verify-{secrets.token_hex(4)}",
                         process=ProcessSpec(args=DEFAULT_COMMAND))
    engine.create(spec)
    try:
        engine.start(spec.handle)
        return verify_container(engine, spec.handle, strict, extra_sockets)
    finally:
        engine.destroy(spec.handle)
