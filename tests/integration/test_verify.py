"""`stockade verify` against real containers: a default one passes, each weakening fails
exactly its rows, the probe leaves nothing behind, and every path cleans up."""

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stockade.engine import Engine
from stockade.errors import StockadeError
from stockade.spec import EgressRule
from stockade.verify import Report, runner, verify_container, verify_new
from tests.daemonkit import Daemon
from tests.integration.helpers import exec_capture, run, start_detached

pytestmark = pytest.mark.integration
STOCKADE = str(Path(sys.executable).with_name("stockade"))
SECCOMP_ROWS = {"seccomp.mode", "seccomp.filter", "battery.06", "battery.13", "battery.14",
                "battery.15", "battery.16", "battery.17", "battery.18", "battery.19",
                "battery.28"}
WEAKENINGS: list[tuple[dict[str, Any], set[str]]] = [
    ({"disable_seccomp": True}, SECCOMP_ROWS),
    ({"disable_userns": True}, {"namespace.user", "user.mapping", "battery.02"}),
    ({"disable_mac": True}, {"mac", "mac.network"}),
    ({"cap_add": ["CAP_SYS_ADMIN"]}, {"capabilities", "battery.03"}),
]


def _failures(report: Report) -> dict[str, str]:
    return {c.id: c.observed for c in report.failures()}


def test_a_default_container_verifies_and_is_destroyed(engine: Engine) -> None:
    report = verify_new(engine)
    assert report.passed, _failures(report)
    assert report.counts["gap"] == 0  # quota and egress are both proven, not assumed
    checks = {c.id: c.observed for c in report.checks}
    assert "quota" in checks["disk"] and "ETIMEDOUT" in checks["network.egress"]
    assert engine.list() == []


def test_a_running_container_verifies_in_place(engine: Engine) -> None:
    name = start_detached(engine, ["sleep", "300"])
    report = verify_container(engine, name)
    assert report.passed, _failures(report)
    assert engine.inspect(name).state == "running"  # checked, not disturbed


@pytest.mark.parametrize(("unsafe", "rows"), WEAKENINGS,
                         ids=[next(iter(u)) for u, _ in WEAKENINGS])
def test_a_weakened_container_fails_exactly_the_matching_rows(
        engine: Engine, unsafe: dict[str, Any], rows: set[str]) -> None:
    name = start_detached(engine, ["sleep", "300"], unsafe=unsafe)
    report = verify_container(engine, name)
    assert not report.passed
    assert set(_failures(report)) == rows, _failures(report)
    assert report.unsafe and all(f"unsafe: {u}" in engine.inspect(name).events
                                 for u in report.unsafe)


def test_declared_connect_ports_are_proven_and_the_firewall_still_tested(
        engine: Engine) -> None:
    name = start_detached(engine, ["sleep", "300"], listen_ports="8080",
                          connect_ports="40100-40120")
    report = verify_container(engine, name)
    assert report.passed, _failures(report)
    checks = {c.id: c for c in report.checks}
    network = checks["mac.network"]
    assert "bind only 8080; connect only 8080,40100-40120" in network.expected
    assert "bind 127.0.0.1:1024: EACCES" in network.observed
    assert "connect 127.0.0.1:1024: EACCES" in network.observed
    # verify's listener sat on a port Landlock lets through, so the firewall stopped it
    port = int(checks["network.egress"].observed.split(":")[1])
    assert port == 8080 or 40100 <= port <= 40120
    assert checks["network.egress"].observed.endswith("ETIMEDOUT")


def test_egress_opened_by_a_security_group_fails_the_egress_rows(engine: Engine) -> None:
    gateway = str(engine.config.network.gateway)
    engine.net.create_group("verify-open", [EgressRule(protocol="tcp", destinations=[gateway])])
    try:
        name = start_detached(engine, ["sleep", "300"], security_groups=["verify-open"])
        report = verify_container(engine, name)
        assert set(_failures(report)) == {"network.egress", "battery.26"}
        assert "NOT STOPPED" in _failures(report)["network.egress"]
        engine.destroy(name)
    finally:
        engine.net.remove_group("verify-open")


