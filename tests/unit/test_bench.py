"""The benchmark harness's own logic: rows and ratios, the import profile parser, and the
throughput driver against a stand-in client (the real one needs the API daemon)."""

import json
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from bench import cli, throughput
from bench.model import Row, SuiteResult
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
