"""Resource limits hold under real pressure: memory, pids and CPU shares."""

import time
from pathlib import Path

import pytest

from stockade.engine import Engine
from tests.integration.helpers import handle, run, start_detached

pytestmark = pytest.mark.integration

_ALLOCATE = 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived'


def test_memory_limit_kills_the_container_reports_oom_and_spares_the_neighbour(
        engine: Engine) -> None:
    neighbour = start_detached(engine, ["sleep", "300"])
    result = run(engine, ["sh", "-c", _ALLOCATE], limits={"memory_bytes": "32M"})
    assert result.code == 137
    assert "survived" not in result.out
    assert result.info.oom_killed
    assert "out of memory" in result.info.events
    assert engine.inspect(neighbour).state == "running"


def test_memory_has_no_swap_headroom(engine: Engine) -> None:
    name = handle()
    run(engine, ["true"], keep=True, handle=name, limits={"memory_bytes": "64M"})
    memory = Path("/sys/fs/cgroup/memory") / engine.config.cgroup_parent / name
    limit = int((memory / "memory.limit_in_bytes").read_text())
    assert limit == 64 << 20
    assert int((memory / "memory.memsw.limit_in_bytes").read_text()) == limit


def test_pids_limit_stops_a_fork_bomb(engine: Engine) -> None:
    neighbour = start_detached(engine, ["sleep", "300"])
    script = "i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done 2>&1; echo done"
    result = run(engine, ["sh", "-c", script], limits={"pids": 32})
    assert "Resource temporarily unavailable" in result.out + result.err
    assert engine.inspect(neighbour).state == "running"


def _cpu_usage(engine: Engine, name: str) -> int:
    path = Path("/sys/fs/cgroup/cpuacct") / engine.config.cgroup_parent / name / "cpuacct.usage"
    return int(path.read_text())


def test_cpu_shares_split_cpu_in_proportion_to_memory(engine: Engine) -> None:
    busy = ["sh", "-c", "while :; do :; done"]
    small = start_detached(engine, busy, limits={"memory_bytes": "256M", "cpuset_cpus": "0"})
    large = start_detached(engine, busy, limits={"memory_bytes": "512M", "cpuset_cpus": "0"})
    assert engine.inspect(small).limits.cpu_shares == 32
    assert engine.inspect(large).limits.cpu_shares == 64
    time.sleep(1)  # let both settle on the CPU before measuring
    before = (_cpu_usage(engine, small), _cpu_usage(engine, large))
    time.sleep(5)
    used_small = _cpu_usage(engine, small) - before[0]
    used_large = _cpu_usage(engine, large) - before[1]
    ratio = used_large / used_small
    assert 2 * 0.85 <= ratio <= 2 * 1.15, f"CPU split {ratio:.2f}, expected 2.00 +-15%"
