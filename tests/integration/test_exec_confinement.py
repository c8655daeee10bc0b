"""Execution and writes really limited (issue 16 part 2): the init's rule paths never follow a
symlink, and /app is executable at run time but not writable unless asked."""

import errno
import subprocess
import sys
from pathlib import Path

import pytest

from stockade import native
from stockade.engine import Engine
from stockade.runtime import memfd
from tests.integration.helpers import exec_capture, run, start_detached

pytestmark = pytest.mark.integration


def test_a_writable_rule_through_a_symlink_to_root_grants_nothing(tmp_path: Path) -> None:
    init = native.binary("init", tmp_path / "helpers")
    (tmp_path / "tmp").symlink_to("/")  # the image's /tmp is a symlink to /
    (tmp_path / "real").mkdir()
    target = tmp_path / "outside"
    script = f"touch {target} && echo WROTE; touch {tmp_path}/real/ok && echo REAL"
    done = subprocess.run([init, "-e", "-x", "/usr", "-w", str(tmp_path / "tmp"),
                           "-w", str(tmp_path / "real"),
                           "--", "/usr/bin/busybox", "sh", "-c", script],
                          capture_output=True, text=True, check=False, timeout=30)
    assert "WROTE" not in done.stdout and not target.exists()
    assert "REAL" in done.stdout  # a plain directory rule still grants
    assert f"{tmp_path}/tmp holds a symlink: no access granted through it" in done.stderr


def test_app_is_executable_but_not_writable_by_default(engine: Engine) -> None:
    script = "echo x > /app/new && echo WROTE; echo x > /tmp/ok && echo TMP"
    result = run(engine, ["sh", "-c", script], process={"user": "root"})
    assert "WROTE" not in result.out and "TMP" in result.out
    assert "Permission denied" in result.err


def test_app_is_writable_when_asked(engine: Engine) -> None:
    result = run(engine, ["sh", "-c", "echo x > /app/new && echo WROTE"],
                 process={"user": "root"}, writable_paths=["/app"])
    assert "WROTE" in result.out, result.err


MEMFD_TRY = Path(__file__).with_name("memfd_exec.py")


@pytest.mark.skipif(not memfd.available(), reason="vm.memfd_noexec needs Linux 6.3+")
def test_anonymous_memory_files_cannot_be_executed_in_a_container(engine: Engine) -> None:
    name = start_detached(engine, ["sleep", "300"])
    _, out = exec_capture(engine, name, ["cat", "/proc/sys/vm/memfd_noexec"])
    assert out.strip() == "2"
    # the host's python in the container's pid namespace: the setting is the namespace's
    pid = engine.inspect(name).pid
    done = subprocess.run(["nsenter", "-t", str(pid), "-p", "--", sys.executable,
                           str(MEMFD_TRY)], capture_output=True, text=True, check=False,
                          timeout=30)
    lines = dict(line.split() for line in done.stdout.splitlines())
    assert lines == {"exec_flag": str(errno.EACCES), "chmod": str(errno.EPERM),
                     "execveat": str(errno.EACCES)}, done.stdout + done.stderr
