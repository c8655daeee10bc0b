"""`host harden` on this very host: apply sets every failing safe sysctl through /proc/sys
and writes one drop-in; revert leaves every checked sysctl exactly as found. Private state
and drop-in paths, so /etc/sysctl.d is never touched; the finally puts every value back
even when an assertion fails."""

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.host import baseline, harden, hostcheck
from stockade.host.baseline import Report

pytestmark = pytest.mark.integration


def snapshot() -> dict[str, str | None]:
    names = [rule.name for rule in baseline.SYSCTLS] + [name for name, _ in baseline.RISKY]
    return {name: hostcheck.read("/proc/sys/" + name.replace(".", "/")) for name in names}


@pytest.fixture
def restored() -> Iterator[dict[str, str | None]]:
    before = snapshot()
    try:
        yield before
    finally:
        for name, value in before.items():
            if value is not None and hostcheck.read(
                    "/proc/sys/" + name.replace(".", "/")) != value:
                with contextlib.suppress(OSError):
                    Path("/proc/sys/" + name.replace(".", "/")).write_text(value)


def sysctl_report() -> Report:
    return Report(hostcheck.sysctl_items())


def test_apply_then_revert_leaves_every_value_as_it_was(
        tmp_path: Path, restored: dict[str, str | None]) -> None:
    state, dropin = tmp_path / "state" / harden.STATE_NAME, tmp_path / "60-test.conf"
    report = sysctl_report()
    safe = {r.name for r in baseline.SYSCTLS if r.harden is not None}
    failing_safe = [i.name for i in report.items if i.status == "fail" and i.name in safe]
    if not failing_safe:  # make one fail, so apply has work; the fixture puts it back
        Path("/proc/sys/fs/protected_fifos").write_text("0")
        report = sysctl_report()
        failing_safe = ["fs.protected_fifos"]

    planned = harden.apply(report, state, dropin, dry_run=True)
    assert {c.name for c in planned.changes} == set(failing_safe)
    assert snapshot() == restored and not dropin.exists() and not state.exists()

    done = harden.apply(report, state, dropin)
    assert [vars(c) for c in done.changes] == [vars(c) for c in planned.changes]
    after = {i.name: i for i in sysctl_report().items}
    assert all(after[name].status == "pass" for name in failing_safe)
    written = dict(line.split(" = ") for line in dropin.read_text().splitlines()
                   if not line.startswith("#"))
    assert set(written) == set(failing_safe)
    assert (state.stat().st_mode & 0o777) == 0o600
    # a second apply finds nothing to change and keeps the first values to restore
    assert harden.apply(sysctl_report(), state, dropin).changes == []

    undone = harden.revert(state, dropin)
    assert {c.name for c in undone.changes} == set(failing_safe)
    assert snapshot() == restored
    assert not dropin.exists() and not state.exists()
    assert harden.revert(state, dropin).changes == []  # safe twice


def test_one_way_switches_are_reported_not_changed(restored: dict[str, str | None],
                                                   tmp_path: Path) -> None:
    report = Report([*sysctl_report().items, baseline.Item(
        "mount.state_root", "mount", "fail", "/x on /", "mount -o remount,nodev,nosuid /")])
    outcome = harden.apply(report, tmp_path / "s.json", tmp_path / "d.conf", dry_run=True)
    named = {r["name"]: r["command"] for r in outcome.reported}
    assert named["mount.state_root"].startswith("mount -o remount")
    kexec = restored["kernel.kexec_load_disabled"]
    if kexec is not None and kexec.strip() != "1":
        assert "reboot" in named["kernel.kexec_load_disabled"]
    assert "kernel.kexec_load_disabled" not in {c.name for c in outcome.changes}
    assert snapshot() == restored


def test_a_broken_state_file_is_one_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    state.write_text("{not json")
    with pytest.raises(harden.HardenError, match="unreadable hardening state"):
        harden.revert(state, tmp_path / "d.conf")
    assert state.read_text() == "{not json"


def test_a_drop_in_of_another_root_is_not_taken_over(tmp_path: Path,
                                                      restored: dict[str, str | None]) -> None:
    dropin = tmp_path / "60-test.conf"
    dropin.write_text("kernel.kptr_restrict = 1\n")
    with pytest.raises(harden.HardenError, match="another Stockade root applied it"):
        harden.apply(sysctl_report(), tmp_path / "s.json", dropin)
    assert snapshot() == restored and not (tmp_path / "s.json").exists()
