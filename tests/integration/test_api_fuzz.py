"""Fuzz the API from its own OpenAPI document: no input may cause a 5xx, and every error
is a JSON body naming the problem. Runs against a real engine in a private root."""

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from stockade.api.app import create_app
from stockade.api.config import ServerConfig
from stockade.api.daemon import Daemon
from stockade.engine import Engine, EngineConfig
from stockade.host import HostFeatures
from tests import leaks
from tests.conftest import STATE_BASE

pytestmark = pytest.mark.integration
# imports read host paths, build-base runs debootstrap, verify starts containers: all slow
# or outside what a fuzzer should drive; long polls (events, wait) block by design. A vulndb
# update reads host paths and fetches URLs (a fuzzed URL would leave loopback). All of
# them have their own tests. A host harden writes the host's sysctls and /etc/sysctl.d
# (tests/integration/test_host_daemon.py drives it with a private drop-in). `logs` with
# follow streams until the container ends (tests/unit/test_logs_route.py drives it).
_SKIPPED = (r"^/v1/(images/(import|build-base)|vulndb/update|host/harden|verify|cleanup"
            r"|events)|/(wait|logs)$")


@pytest.fixture(scope="module")
def api_schema(host: HostFeatures, session_tag: str) -> Iterator[Any]:
    root = STATE_BASE / session_tag / "fuzz"
    marker = f"{session_tag}-fuzz"
    engine = Engine(EngineConfig(root=root, cgroup_parent=marker), host)
    daemon = Daemon(engine, ServerConfig(socket=root / "unused.sock"))
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", create_app(daemon))
    finally:
        for info in engine.list():
            engine.destroy(info.handle)
        engine.cleanup()
        engine.close()
        left = leaks.snapshot(marker).cgroups | leaks.snapshot(str(root)).mounts
        shutil.rmtree(root, ignore_errors=True)
        assert not left, f"fuzzing left {left}"


def _operations(schema: Any) -> list[Any]:
    found = [result.ok() for result in schema.get_all_operations()]
    return [op for op in found if not re.match(_SKIPPED, op.path)]


def _check(case: Any) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, case.body, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["kind"] and error["message"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_causes_a_server_error(api_schema: Any, mode: GenerationMode) -> None:
    """Every operation of the OpenAPI document, with valid and with invalid requests.
    (schemathesis' own pytest plugin does not load under this pytest; hypothesis drives
    each operation's strategy directly.)"""
    operations = _operations(api_schema)
    assert len(operations) > 30
    for operation in operations:
        run = settings(max_examples=8, deadline=None, database=None,
                       phases=[Phase.explicit, Phase.generate],  # a failure is shown as found
                       suppress_health_check=list(HealthCheck))(
            given(case=operation.as_strategy(generation_mode=mode))(_check))
        try:
            run()
        except Unsatisfiable:  # no invalid request exists (e.g. GET /v1/ping takes nothing)
            assert mode == GenerationMode.NEGATIVE, operation.label
