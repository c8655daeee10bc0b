"""Item 3: density. Start N idle containers (`sleep`), one after another, through the
Engine with full hardening and networking; report the time to start all of them, the
create latency of the last against the first, and host memory per container beyond the
application itself.

Memory is read two ways. From the host: MemTotal - MemAvailable before and after, over N
(everything, kernel objects included, but also anything else the machine did meanwhile).
Accounted per container: the supervisor's PSS (one Python process per container), the
init's and the application's PSS, and the container's memory cgroup usage (its processes'
pages plus kernel memory charged to it). The application is the `sleep` process."""

import contextlib
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

from bench.model import Context, Row, SuiteResult
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


def run(ctx: Context) -> SuiteResult:
    count = ctx.rounds(250, 20)
    result = SuiteResult(NAME, TITLE, params={"containers": count})
    if ctx.quick:
        result.notes.append(f"--quick: {count} containers instead of 250")
    with sandbox(NAME, result.leftovers) as box:
        engine = box.engine()
        engine.images.get("busybox")  # the embedded image is built before timing
        with _key_quota(engine.config.id_base, count, result):
            used_before = _host_used()
            creates, starts, wall = _start_all(engine, count, result)
            time.sleep(2)  # let the supervisors and inits settle before reading memory
            used_after = _host_used()
            started = _handles(len(creates))
            parts = [_accounted(engine, h) for h in started]
            phases = [engine.phases.of(h) for h in started]
            destroy_s = _destroy_all(engine, started)
    if creates:
        _timing_rows(result, creates, starts, wall, destroy_s)
        _growth_rows(result, phases)
        _memory_rows(result, (used_after - used_before) / len(creates), parts)
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


def _start_all(engine: Engine, count: int, result: SuiteResult,
               ) -> tuple[list[float], list[float], float]:
    """ms per create, ms per create+start, and seconds for all of them. A failure ends the
    series; what started until then is still measured and the failure is the reason."""
    creates: list[float] = []
    starts: list[float] = []
    began = time.perf_counter()
    for handle in _handles(count):
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
            break
        creates.append((created - started) * 1e3)
        starts.append((time.perf_counter() - started) * 1e3)
    return creates, starts, time.perf_counter() - began


def _destroy_all(engine: Engine, handles: list[str]) -> float:
    began = time.perf_counter()
    for handle in handles:
        with contextlib.suppress(Exception):
            engine.destroy(handle)
    return time.perf_counter() - began


# -- memory ---------------------------------------------------------------------------------


def _meminfo() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        fields[key] = int(rest.split()[0]) * 1024
    return fields


def _host_used() -> int:
    info = _meminfo()
    return info["MemTotal"] - info["MemAvailable"]


def _pss(pid: int) -> int:
    """Proportional set size in bytes: shared pages split among their users."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def _parent(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    return 0


def _accounted(engine: Engine, handle: str) -> dict[str, int]:
    """Bytes: supervisor PSS, init PSS, application PSS, container cgroup usage."""
    init = engine.inspect(handle).pid
    if init is None:
        raise RuntimeError(f"{handle} is not running")
    memory = cgroups.controller_dir("memory", f"/{engine.config.cgroup_parent}/{handle}")
    pids = [int(p) for p in (memory / "cgroup.procs").read_text().split()]
    usage_file = "memory.current" if cgroups.is_v2() else "memory.usage_in_bytes"
    return {"supervisor": _pss(_parent(init)), "init": _pss(init),
            "application": sum(_pss(p) for p in pids if p != init),
            "cgroup": int((memory / usage_file).read_text())}


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


def _memory_rows(result: SuiteResult, host_per_container: float,
                 parts: list[dict[str, int]]) -> None:
    def median(key: str) -> float:
        return statistics.median(p[key] for p in parts) / MIB

    app = median("application")
    host = result.add(Row(metric="host memory per container (MemAvailable delta / N)",
                          unit="MiB", value=host_per_container / MIB).against("application",
                                                                               app))
    result.add(Row(metric="host memory per container beyond the application", unit="MiB",
                   value=(host.value or 0.0) - app))
    shown = {"application": "application (sleep) PSS", "init": "init (Landlock wrapper) PSS",
             "supervisor": "supervisor (Python shim) PSS",
             "cgroup": "container memory cgroup usage"}
    for key, metric in shown.items():
        result.add(Row.of(metric, "MiB", [p[key] / MIB for p in parts]))
    kernel = (host.value or 0.0) - median("supervisor") - median("cgroup")
    result.add(Row(metric="rest: kernel objects outside the cgroup (host - supervisor - cgroup)",
                   unit="MiB", value=kernel))
    result.series["memory"] = {"supervisor PSS": median("supervisor"),
                               "container cgroup": median("cgroup"),
                               "rest (kernel, other)": max(kernel, 0.0)}
    result.notes.append("the container cgroup's usage includes the init's and the "
                        "application's pages; the host delta also moves with anything else "
                        "the machine does meanwhile")
