"""The host baseline through a real daemon: `stockade host check` against /proc read by
hand, the score in `stockade info` and the daemon's log, drift events when a checked sysctl
changes and back, `host harden` apply/revert audited and leaving every value as found, and
the host's packages matched once a fixture database is loaded. The drop-in lives under the
test's tmp_path; every sysctl the test touches is put back in a finally."""

import contextlib
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stockade.host import baseline, hostcheck
from tests.daemonkit import Daemon

pytestmark = pytest.mark.integration
FIXTURE = Path(__file__).resolve().parents[1] / "unit" / "data" / "osv-debian12.json"
DRIFTING = "kernel.dmesg_restrict"


def _proc(name: str) -> Path:
    return Path("/proc/sys/" + name.replace(".", "/"))


def snapshot() -> dict[str, str | None]:
    return {rule.name: hostcheck.read(str(_proc(rule.name))) for rule in baseline.SYSCTLS}


@pytest.fixture
def host_daemon(daemon: Daemon, tmp_path: Path) -> Iterator[tuple[Daemon, Path]]:
    """The daemon restarted with a fast re-check and a private drop-in; every checked
    sysctl is restored afterwards, whatever happened."""
    dropin = tmp_path / "sysctl.d" / "60-stockade-hardening.conf"
    config = tmp_path / "stockade.toml"
    config.write_text(f'host_check_interval_s = 0.3\nhost_sysctl_dropin = "{dropin}"\n')
    before = snapshot()
    daemon.stop()
    daemon.start(config)
    try:
        yield daemon, dropin
    finally:
        for name, value in before.items():
            if value is not None and hostcheck.read(str(_proc(name))) != value:
                with contextlib.suppress(OSError):
                    _proc(name).write_text(value)


def _cli_json(daemon: Daemon, *args: str, code: int = 0) -> Any:
    done = daemon.cli(*args, "--json")
    assert done.returncode == code, done.stderr
    return json.loads(done.stdout)


def test_check_reports_what_proc_says(host_daemon: tuple[Daemon, Path]) -> None:
    daemon, _ = host_daemon
    done = daemon.cli("host", "check", "--json")
    report = json.loads(done.stdout)
    items = {item["name"]: item for item in report["items"]}
    assert done.returncode == (1 if report["failed"] else 0)
    for rule in baseline.SYSCTLS:
        raw = hostcheck.read(str(_proc(rule.name)))
        assert items[rule.name]["evidence"] == ("absent" if raw is None else raw.strip())
    maxkeys = hostcheck.read("/proc/sys/kernel/keys/maxkeys")
    assert f"maxkeys={(maxkeys or '').strip()}" in items["kernel.keys quota"]["evidence"]
    lsms, _ = hostcheck.active_lsms()
    for name in ("apparmor", "landlock", "bpf"):
        assert items[f"lsm.{name}"]["status"] == ("pass" if name in (lsms or ()) else "fail")
    assert items["tool.runc"]["reason"].startswith("runc ")
    assert str(daemon.root) in items["mount.state_root"]["evidence"]
    assert items["packages.vulnerabilities"]["status"] == "n/a"
    assert "stockade vulndb update --from FILE" in items["packages.vulnerabilities"]["reason"]
    passed = sum(1 for i in items.values() if i["status"] == "pass")
    judged = sum(1 for i in items.values() if i["status"] != "n/a")
    assert report["summary"].startswith(f"host baseline {passed}/{judged} passed")

    table = daemon.cli("host", "check")
    assert report["summary"] in table.stdout.replace("\n", " ") or \
        f"host baseline {passed}/{judged}" in table.stdout
    info = _cli_json(daemon, "info")
    assert info["host_baseline"].startswith("host baseline ")
    assert "host baseline" in daemon.cli("info").stdout
    assert f"host baseline {passed}/{judged} passed" in daemon.log.read_text()


