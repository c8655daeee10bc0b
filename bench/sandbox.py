"""A private Stockade instance per suite, and the proof that it left nothing behind.

Every object a sandbox makes carries its tag (`stkbench-<suite>-<hex>`) or lives under its
directory: the engine root, the cgroup parent, a bridge, a link prefix, an nftables table
and an address pool no interface on the host uses. Closing it destroys the containers
through the engine, then sweeps by those names whatever a crash or Ctrl-C left, then
checks again and reports anything still there."""

import contextlib
import functools
import ipaddress
import os
import secrets
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from stockade.engine import Engine, EngineConfig
from stockade.host import HostFeatures, probe
from stockade.linux import mounts
from stockade.network import NetworkConfig, links
from stockade.network.nft import Nft

CGROUP_ROOT = Path("/sys/fs/cgroup")
POOLS = ipaddress.IPv4Network("10.251.0.0/16")  # bench pools; the tests use 10.252-10.254
SRC = Path(__file__).resolve().parent.parent / "src"
_taken: set[ipaddress.IPv4Network] = set()


@functools.cache
def host() -> HostFeatures:
    """Probed once per bench run, as the CLI does once per invocation."""
    return probe()


def _free_pool() -> ipaddress.IPv4Network:
    """A /23 (room for 250 containers) that no interface and no other sandbox uses."""
    with links.netlink() as ipr:
        used = [ipaddress.IPv4Interface(f"{m.get_attr('IFA_ADDRESS')}/{m['prefixlen']}").network
                for m in ipr.get_addr(family=2)]
    candidates = list(POOLS.subnets(new_prefix=23))
    for _ in range(200):
        pool = candidates[secrets.randbelow(len(candidates))]
        if pool not in _taken and not any(pool.overlaps(u) for u in used):
            _taken.add(pool)
            return pool
    raise RuntimeError("no free address pool for the benchmark network")


