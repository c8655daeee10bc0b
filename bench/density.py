"""Item 3: density. Start idle containers (`sleep`), one after another, through the Engine
with full hardening and networking: 20, then on to 250 (20 alone with --quick). At each
count, read the host memory every container costs beyond its application; at the end,
report the time to start them all and the create latency of the last against the first.

Memory is read two ways at each count N. From the host: MemTotal - MemAvailable before the
first container and at N, over N (everything, kernel objects included, but also anything
else the machine did meanwhile, and the first container's one-off set-up of the bridge,
table and volume store shared by all). Accounted per container, then the median over the
containers:
- the monitor: conmon's PSS (one conmon per container; its shared libraries split among
  all users), plus its page tables (VmPTE), which PSS leaves out;
- the container's memory cgroup: its usage, which counts the init's and the application's
  pages, page cache and tmpfs pages first touched there, and the kernel memory charged to
  the container (its processes' stacks, page tables and slab objects);
- the init's and the application's (`sleep`'s) PSS.

"Beyond the application, accounted" is conmon's PSS and page tables + the init's PSS + the
kernel memory charged to the container's cgroup. It counts the application's own kernel
objects (its task, stack, page tables) as beyond it, so it errs high there. It leaves out
what the kernel allocates outside the container's cgroup (network namespace, veth pair,
nftables elements, mounts, conmon's kernel objects besides its page tables): only the host
figure sees those; "rest" is the host figure beyond the application less the accounted.

Per container, the Python processes are counted from /proc: processes whose command line
names the container, and every descendant of its monitor. With conmon there are none."""

import contextlib
import re
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.model import Context, Row, SuiteResult
from bench.procfs import Proc, host_used, page_tables, process_table, pss
from bench.sandbox import sandbox
from stockade.engine import Engine
from stockade.errors import StockadeError
from stockade.runtime import cgroups
from stockade.spec import ContainerSpec, ProcessSpec

NAME = "density"
TITLE = "Density: N idle containers, start time and memory per container"
MIB = 1 << 20
EDGE = 10  # containers at each end whose create latencies are compared as medians
KEYS = Path("/proc/sys/kernel/keys")
COUNTS = (20, 250)  # measured in turn in one run; --quick stops after the first
GOAL_MIB = 1.5  # issue 17: host memory per container beyond the application
SETTLE_S = 2.0


def run(ctx: Context) -> SuiteResult:
    counts = COUNTS[:1] if ctx.quick else COUNTS
    result = SuiteResult(NAME, TITLE, params={"containers": list(counts)})
    if ctx.quick:
        result.notes.append(f"--quick: {counts[0]} containers only (the full run goes on to "
                            f"{COUNTS[-1]})")
    creates: list[float] = []
    starts: list[float] = []
    wall = 0.0
    stages: list[Memory] = []
    with sandbox(NAME, result.leftovers) as box:
        engine = box.engine()
        engine.images.get("busybox")  # the embedded image is built before timing
        with _key_quota(engine.config.id_base, counts[-1], result):
            used_before = host_used()
            for count in counts:
                began = time.perf_counter()
                complete = _start_up_to(engine, count, creates, starts, result)
                wall += time.perf_counter() - began
                if creates and (complete or len(creates) not in (s.count for s in stages)):
                    time.sleep(SETTLE_S)  # let the monitors and inits settle
                    stages.append(_measure(engine, _handles(len(creates)), used_before))
                if not complete:
                    break
            started = _handles(len(creates))
            phases = [engine.phases.of(h) for h in started]
            destroy_s = _destroy_all(engine, started)
    if creates:
        _timing_rows(result, creates, starts, wall, destroy_s)
        _growth_rows(result, phases)
        for stage in stages:
            _memory_rows(result, stage)
        _memory_series(result, stages)
    return result


def _keys_of(uid: int) -> tuple[int, int]:
    """(keys the user holds, its quota) from /proc/key-users."""
    for line in Path("/proc/key-users").read_text().splitlines():
        owner, _, rest = line.partition(":")
        if int(owner) == uid:
            held, quota = rest.split()[2].split("/")  # qnkeys/maxkeys
            return int(held), int(quota)
    return 0, int(Path(KEYS / "maxkeys").read_text())


@contextlib.contextmanager
def _key_quota(uid: int, count: int, result: SuiteResult) -> Iterator[None]:
    """runc gives every container a session keyring, charged to the host uid its root maps
    to; all containers share that uid, and the kernel's default quota is 200 keys per user.
    Raise the quota for this suite when it is too small, and put it back afterwards."""
    held, quota = _keys_of(uid)
    result.add(Row(metric="containers the kernel key quota allows (maxkeys - keys held)",
                   unit="containers", value=quota - held))
    needed = {"maxkeys": held + count + 50, "maxbytes": (held + count + 50) * 100}
    old = {name: int((KEYS / name).read_text()) for name in needed}
    raised = {name: value for name, value in needed.items() if value > old[name]}
    for name, value in raised.items():
        (KEYS / name).write_text(str(value))
        result.notes.append(f"kernel.keys.{name} raised from {old[name]} to {value} for this "
                            "suite and restored afterwards (one session keyring per container, "
                            f"all charged to host uid {uid})")
    try:
        yield
    finally:
        for name in raised:
            (KEYS / name).write_text(str(old[name]))