def _traces(engine: Engine, name: str) -> tuple[str, frozenset[str]]:
    """What the container shows of /etc, /tmp and its mounts, and the files of its
    writable layer (directories aside: a copy-up of /etc changes no content)."""
    _, inside = exec_capture(engine, name, ["sh", "-c", "ls -A /etc /tmp /dev/shm; "
                                            "wc -l < /proc/self/mountinfo"])
    upper = engine.volumes.rootfs(engine.layout.container(name)).upper
    files = frozenset(str(p.relative_to(upper)) for p in upper.rglob("*") if not p.is_dir())
    return inside, files


@pytest.mark.parametrize("unsafe", [{}, {"disable_mac": True, "disable_seccomp": True}],
                         ids=["default", "nothing-stops-it"])
def test_the_probe_leaves_nothing_behind(engine: Engine, unsafe: dict[str, Any]) -> None:
    name = start_detached(engine, ["sleep", "300"], unsafe=unsafe)
    before = _traces(engine, name)
    verify_container(engine, name)
    assert _traces(engine, name) == before


def test_verify_destroys_its_container_when_the_check_breaks(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> tuple[str, str, int]:
        raise RuntimeError("probe exploded")
    monkeypatch.setattr(runner, "run_probe", broken)
    with pytest.raises(RuntimeError, match="exploded"):
        verify_new(engine)
    assert engine.list() == []


def test_a_stopped_container_cannot_be_verified(engine: Engine) -> None:
    result = run(engine, ["true"], keep=True)
    with pytest.raises(StockadeError, match="needs it running"):
        verify_container(engine, result.info.handle)


def test_the_probe_runs_in_an_image_without_a_shell(engine: Engine) -> None:
    # Strip the tree down to the static busybox running `sleep`: no shell, no libc, no
    # other program. The probe needs none of them.
    name = start_detached(engine, ["sleep", "300"])
    rootfs = engine.volumes.rootfs(engine.layout.container(name)).merged
    for directory in ("bin", "sbin", "usr/bin", "usr/sbin"):
        for entry in (rootfs / directory).iterdir():
            if entry.name not in ("busybox", "sleep"):
                entry.unlink()
    assert not list(rootfs.rglob("sh")) and not list(rootfs.rglob("libc*"))
    report = verify_container(engine, name)
    assert report.passed, _failures(report)


# -- the command line ------------------------------------------------------------------------

@dataclass(frozen=True)
class Cli:
    daemon: Daemon

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.daemon.cli(*args)


@pytest.fixture
def cli(daemon: Daemon) -> Cli:
    return Cli(daemon)


def test_cli_verify_without_a_handle_exits_0_and_leaves_nothing(cli: Cli) -> None:
    result = cli("verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Escape battery" in result.stdout and "VERIFIED" in result.stdout
    assert json.loads(cli("ps", "-a", "--json").stdout) == []


def test_cli_verify_json_and_strict(cli: Cli) -> None:
    data = json.loads(cli("verify", "--json").stdout)
    assert data["passed"] is True and data["counts"]["fail"] == 0
    strict = cli("verify", "--strict", "--json")
    assert strict.returncode == 0  # every layer is enforced: no gap to be strict about
    assert json.loads(strict.stdout)["counts"]["gap"] == 0


def test_cli_verify_of_a_weakened_container_exits_1(cli: Cli) -> None:
    handle = cli("run", "-d", "--unsafe-disable-seccomp", "--", "sleep", "300").stdout.strip()
    result = cli("verify", handle, "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert {c["id"] for c in data["checks"] if c["status"] == "fail"} == SECCOMP_ROWS
    assert data["unsafe"] == ["disable_seccomp"]
    table = cli("verify", handle)
    assert table.returncode == 1 and "UNSAFE" in table.stdout and "NOT VERIFIED" in table.stdout


def test_cli_verify_of_an_unknown_container_is_a_platform_error(cli: Cli) -> None:
    result = cli("verify", "no-such-box")
    assert result.returncode == 125 and "no such container" in result.stderr
