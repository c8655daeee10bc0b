"""The shipped AppArmor profile compiles, and says what it must deny."""

import shutil
import subprocess
from pathlib import Path

import pytest

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


# The parser drops signal rules unless the feature set it compiles for mediates signals;
# this host has no AppArmor LSM, so the features come from the packaged ABI file.
_ABI_FEATURES = Path("/etc/apparmor.d/abi/3.0")


def _compiled(profile: Path, includes: Path, out: Path) -> bytes:
    parser = shutil.which("apparmor_parser")
    if parser is None:
        pytest.skip("apparmor_parser is not installed (Debian's apparmor package)")
    proc = subprocess.run([parser, "-Q", "-K", "-M", str(_ABI_FEATURES), "-I", str(includes),
                           "-o", str(out), str(profile)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return out.read_bytes()


def test_profile_itself_lets_the_unconfined_host_signal_containers(tmp_path: Path) -> None:
    # runc kill (stop, destroy) runs unconfined. An empty abstractions/base found first
    # on the include path proves the grant is the profile's own, not the distribution's.
    includes = tmp_path / "include"
    (includes / "abstractions").mkdir(parents=True)
    (includes / "abstractions" / "base").write_text("")
    text = apparmor.PROFILE.read_text()
    assert "signal (receive) peer=unconfined," in text
    widened = tmp_path / "widened"
    closing = text.rindex("}")
    widened.write_text(text[:closing] + "  signal (receive) peer=unconfined,\n" + text[closing:])
    stripped = tmp_path / "stripped"
    stripped.write_text(text.replace("signal (receive) peer=unconfined,", ""))
    ours = _compiled(apparmor.PROFILE, includes, tmp_path / "ours.bin")
    # granting it once more changes nothing, so the compiled profile already grants it
    assert _compiled(widened, includes, tmp_path / "widened.bin") == ours
    # and the comparison can see the difference: without the rule the policy is another
    assert _compiled(stripped, includes, tmp_path / "stripped.bin") != ours