def _handles(count: int) -> list[str]:
    return [f"d{i:04d}" for i in range(count)]


def _start_up_to(engine: Engine, count: int, creates: list[float], starts: list[float],
                 result: SuiteResult) -> bool:
    """Create and start containers until `count` run, appending ms per create and per
    create + start. A failure ends the series (False); what started until then is still
    measured and the failure is the reason."""
    for handle in _handles(count)[len(creates):]:
        started = time.perf_counter()
        try:
            engine.create(ContainerSpec(handle=handle,
                                        process=ProcessSpec(args=["sleep", "86400"])))
            created = time.perf_counter()
            engine.start(handle)
        except StockadeError as exc:
            result.status = "failed"
            result.reason = f"container {len(creates) + 1} of {count} failed: {exc}"
            with contextlib.suppress(StockadeError):
                engine.destroy(handle)
            return False
        creates.append((created - started) * 1e3)
        starts.append((time.perf_counter() - started) * 1e3)
    return True


def _destroy_all(engine: Engine, handles: list[str]) -> float:
    began = time.perf_counter()
    for handle in handles:
        with contextlib.suppress(Exception):
            engine.destroy(handle)
    return time.perf_counter() - began


# -- processes ------------------------------------------------------------------------------


def names(argv: tuple[str, ...], handle: str) -> bool:
    """The command line names `handle` as a word ("d0001" names d0001, not d00012): a
    word is a run of letters, digits, `_`, `.` and `-`, as a handle is."""
    return any(handle in re.split(r"[^\w.-]", arg) for arg in argv)


def is_python(proc: Proc) -> bool:
    return any(Path(path).name.startswith("python")
               for path in (proc.exe.removesuffix(" (deleted)"), *proc.argv[:1]))


