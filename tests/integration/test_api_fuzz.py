"""Fuzz the API from its own OpenAPI document: no input may cause a 5xx, and every error
is a JSON body naming the problem. Runs against a real engine in a private root."""

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from stockade.api.app import create_app
from stockade.api.config import ServerConfig
from stockade.api.daemon import Daemon
from stockade.engine import Engine, EngineConfig
from stockade.host import HostFeatures
from tests import leaks
from tests.conftest import STATE_BASE

pytestmark = pytest.mark.integration
# imports read host paths, build-base runs debootstrap, verify starts containers: all slow
# or outside what a fuzzer should drive; they have their own tests
_SKIPPED = r"^/v1/(images/(import|build-base)|verify|cleanup)"


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


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.exclude(path_regex=_SKIPPED).parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_causes_a_server_error(case: Any) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, case.body, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["kind"] and error["message"]
