"""Docker's exit codes for what cannot be run (issue 18, item 4), through a private daemon:
127 for a missing command, 126 for one that cannot be executed, 125 for any other platform
error; each is one line on stderr and leaves nothing half-created."""

import subprocess
import time

import pytest

from tests.containerkit import allowed_dir
from tests.daemonkit import Daemon

pytestmark = pytest.mark.integration


def _one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("stockade: error: "), lines
    assert result.stdout == ""
    return lines[0]


def _nothing_left(daemon: Daemon) -> None:
    # a `run --rm` that ran returns with the exit code; the daemon removes it just after
    deadline = time.monotonic() + 10
    while daemon.client().list() and time.monotonic() < deadline:
        time.sleep(0.1)
    listed = daemon.cli("ps", "-a", "--format", "{{.handle}}")
    assert (listed.returncode, listed.stdout) == (0, ""), listed
    assert daemon.client().list() == []
    containers = daemon.root / "containers"
    assert not containers.exists() or list(containers.iterdir()) == []


def test_a_missing_command_exits_127_and_creates_nothing(daemon: Daemon) -> None:
    for command in (["run", "busybox", "no-such-cmd"], ["run", "-d", "busybox", "no-such-cmd"],
                    ["create", "--name", "c127", "busybox", "/no/such/cmd", "arg"],
                    ["run", "--rm", "--", "no-such-cmd"]):
        line = _one_line_error(daemon.cli(*command), 127)
        assert "command not found" in line and "such" in line, line
        _nothing_left(daemon)


def test_a_command_that_cannot_be_executed_exits_126(daemon: Daemon) -> None:
    line = _one_line_error(daemon.cli("run", "busybox", "/etc/passwd"), 126)
    assert "/etc/passwd" in line and "permission denied" in line
    line = _one_line_error(daemon.cli("run", "--name", "c126", "busybox", "/etc"), 126)
    assert "directory" in line
    _nothing_left(daemon)


def test_other_platform_errors_still_exit_125(daemon: Daemon) -> None:
    assert "no-such-image" in _one_line_error(daemon.cli("run", "no-such-image", "true"), 125)
    assert "nope" in _one_line_error(daemon.cli("start", "nope"), 125)
    _one_line_error(daemon.cli("run", "--memory", "lots", "busybox", "true"), 125)
    _nothing_left(daemon)


def test_exec_gives_the_same_codes_in_a_running_container(daemon: Daemon) -> None:
    assert daemon.cli("run", "-d", "--name", "ex-box", "busybox",
                      "sleep", "300").returncode == 0
    try:
        line = _one_line_error(daemon.cli("exec", "ex-box", "no-such-cmd"), 127)
        assert "no-such-cmd" in line
        _one_line_error(daemon.cli("exec", "ex-box", "/etc"), 126)
        _one_line_error(daemon.cli("exec", "no-box", "true"), 125)
        ran = daemon.cli("exec", "ex-box", "sh", "-c", "exit 3")  # the command's own code
        assert (ran.returncode, ran.stderr) == (3, "")
        with daemon.client() as client:  # a refused exec leaves no process behind
            response = client.transport.request("GET", "/v1/containers/ex-box/processes")
        processes = response.json()
        assert [p["args"] for p in processes] == [["sleep", "300"], ["sh", "-c", "exit 3"]]
    finally:
        daemon.cli("rm", "-f", "ex-box")
    _nothing_left(daemon)


def test_a_command_in_a_bind_is_left_to_the_container_to_find(daemon: Daemon) -> None:
    """A bind is mounted only by runc, after the daemon's check: the check does not judge
    what is under it, and the init's execvp has the last word (127 or 126, its own line)."""
    with allowed_dir() as tools:
        (tools / "hello").write_text("#!/bin/sh\necho from the bind\n")
        (tools / "hello").chmod(0o755)
        bind = f"{tools}:/usr/tools:ro"  # under /usr: Landlock lets the image's dirs execute
        ran = daemon.cli("run", "--rm", "-v", bind, "busybox", "/usr/tools/hello")
        assert (ran.returncode, ran.stdout) == (0, "from the bind\n"), ran.stderr
        missing = daemon.cli("run", "--rm", "-v", bind, "busybox", "/usr/tools/nothing")
        assert missing.returncode == 127, missing
        assert "stockade-init: exec /usr/tools/nothing" in missing.stderr
        # a bind outside the image's program directories: Landlock refuses the exec
        refused = daemon.cli("run", "--rm", "-v", f"{tools}:/tools:ro", "busybox",
                             "/tools/hello")
        assert refused.returncode == 126 and "Permission denied" in refused.stderr, refused
    _nothing_left(daemon)