def container_processes(table: dict[int, Proc], handle: str, monitor: int | None,
                        ) -> list[int]:
    """One container's processes: those whose command line names it, and the monitor with
    its descendants (the init, the application and anything they started)."""
    children: dict[int, list[int]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    mine = {pid for pid, proc in table.items() if names(proc.argv, handle)}
    below: set[int] = set()
    todo = [monitor] if monitor in table else []
    while todo:
        pid = todo.pop()
        if pid not in below:
            below.add(pid)
            todo.extend(children.get(pid, []))
    return sorted(mine | below)


def python_processes(table: dict[int, Proc], handle: str, monitor: int | None) -> list[int]:
    return [pid for pid in container_processes(table, handle, monitor)
            if is_python(table[pid])]


# -- memory ---------------------------------------------------------------------------------


def _cgroup_kernel(memory: Path) -> int:
    """Kernel memory charged to a memory cgroup (v1: kmem usage; v2: memory.stat kernel)."""
    with contextlib.suppress(OSError, ValueError):
        if not cgroups.is_v2():
            return int((memory / "memory.kmem.usage_in_bytes").read_text())
        for line in (memory / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "kernel":
                return int(value)
    return 0


@dataclass
class Memory:
    """Memory at one container count: the host delta per container, and per container
    (bytes) conmon's PSS and page tables, init and application PSS, the cgroup's usage and
    its kernel part, with the count of Python processes."""

    count: int
    host_per_container: float
    parts: list[dict[str, int]] = field(default_factory=list)

    def median(self, key: str) -> float:
        return statistics.median(p[key] for p in self.parts) / MIB

    def samples(self, key: str) -> list[float]:
        return [p[key] / MIB for p in self.parts]

    def beyond_host(self) -> float:
        """MiB: the host figure less the application's PSS."""
        return self.host_per_container / MIB - self.median("application")

    def rest(self) -> float:
        """MiB the host figure sees beyond the application that is not accounted."""
        return self.beyond_host() - self.median("beyond")


def beyond_accounted(part: dict[str, int]) -> int:
    """Bytes one container costs beyond its application, as accounted (module docstring)."""
    return part["conmon"] + part["conmon_pte"] + part["init"] + part["kernel"]


def _measure(engine: Engine, handles: list[str], used_before: int) -> Memory:
    used = host_used()
    table = process_table()
    memory = Memory(len(handles), (used - used_before) / len(handles))
    for handle in handles:
        part = _accounted(engine, handle, table)
        part["beyond"] = beyond_accounted(part)
        memory.parts.append(part)
    return memory


def _accounted(engine: Engine, handle: str, table: dict[int, Proc]) -> dict[str, int]:
    init = engine.inspect(handle).pid
    if init is None:
        raise RuntimeError(f"{handle} is not running")
    monitor = int(engine.layout.monitor(handle).monitor_pid_file.read_text())
    if table.get(init, Proc(0, 0, (), "")).ppid != monitor:
        raise RuntimeError(f"{handle}: the init {init} is not the child of conmon {monitor}")
    path = f"/{engine.config.cgroup_parent}/{handle}"
    cgroup = cgroups.controller_dir("memory", path)
    pids = [int(p) for p in (cgroup / "cgroup.procs").read_text().split()]
    return {"conmon": pss(monitor), "conmon_pte": page_tables(monitor), "init": pss(init),
            "application": sum(pss(p) for p in pids if p != init),
            "cgroup": cgroups.memory_usage(path) or 0,
            "kernel": _cgroup_kernel(cgroup),
            "processes": len(container_processes(table, handle, monitor)),
            "python": len(python_processes(table, handle, monitor))}


# -- rows -----------------------------------------------------------------------------------


def _timing_rows(result: SuiteResult, creates: list[float], starts: list[float], wall: float,
                 destroy_s: float) -> None:
    count = len(creates)
    result.add(Row(metric=f"start all {count} (create + start, one after another)", unit="s",
                   value=wall))
    result.add(Row(metric=f"destroy all {count}", unit="s", value=destroy_s))
    first = result.add(Row.of("create latency, 1st container", "ms", creates[:1]))
    result.add(Row.of(f"create latency, {count}th container", "ms", creates[-1:]).against(
        "1st", first.value))
    edge = min(EDGE, count // 2)
    early = result.add(Row.of(f"create latency, first {edge} (median)", "ms", creates[:edge]))
    result.add(Row.of(f"create latency, last {edge} (median)", "ms", creates[-edge:]).against(
        f"first {edge}", early.value))
    result.add(Row.of("create + start latency, all (median)", "ms", starts))
    result.series["creates"] = creates


def _growth_rows(result: SuiteResult, phases: list[dict[str, float]]) -> None:
    """Which create phase grows as containers accumulate: last few against first few."""
    edge = min(EDGE, len(phases) // 2)
    for name in ("state", "volume", "network", "policy", "runc create"):
        early = Row.of("", "ms", [p.get(name, 0.0) * 1e3 for p in phases[:edge]])
        result.add(Row.of(f"phase {name}, last {edge} (median)", "ms",
                          [p.get(name, 0.0) * 1e3 for p in phases[-edge:]]).against(
            f"first {edge}", early.value))


def _memory_rows(result: SuiteResult, stage: Memory) -> None:
    n = stage.count
    goal = f"goal (issue 17) {GOAL_MIB} MiB"
    result.add(Row(metric=f"N={n}: host memory per container (MemAvailable delta / N)",
                   unit="MiB", value=stage.host_per_container / MIB))
    result.add(Row(metric=f"N={n}: host memory per container beyond the application "
                          "(host - application PSS)", unit="MiB",
                   value=stage.beyond_host()).against(goal, GOAL_MIB))
    result.add(Row.of(f"N={n}: per container beyond the application, accounted (conmon PSS "
                      "+ page tables, init PSS, cgroup kernel memory)", "MiB",
                      stage.samples("beyond")).against(goal, GOAL_MIB))
    shown = {"conmon": "conmon PSS per container", "conmon_pte": "conmon page tables",
             "init": "init (Landlock wrapper) PSS", "application": "application (sleep) PSS",
             "cgroup": "container memory cgroup usage",
             "kernel": "of which kernel memory charged to the cgroup"}
    for key, metric in shown.items():
        result.add(Row.of(f"N={n}: {metric}", "MiB", stage.samples(key)))
    result.add(Row(metric=f"N={n}: rest: host beyond the application - accounted "
                          "(kernel objects outside the cgroup, other)", unit="MiB",
                   value=stage.rest()))
    result.add(Row.of(f"N={n}: processes per container (conmon, init, application)",
                      "processes", [float(p["processes"]) for p in stage.parts]))
    pythons = [float(p["python"]) for p in stage.parts]
    result.add(Row(metric=f"N={n}: Python processes per container (most of any container)",
                   unit="processes", value=max(pythons), samples=pythons))
    if max(pythons) > 0:
        result.status = "failed"
        result.reason = f"N={n}: {int(sum(pythons))} Python processes belong to containers"


def _memory_series(result: SuiteResult, stages: list[Memory]) -> None:
    result.series["memory"] = {
        str(stage.count): {
            "conmon (PSS + page tables)": stage.median("conmon") + stage.median("conmon_pte"),
            "init PSS": stage.median("init"),
            "cgroup kernel memory": stage.median("kernel"),
            "rest (kernel outside the cgroup, other)": stage.rest(),
        } for stage in stages}
    result.series["goal_mib"] = GOAL_MIB
    result.notes.append(
        "beyond the application, accounted = conmon's PSS and page tables + the init's PSS + "
        "the kernel memory charged to the container's cgroup (which includes the "
        "application's own task, stack and page tables: errs high); it leaves out kernel "
        "objects allocated outside the cgroup (netns, veth, nftables, mounts, conmon's "
        "kernel objects besides page tables), which only the host figure sees (the rest row)")
    result.notes.append("the host figure is (MemTotal - MemAvailable now - before the first "
                        "container) / N: it includes the one-off bridge, table and volume store "
                        "set-up, and moves with anything else the machine does meanwhile")
