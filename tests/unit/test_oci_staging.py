"""stockade-oci's per-container directories and its fast path's decisions."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockade.oci import staging
from stockade.oci.rootfs import overlay_layers

_PATH_CHARS = st.characters(blacklist_characters=":,=\\\0\n", blacklist_categories=["Cs"])


@given(st.text(_PATH_CHARS, min_size=1, max_size=40).map(lambda t: "/" + t))
def test_runc_root_names_round_trip(root: str) -> None:
    name = staging.container_dir(root, "c1").split("/")[3]
    assert "/" not in name
    assert staging.unquote(name) == os.path.abspath(root)


@pytest.mark.parametrize("container_id, ok", [
    ("c1", True), ("a.b-c_d+e", True), ("0" * 64, True), ("", False), (".", False),
    ("..", False), ("a/b", False), ("é", False), ("a b", False)])
def test_container_ids_follow_runcs_rule(container_id: str, ok: bool) -> None:
    assert staging.valid_id(container_id) is ok


@given(st.lists(st.text(_PATH_CHARS, min_size=1, max_size=20).map(lambda t: "/l/" + t),
                min_size=1, max_size=5))
def test_overlay_lower_dirs_round_trip(lower: list[str]) -> None:
    options = f"rw,lowerdir={':'.join(lower)},upperdir=/u,workdir=/w,index=off"
    assert overlay_layers(options) == (lower, "/u", "/w", ["index=off"])


def test_sweep_removes_only_stale_directories_runc_forgot(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "STAGING", str(tmp_path / "staging"))
    root = tmp_path / "runc"
    (root / "alive").mkdir(parents=True)
    (root / "alive" / "state.json").write_text("{}")
    for name in ("alive", "gone", "young"):
        Path(staging.container_dir(str(root), name), "rootfs").mkdir(parents=True)
    old = 1_000_000.0
    for name in ("alive", "gone"):
        os.utime(staging.container_dir(str(root), name), (old, old))
    staging.sweep(now=old + staging.ORPHAN_AFTER + 1)
    assert not Path(staging.container_dir(str(root), "gone")).exists()
    assert Path(staging.container_dir(str(root), "alive")).exists()
    assert Path(staging.container_dir(str(root), "young")).exists()  # maybe mid-create


def _main(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """stockade-oci's main with a fake runc that prints what it was given."""
    fake = tmp_path / "fake-runc"
    fake.write_text("#!/bin/sh\necho \"runc $*\"\n")
    fake.chmod(0o755)
    env = {**os.environ, "STOCKADE_OCI_RUNC": str(fake),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", "from stockade.oci.main import main; main()",
                           *args], capture_output=True, text=True, env=env, check=False,
                          timeout=60)


def test_fast_path_execs_runc_with_the_same_arguments(tmp_path: Path) -> None:
    argv = ["--root", "/r", "--log-format", "json", "kill", "c1", "KILL"]
    assert _main(tmp_path, *argv).stdout == f"runc {' '.join(argv)}\n"
    version = _main(tmp_path, "--version").stdout.splitlines()
    assert version[0].startswith("stockade-oci version ") and version[1] == "runc --version"


def test_fast_path_imports_nothing_heavy() -> None:
    code = ("import sys; from stockade.oci import main, argv, runc, delete; "
            "heavy = [m for m in ('pydantic', 'stockade.policy', 'json', 'subprocess') "
            "if m in sys.modules]; print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_unreadable_create_fails_closed_with_runcs_log_format(tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    done = _main(tmp_path, "--log", str(log), "--log-format", "json", "create", "--bundel",
                 "/b", "c1")
    assert done.returncode == 1 and "runc" not in done.stdout
    assert "unknown flag '--bundel'" in done.stderr
    assert '"level": "error"' in log.read_text()


def _exec_state(tmp_path: Path, apparmor: str, label: str) -> Path:
    root = tmp_path / "runc"
    (root / "c1").mkdir(parents=True)
    config = {"capabilities": {"Bounding": ["CAP_KILL"]}, "apparmor_profile": apparmor,
              "process_label": label}
    (root / "c1" / "state.json").write_text(json.dumps({"config": config}))
    return root


def test_exec_keeps_the_inits_lsm_labels(tmp_path: Path) -> None:
    """An exec'd process gets the init's AppArmor profile and SELinux label, whatever the
    orchestrator's copy of the spec says, and may not ask for others."""
    fake = tmp_path / "fake-runc"
    fake.write_text('#!/bin/sh\nfor a; do case "$a" in /proc/self/fd/*) cat "$a";; esac; '
                    "done\n")
    fake.chmod(0o755)
    env = {**os.environ, "STOCKADE_OCI_RUNC": str(fake), "PYTHONPATH": os.pathsep.join(sys.path)}
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["sh"], "apparmorProfile": "unconfined",
                                   "selinuxLabel": "system_u:system_r:spc_t:s0"}))

    def stockade_oci(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from stockade.oci.main import main; "
                               "main()", "--root", str(root), "exec", *args],
                              capture_output=True, text=True, env=env, check=False, timeout=60)

    confined = _exec_state(tmp_path / "a", "stockade-default", "")
    done = stockade_oci(confined, "--process", str(process), "c1")
    assert done.returncode == 0, done.stderr
    handed = json.loads(done.stdout)
    assert handed["apparmorProfile"] == "stockade-default"
    assert "selinuxLabel" not in handed and handed["noNewPrivileges"] is True
    plain = _exec_state(tmp_path / "b", "", "")
    handed = json.loads(stockade_oci(plain, "--process", str(process), "c1").stdout)
    assert "apparmorProfile" not in handed and "selinuxLabel" not in handed
    for flag, value in (("--apparmor", "unconfined"), ("--process-label", "spc_t")):
        refused = stockade_oci(confined, flag, value, "c1", "true")
        assert refused.returncode == 1, refused.stdout
        assert f"exec may not change the {flag[2:]} to '{value}'" in refused.stderr
    same = stockade_oci(confined, "--apparmor", "stockade-default", "c1", "true")
    assert same.returncode == 0, same.stderr