def _audit(daemon: Daemon) -> list[dict[str, Any]]:
    path = daemon.root / "audit" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _host_events(daemon: Daemon, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    with daemon.client() as client:
        while time.monotonic() < deadline:
            found = [e for e in client.events_json(0, wait_s=1)
                     if e["handle"] == "" and e["kind"] == "host drift"]
            if found:
                return found
    return []


def test_a_changed_sysctl_raises_a_drift_event(host_daemon: tuple[Daemon, Path]) -> None:
    daemon, _ = host_daemon
    original = hostcheck.read(str(_proc(DRIFTING)))
    assert original is not None
    if original.strip() != "1":  # it must pass first for a change to be drift
        _proc(DRIFTING).write_text("1")
        time.sleep(1.0)  # one re-check sees it passing
    assert _host_events(daemon, 0.5) == []
    try:
        _proc(DRIFTING).write_text("0")
        found = _host_events(daemon, 15)
    finally:
        _proc(DRIFTING).write_text(original)
    assert found, "no drift event"
    assert found[0]["detail"].startswith(f"{DRIFTING} changed from 1 (pass) to 0 (fail)")
    trail = _audit(daemon)
    assert any(r["action"] == "host drift" and r["details"]["item"] == DRIFTING
               for r in trail)


def test_harden_apply_then_revert_through_the_daemon(host_daemon: tuple[Daemon, Path]) -> None:
    daemon, dropin = host_daemon
    before = snapshot()
    plan = _cli_json(daemon, "host", "harden")
    assert plan["dry_run"] is True and snapshot() == before and not dropin.exists()
    applied = _cli_json(daemon, "host", "harden", "--apply")
    assert [c["name"] for c in applied["changes"]] == [c["name"] for c in plan["changes"]]
    if applied["changes"]:
        assert dropin.exists()
        for change in applied["changes"]:
            assert (hostcheck.read(str(_proc(change["name"]))) or "").strip() == change["after"]
    time.sleep(1.0)  # the re-check after harden sees no drift in its own changes
    assert _host_events(daemon, 0.5) == []
    reverted = _cli_json(daemon, "host", "harden", "--revert")
    assert {c["name"] for c in reverted["changes"]} == {c["name"] for c in applied["changes"]}
    assert snapshot() == before and not dropin.exists()
    audited = {(r["action"], r["details"]["sysctl"]) for r in _audit(daemon)
               if r["action"].startswith("host harden")}
    for change in applied["changes"]:
        assert {("host harden apply", change["name"]),
                ("host harden revert", change["name"])} <= audited
    both = daemon.cli("host", "harden", "--apply", "--revert")
    assert both.returncode == 125 and both.stderr.count("\n") == 1, both.stderr


def test_loaded_database_matches_the_hosts_packages(host_daemon: tuple[Daemon, Path]) -> None:
    daemon, _ = host_daemon
    loaded = daemon.cli("vulndb", "update", "--from", str(FIXTURE))
    assert loaded.returncode == 0, loaded.stderr
    report = json.loads(daemon.cli("host", "check", "--json").stdout)
    item = next(i for i in report["items"] if i["name"] == "packages.vulnerabilities")
    assert item["status"] == "fail", item
    assert report["findings"] and any(f["package"] == "runc" for f in report["findings"])
    shown = daemon.cli("host", "check").stdout
    assert any(f["id"] in shown for f in report["findings"])


def test_verify_shows_the_host_row_without_judging_by_it(
        host_daemon: tuple[Daemon, Path]) -> None:
    daemon, _ = host_daemon
    done = daemon.cli("verify", "--json", timeout=300)
    report = json.loads(done.stdout)
    assert re.match(r"host baseline \d+/\d+ passed", report["host"]), report["host"]
    # the container's proof is its own rows alone, whatever the host baseline says
    assert report["passed"] == (report["counts"]["fail"] == 0)
    assert done.returncode == (0 if report["passed"] else 1)
    shown = daemon.cli("verify", timeout=300).stdout
    assert "host (informational" in shown
