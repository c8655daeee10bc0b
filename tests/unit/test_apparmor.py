"""The shipped AppArmor profile compiles, and says what it must deny."""

from pathlib import Path

from stockade.policy.compile import APPARMOR_PROFILE
from stockade.runtime import apparmor


def test_profile_compiles_with_apparmor_parser(tmp_path: Path) -> None:
    output = tmp_path / "profile.bin"
    apparmor.compile_profile(output)
    assert output.stat().st_size > 0


def test_profile_denies_mount_proc_sys_writes_foreign_ptrace_and_raw_sockets() -> None:
    text = apparmor.PROFILE.read_text()
    assert f"profile {APPARMOR_PROFILE} " in text
    for rule in ("deny mount,", "deny @{PROC}/sys/** w,", "deny /sys/** wklx,",
                 "deny ptrace (trace, read) peer=unconfined,", "deny network raw,",
                 "deny network packet,"):
        assert rule in text, rule
