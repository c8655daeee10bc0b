"""Item 5: CPU fairness. Two busy containers pinned to CPU 0, with the CPU shares the
platform derives from 256M and 512M of memory; the measured CPU time ratio is set against
the expected 1:2. Same approach as tests/integration/test_limits.py, repeated over several
windows so the figure is a median."""

import time
from pathlib import Path

from bench.model import Context, Row, SuiteResult
from bench.sandbox import sandbox
from stockade.engine import Engine
from stockade.runtime import cgroups
from stockade.spec import ContainerSpec, Limits, ProcessSpec

NAME = "fairness"
TITLE = "CPU fairness: shares from 256M and 512M, both pinned to one CPU"
BUSY = ["sh", "-c", "while :; do :; done"]
SETTLE_S = 1.0


def run(ctx: Context) -> SuiteResult:
    windows, window_s = ctx.rounds(7, 3), ctx.rounds(2, 1)
    result = SuiteResult(NAME, TITLE, params={"windows": windows, "window_s": window_s,
                                              "cpu": 0})
    with sandbox(NAME, result.leftovers) as box:
        engine = box.engine()
        small = _busy(engine, "small", "256M")
        large = _busy(engine, "large", "512M")
        time.sleep(SETTLE_S)  # let both settle on the CPU before measuring
        usage = [_window(engine, small, large, window_s) for _ in range(windows)]
        shares = [engine.inspect(h).limits.cpu_shares for h in (small, large)]
    ratios = [used_large / used_small for used_small, used_large in usage]
    result.add(Row.of("CPU time ratio 512M : 256M", "x", ratios).against("expected 2:1", 2.0))
    for index, label in enumerate(("256M", "512M")):
        result.add(Row.of(f"{label}: share of CPU 0", "%",
                          [100 * u[index] / window_s for u in usage]).against(
            "expected", 100 * (index + 1) / 3))
    result.notes.append(f"cpu shares: 256M -> {shares[0]}, 512M -> {shares[1]}")
    result.series = {"ratios": ratios, "expected": 2.0}
    return result


def _busy(engine: Engine, handle: str, memory: str) -> str:
    limits = Limits.model_validate({"memory_bytes": memory, "cpuset_cpus": "0"})
    engine.create(ContainerSpec(handle=handle, process=ProcessSpec(args=BUSY), limits=limits))
    engine.start(handle)
    return handle


def _window(engine: Engine, small: str, large: str, seconds: float) -> tuple[float, float]:
    """CPU seconds each container used during one window."""
    before = (_cpu_seconds(engine, small), _cpu_seconds(engine, large))
    time.sleep(seconds)
    return _cpu_seconds(engine, small) - before[0], _cpu_seconds(engine, large) - before[1]


def _cpu_seconds(engine: Engine, handle: str) -> float:
    path = f"/{engine.config.cgroup_parent}/{handle}"
    if cgroups.is_v2():
        stat = Path(cgroups.controller_dir("cpu", path)) / "cpu.stat"
        fields = dict(line.split() for line in stat.read_text().splitlines())
        return int(fields["usage_usec"]) / 1e6
    usage = Path(cgroups.controller_dir("cpuacct", path)) / "cpuacct.usage"
    return int(usage.read_text()) / 1e9
