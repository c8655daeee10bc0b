"""Host probing: v1 and v2 cgroup layouts and the live kernel."""

from pathlib import Path

from stockade.host import probe
from stockade.host.probe import landlock_detail, probe_cgroups


def test_cgroup_v2_lists_its_controllers(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    assert probe_cgroups(str(tmp_path)) == (2, ("cpu", "memory", "pids"))


def test_cgroup_v1_lists_mounted_hierarchies(tmp_path: Path) -> None:
    for name in ("memory", "pids", "unified"):
        (tmp_path / name).mkdir()
    assert probe_cgroups(str(tmp_path)) == (1, ("memory", "pids"))


def test_live_probe_is_consistent() -> None:
    host = probe()
    assert host.cpus >= 1 and host.nofile_hard > 0
    assert host.landlock.available == (host.landlock_abi > 0)
    assert host.mac in ("apparmor", "landlock", "none")
    if not host.apparmor.available:
        assert host.apparmor.detail  # the reason is always given


def test_landlock_detail_says_which_rules_the_abi_has() -> None:
    assert landlock_detail(0) == "landlock_create_ruleset unavailable"
    assert "filesystem rules only" in landlock_detail(3) and "ABI 4" in landlock_detail(3)
    assert "TCP bind/connect rules" in landlock_detail(4)
