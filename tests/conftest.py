"""Shared fixtures: a private engine per test and a leak check around every test."""

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.engine import Engine, EngineConfig
from stockade.host import HostFeatures, probe
from tests import daemonkit, leaks

STATE_BASE = Path("/tmp/stockade-test")


def _can_run_containers(host: HostFeatures) -> str | None:
    if os.geteuid() != 0:
        return "integration tests need root"
    if not host.runc.available:
        return "runc is not installed"
    return None


@pytest.fixture(scope="session")
def host() -> HostFeatures:
    return probe()


@pytest.fixture(scope="session")
def session_tag() -> str:
    """Names every kernel object this run creates, so leak checks see only ours."""
    return f"stockade-t{secrets.token_hex(3)}"


@pytest.fixture(autouse=True, scope="session")
def _no_leaks_after_session(session_tag: str) -> Iterator[None]:
    before = leaks.snapshot(session_tag)
    yield
    shutil.rmtree(STATE_BASE / session_tag, ignore_errors=True)
    left = leaks.snapshot(session_tag).leaked_since(before)
    assert not left, f"the test session left kernel objects behind: {left}"


@pytest.fixture
def engine(host: HostFeatures, session_tag: str, request: pytest.FixtureRequest,
           ) -> Iterator[Engine]:
    """A private engine (own root, own cgroup parent); checks nothing leaks after the test."""
    reason = _can_run_containers(host)
    if reason:
        pytest.fail(f"cannot run integration test: {reason}")
    root = STATE_BASE / session_tag / secrets.token_hex(4)
    marker = f"{session_tag}-{secrets.token_hex(2)}"
    config = EngineConfig(root=root, cgroup_parent=marker)
    eng = Engine(config, host)
    before = leaks.snapshot(marker)
    try:
        yield eng
    finally:
        for info in eng.list():
            eng.destroy(info.handle)
        eng.close()
        left = {k: v for k, v in leaks.snapshot(marker).leaked_since(before).items()
                if k in leaks.SCOPED}
        still = leaks.snapshot(str(root))
        left.update({k: set(v) for k, v in (("mounts", still.mounts),
                                             ("processes", still.processes)) if v})
        shutil.rmtree(root, ignore_errors=True)
        assert not left, f"{request.node.name} left kernel objects behind: {left}"


@pytest.fixture
def daemon(host: HostFeatures, session_tag: str) -> Iterator["daemonkit.Daemon"]:
    """A private daemon (own root, socket and cgroup parent), checked for leaks after."""
    reason = _can_run_containers(host)
    if reason:
        pytest.fail(f"cannot run integration test: {reason}")
    tag = secrets.token_hex(3)
    root = STATE_BASE / session_tag / f"d{tag}"
    with daemonkit.running(root, f"{session_tag}-d{tag}") as running:
        yield running
    shutil.rmtree(root, ignore_errors=True)