class Sandbox:
    """One private root with its own network; see the module docstring."""

    def __init__(self, label: str) -> None:
        hexa = secrets.token_hex(3)
        self.tag = f"stkbench-{label}-{hexa}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.tag}-", dir="/tmp"))
        self.dir.chmod(0o711)  # the containers' root user must traverse to their rootfs
        self.root = self.dir / "root"
        letters = "".join(secrets.choice(string.ascii_lowercase) for _ in range(3))
        self.network = NetworkConfig(
            bridge=f"stkb{hexa}", pool=_free_pool(), table=f"stockade_bench_{hexa}",
            state_dir=self.dir / "netstate", link_prefix=f"stkb{letters}", uplinks=(),
            log_group=4900 + secrets.randbelow(90),
            port_range=(46000 + secrets.randbelow(300) * 10, 49999))
        (self.dir / "network.json").write_text(self.network.model_dump_json())
        self.engines: list[Engine] = []

    @property
    def cgroup_parent(self) -> str:
        return self.tag

    def config(self, **fields: Any) -> EngineConfig:
        chosen = {"root": self.root, "cgroup_parent": self.cgroup_parent,
                  "network": self.network, **fields}
        return EngineConfig.model_validate(chosen)

    def engine(self, **fields: Any) -> Engine:
        engine = Engine(self.config(**fields), host())
        self.engines.append(engine)
        return engine

    def env(self) -> dict[str, str]:
        """For stockade subprocesses: this sandbox, and the code under test first."""
        path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
        return {**os.environ, "STOCKADE_ROOT": str(self.root),
                "STOCKADE_CGROUP_PARENT": self.cgroup_parent,
                "STOCKADE_NETWORK_CONFIG": str(self.dir / "network.json"),
                "STOCKADE_SOCKET": str(self.dir / "stockade.sock"), "PYTHONPATH": path}

    # -- closing --------------------------------------------------------------------------

    def close(self) -> list[str]:
        """Destroy and sweep everything; returns what could not be removed."""
        with _no_interrupts():
            self._destroy_containers()
            for step in (self._kill_processes, self._unmount, self._remove_network,
                         self._remove_cgroups, self._detach_loops):
                with contextlib.suppress(Exception):
                    step()
            shutil.rmtree(self.dir, ignore_errors=True)
            return self.leftovers()

    def _destroy_containers(self) -> None:
        engines = list(self.engines)
        opened = {e.config.root for e in engines}
        if self.root not in opened and (self.root / "state.db").exists():  # a subprocess's
            with contextlib.suppress(Exception):
                engines.append(Engine(self.config(), host()))
        for engine in engines:
            with contextlib.suppress(Exception):
                for info in engine.list():
                    with contextlib.suppress(Exception):
                        engine.destroy(info.handle)
                engine.cleanup()
            with contextlib.suppress(Exception):
                engine.close()
        self.engines.clear()

    def _kill_processes(self) -> None:
        """Supervisors, daemons or podman's conmon of ours: their command lines name our
        directory or tag. Killed by pid, never by pattern."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)

    def processes(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
                if str(self.dir) in cmdline or self.tag in cmdline:
                    found.append(int(entry.name))
        return found

    def _unmount(self) -> None:
        for point in mounts.mounts_under(self.dir):
            with contextlib.suppress(OSError):
                mounts.unmount(point)

    def _remove_network(self) -> None:
        with links.netlink() as ipr:
            for name in self._links(ipr):
                links.delete_link(ipr, name)
        for path in self._netns():
            links.remove_netns(path)
        if Nft().table_exists(self.network.table):
            subprocess.run(["nft", "delete", "table", "inet", self.network.table], check=False,
                           capture_output=True)

    def _links(self, ipr: Any) -> list[str]:
        return [n for n in links.link_names(ipr)
                if n == self.network.bridge or n.startswith(self.network.link_prefix)]

    def _netns(self) -> list[Path]:
        found = []
        for path in self.network.netns_dir.glob("stockade-*"):
            with contextlib.suppress(ValueError):
                if ipaddress.IPv4Address(int(path.name[9:], 16)) in self.network.pool:
                    found.append(path)
        return found

    def _cgroup_dirs(self) -> list[Path]:
        """Ours, deepest first (a parent can only go once its children have)."""
        found: list[Path] = []
        for controller in CGROUP_ROOT.iterdir():
            for top in controller.glob(f"{self.tag}*"):
                found.extend(p for p in top.rglob("*") if p.is_dir())
                found.append(top)
        return sorted(found, key=lambda p: len(p.parts), reverse=True)

    def _remove_cgroups(self) -> None:
        for directory in self._cgroup_dirs():
            with contextlib.suppress(OSError):
                directory.rmdir()

    def _loops(self) -> list[str]:
        found = []
        for block in Path("/sys/block").glob("loop*"):
            with contextlib.suppress(OSError):
                if (block / "loop/backing_file").read_text().startswith(str(self.dir)):
                    found.append(block.name)
        return found

    def _detach_loops(self) -> None:
        for name in self._loops():
            subprocess.run(["losetup", "-d", f"/dev/{name}"], check=False, capture_output=True)

    def leftovers(self) -> list[str]:
        """Anything of this sandbox still on the host."""
        found = [f"mount {p}" for p in mounts.mounts_under(self.dir)]
        found += [f"process {pid}" for pid in self.processes()]
        found += [f"cgroup {p}" for p in self._cgroup_dirs()]
        found += [f"loop device {n}" for n in self._loops()]
        with links.netlink() as ipr:
            found += [f"link {n}" for n in self._links(ipr)]
        found += [f"netns {p}" for p in self._netns()]
        if Nft().table_exists(self.network.table):
            found.append(f"nft table {self.network.table}")
        if self.dir.exists():
            found.append(f"directory {self.dir}")
        return found


@contextlib.contextmanager
def sandbox(label: str, leftovers: list[str] | None = None) -> Iterator[Sandbox]:
    """A sandbox closed whatever happens; what it left is appended to `leftovers`."""
    box = Sandbox(label)
    try:
        yield box
    finally:
        left = box.close()
        if leftovers is not None:
            leftovers.extend(left)


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ctrl-C or SIGTERM during cleanup would leave half of it undone: hold them until the end."""
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def terminate_as_interrupt() -> None:
    """SIGTERM unwinds like Ctrl-C, so every sandbox's cleanup runs, in this process only.

    pyroute2 forks helpers for namespace work and stops them with SIGTERM (Ctrl-C reaches
    them too). A fork carries our stack: unwinding it would run the sandbox cleanup in
    the child, which then waits for a lock its parent holds. So forks just exit."""
    main = os.getpid()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != main:
            os._exit(128 + signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def stockade_argv(*args: str) -> list[str]:
    """How a user starts the CLI: the console script next to this interpreter when there is
    one (imports `stockade.cli.main` through PYTHONPATH, so the code under test), else -c."""
    script = Path(sys.executable).with_name("stockade")
    if script.exists():
        return [sys.executable, str(script), *args]
    return [sys.executable, "-c", "from stockade.cli.main import main; main()", *args]


def timed_run(argv: list[str], env: dict[str, str] | None = None, check: bool = True,
              timeout: float = 120) -> float:
    """Wall-clock seconds of one command; raises with its stderr when it fails."""
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL)
    took = time.perf_counter() - started
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:6])}... exited {proc.returncode}: "
                           f"{proc.stderr.decode(errors='replace').strip()[-400:]}")
    return took


def repeat(work: Callable[[], float], rounds: int, warmup: int = 1) -> list[float]:
    """`rounds` results of `work` after `warmup` discarded ones."""
    for _ in range(warmup):
        work()
    return [work() for _ in range(rounds)]


def interleave(works: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """`rounds` results of each of `works`, taken in turn, after one warm-up round. On a
    shared machine, load that comes and goes then touches every contender alike, which is
    what a ratio between them needs."""
    samples: dict[str, list[float]] = {name: [] for name in works}
    for index in range(rounds + 1):
        for name, work in works.items():
            took = work()
            if index:
                samples[name].append(took)
    return samples
