"""The benchmark harness's own logic: rows and ratios, the import profile parser, the
throughput driver against a stand-in client (the real one needs the API daemon), the
density suite's process and memory accounting, and the log flood's counters."""

import json
import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from bench import cli, density, logflood, procfs, throughput
from bench.model import Row, SuiteResult
from bench.procfs import Proc
from bench.sandbox import interleave
from stockade.spec import ContainerSpec


def test_a_row_is_the_median_of_its_samples_and_its_ratio_is_against_the_reference() -> None:
    row = Row.of("x", "ms", [3.0, 1.0, 2.0]).against("floor", 0.5)
    assert row.value == 2.0
    assert row.ratio == 4.0
    assert Row(metric="y", unit="ms", value=None).ratio is None


def test_results_are_written_as_json_with_ratios(tmp_path: Path) -> None:
    result = SuiteResult("demo", "Demo")
    result.add(Row.of("x", "ms", [4.0]).against("floor", 2.0))
    path = result.write(tmp_path, {"cpus": 2}, "2025-01-01T00:00:00+00:00")
    data = json.loads(path.read_text())
    assert data["machine"] == {"cpus": 2}
    assert data["rows"][0]["ratio"] == 2.0


def test_import_times_are_charged_to_their_package_once() -> None:
    text = """import time: self [us] | cumulative | imported package
import time:       100 |        100 |     pyroute2.netlink
import time:       200 |        300 |   pyroute2
import time:        50 |         50 |     stockade.network.links
import time:        10 |        360 | stockade.network
"""
    own, total = cli._parse_importtime(text)
    assert own == pytest.approx({"pyroute2": 0.3, "stockade.network": 0.06})
    assert total == pytest.approx(0.36)


class FakeClient:
    """Stands in for stockade.client.Client; every call takes a millisecond."""

    live: set[str] = set()
    lock = threading.Lock()

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def __enter__(self) -> "FakeClient":
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        return None

    def ping(self) -> bool:
        return True

    def create(self, spec: ContainerSpec) -> Any:
        time.sleep(0.001)
        with self.lock:
            assert spec.handle not in self.live
            self.live.add(spec.handle)

    def run(self, handle: str, args: list[str]) -> Any:
        time.sleep(0.001)
        return type("Result", (), {"exit_code": 0})()

    def destroy(self, handle: str) -> None:
        with self.lock:
            self.live.remove(handle)


def test_the_driver_runs_every_client_for_the_duration_and_cleans_up() -> None:
    load = throughput.drive(FakeClient, Path("/nonexistent"), clients=4, duration=0.2)
    assert not load.errors
    assert len(load.cycles) > 20
    assert load.per_second > 0
    assert FakeClient.live == set()


def test_without_the_client_module_the_suite_knows_it_is_missing() -> None:
    try:
        import stockade.client  # noqa: F401
    except ImportError:
        assert throughput.client_factory() is None


def test_interleave_takes_one_of_each_per_round_and_drops_the_warm_up() -> None:
    calls: list[str] = []

    def work(name: str, value: float) -> Any:
        def timed() -> float:
            calls.append(name)
            return value + len(calls)
        return timed

    samples = interleave({"a": work("a", 0.0), "b": work("b", 100.0)}, rounds=2)
    assert calls == ["a", "b", "a", "b", "a", "b"]
    assert samples == {"a": [3.0, 5.0], "b": [104.0, 106.0]}


# -- density: Python processes per container, memory beyond the application ---------------

def _proc(pid: int, ppid: int, *argv: str, exe: str = "") -> Proc:
    return Proc(pid, ppid, tuple(argv), exe)


def test_a_command_line_names_a_handle_as_a_whole_word() -> None:
    assert density.names(("conmon", "-c", "d0001"), "d0001")
    assert density.names(("x", "/tmp/root/containers/d0001/bundle"), "d0001")
    assert density.names(("python", "-c", "run('d0001')"), "d0001")
    assert not density.names(("conmon", "-c", "d00012", "/tmp/d0001x/ctr.log"), "d0001")


def test_python_is_told_by_the_executable_or_argv0() -> None:
    assert density.is_python(_proc(1, 0, "x", exe="/usr/bin/python3.11"))
    assert density.is_python(_proc(1, 0, "/opt/venv/bin/python3", "-m", "shim"))
    assert density.is_python(_proc(1, 0, "x", exe="/usr/bin/python3.11 (deleted)"))
    assert not density.is_python(_proc(1, 0, "conmon", exe="/usr/bin/conmon"))
    assert not density.is_python(_proc(1, 0))


def test_a_containers_processes_are_the_monitors_descendants_and_those_naming_it() -> None:
    table = {p.pid: p for p in (
        _proc(1, 0, "init"),
        _proc(10, 1, "conmon", "-c", "d0001", exe="/usr/bin/conmon"),
        _proc(11, 10, "/init", "--", "sleep", exe="/init"),
        _proc(12, 11, "sleep", exe="/bin/busybox"),
        _proc(13, 12, "python3", "-c", "pass", exe="/usr/bin/python3.11"),
        _proc(20, 1, "python3", "shim.py", "d0001", exe="/usr/bin/python3.11"),
        _proc(30, 1, "conmon", "-c", "d0002", exe="/usr/bin/conmon"),
        _proc(31, 30, "python3", exe="/usr/bin/python3.11"),
    )}
    assert density.container_processes(table, "d0001", 10) == [10, 11, 12, 13, 20]
    assert density.python_processes(table, "d0001", 10) == [13, 20]
    assert density.python_processes(table, "d0002", 30) == [31]
    assert density.python_processes(table, "d0003", None) == []
    assert density.container_processes(table, "d0003", 99) == []  # a monitor gone


def test_memory_beyond_the_application_is_accounted_and_the_rest_is_the_hosts() -> None:
    mib = density.MIB
    part = {"conmon": 400 * 1024, "conmon_pte": 60 * 1024, "init": 80 * 1024,
            "kernel": 340 * 1024, "application": 130 * 1024, "cgroup": 450 * 1024}
    part["beyond"] = density.beyond_accounted(part)
    assert part["beyond"] == 880 * 1024
    stage = density.Memory(count=2, host_per_container=1.25 * mib, parts=[part, dict(part)])
    assert stage.median("application") == pytest.approx(130 / 1024)
    assert stage.beyond_host() == pytest.approx(1.25 - 130 / 1024)
    assert stage.rest() == pytest.approx(1.25 - 130 / 1024 - 880 / 1024)


def test_procfs_reads_kib_fields_as_bytes() -> None:
    text = "Name:\tconmon\nVmRSS:\t    1524 kB\nVmPTE:\t      56 kB\n"
    assert procfs.kib_field(text, "VmRSS") == 1524 * 1024
    assert procfs.kib_field(text, "VmPTE") == 56 * 1024
    assert procfs.kib_field(text, "Pss") == 0


# -- logflood ---------------------------------------------------------------------------------

def test_rotations_are_counted_as_new_inodes_of_the_rotated_file() -> None:
    assert logflood.count_rotations([]) == 0
    assert logflood.count_rotations([None, None, 5, 5, 7, 7, 7, 9]) == 3
    assert logflood.count_rotations([5, 5, None, 6]) == 1  # gone for a moment: not one


def test_the_mean_record_size_counts_whole_records_only() -> None:
    data = b"2026-12-05T11:54:59.1+00:00 stdout F y\n" * 3 + b"2026-12-05T11:5"
    assert logflood.mean_record_bytes(data) == len(b"2026-12-05T11:54:59.1+00:00 stdout F y\n")
    assert logflood.mean_record_bytes(b"partial") is None


def test_deleted_files_held_open_are_counted_once_by_size(tmp_path: Path) -> None:
    held = tmp_path / "ctr.log.1"
    held.write_bytes(b"y\n" * 500)
    kept = tmp_path / "ctr.log"
    kept.write_bytes(b"y\n" * 7)
    with open(held, "rb") as first, open(held, "rb") as second, open(kept, "rb"):
        held.unlink()
        assert first.fileno() != second.fileno()
        assert procfs.deleted_but_open([os.getpid(), os.getpid()], tmp_path) == 1000
        assert procfs.deleted_but_open([os.getpid()], tmp_path / "elsewhere") == 0
    assert procfs.deleted_but_open([os.getpid()], tmp_path) == 0
