"""The command line as a user meets it: output, exit codes, one-line errors, no leftovers."""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.daemonkit import Daemon

pytestmark = pytest.mark.integration
STOCKADE = str(Path(sys.executable).with_name("stockade"))


@dataclass(frozen=True)
class Cli:
    """The command line against a private daemon."""

    daemon: Daemon

    @property
    def env(self) -> dict[str, str]:
        return self.daemon.env

    def __call__(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return self.daemon.cli(*args, stdin=stdin)


@pytest.fixture
def cli(daemon: Daemon) -> Cli:
    return Cli(daemon)


def test_run_prints_output_and_exits_with_the_code(cli: Cli) -> None:
    result = cli("run", "--rm", "--name", "gone-soon", "--", "sh", "-c", "echo hi; exit 3")
    assert (result.returncode, result.stdout) == (3, "hi\n")
    # run --rm returns once it has the exit code; the daemon removes the container then
    deadline = time.monotonic() + 10
    while "gone-soon" in cli("ps", "-a", "-q").stdout.split():
        assert time.monotonic() < deadline, "the daemon did not remove a --rm container"
        time.sleep(0.1)


def test_run_uses_the_embedded_image_by_default(cli: Cli) -> None:
    result = cli("run", "--rm", "--", "sh", "-c", "echo hi")
    assert result.returncode == 0 and result.stdout == "hi\n"


def test_interactive_run_passes_stdin(cli: Cli) -> None:
    result = cli("run", "--rm", "-i", "--", "cat", stdin="piped\n")
    assert result.stdout == "piped\n"


def test_detached_lifecycle_with_inspect_contract(cli: Cli) -> None:
    started = cli("run", "-d", "--name", "cli-box", "--memory", "128M", "--pids", "64", "--",
                  "sleep", "300")
    assert started.returncode == 0 and started.stdout.strip() == "cli-box"
    info = json.loads(cli("inspect", "cli-box", "--json").stdout)
    assert {"handle", "state", "image", "ip", "ports", "limits", "pid", "events",
            "properties"} <= set(info)
    assert info["state"] == "running" and info["image"] == "busybox"
    assert info["limits"] == {"memory_bytes": 128 << 20, "cpu_shares": 16, "pids": 64,
                              "disk_bytes": 1 << 30, "cpus": None}
    assert os.path.exists(f"/proc/{info['pid']}")
    assert [c["handle"] for c in json.loads(cli("ps", "--json").stdout)] == ["cli-box"]
    execd = cli("exec", "cli-box", "--", "sh", "-c", "echo inside; exit 5")
    assert (execd.returncode, execd.stdout) == (5, "inside\n")
    assert cli("stop", "--time", "1", "cli-box").returncode == 0
    assert json.loads(cli("inspect", "cli-box", "--json").stdout)["state"] == "stopped"
    assert cli("destroy", "cli-box").returncode == 0
    assert json.loads(cli("ps", "-a", "--json").stdout) == []


def test_oom_is_reported_by_run_and_inspect(cli: Cli) -> None:
    result = cli("run", "--name", "oom-box", "--memory", "16M", "--", "sh", "-c",
                 'x=$(head -c 100000000 /dev/zero | tr "\\0" a)')
    assert result.returncode == 137
    assert "out of memory" in result.stderr
    assert "out of memory" in json.loads(cli("inspect", "oom-box", "--json").stdout)["events"]


@pytest.mark.parametrize("args", [
    ["run", "--image", "nope", "--", "true"],
    ["run", "--memory", "lots", "--", "true"],
    ["run", "--memory", "-5M", "--", "true"],
    ["run", "--memory", "999999T", "--", "true"],
    ["run", "--pids", "-1", "--", "true"],
    ["run", "--pids", "999999999", "--", "true"],
    ["run", "--cpu-shares", "0", "--", "true"],
    ["run", "--name", "../etc", "--", "true"],
    ["run", "--name", "a/b", "--", "true"],
    ["run", "--", "/definitely/not/here"],
    ["run", "--env", "1BAD=x", "--", "true"],
    ["run", "-v", "/etc:/mnt", "--", "true"],
    ["run", "--cap-add", "SYS_ADMIN", "--", "true"],
    ["exec", "no-such-box", "--", "true"],
    ["inspect", "no-such-box"],
    ["destroy", "no-such-box"],
])
def test_bad_input_gets_one_clear_line_and_leaves_nothing(cli: Cli, args: list[str]) -> None:
    result = cli(*args)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(cli("ps", "-a", "--json").stdout) == []


def test_a_second_create_with_the_same_handle_is_refused(cli: Cli) -> None:
    assert cli("create", "--name", "twin", "--", "true").returncode == 0
    second = cli("create", "--name", "twin", "--", "true")
    assert second.returncode != 0 and "already exists" in second.stderr
    assert [c["state"] for c in json.loads(cli("ps", "-a", "--json").stdout)] == ["created"]


def test_info_reports_the_mac_layer_honestly(cli: Cli) -> None:
    data = json.loads(cli("info", "--json").stdout)
    host = data["host"]
    assert data["mac"] == ("apparmor" if host["apparmor"]["available"] else
                           "landlock" if host["landlock"]["available"] else "none")
    assert host["runc"]["available"] and host["user_namespaces"]["available"]


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_tty_run_gets_a_terminal(cli: Cli) -> None:
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([STOCKADE, "--socket", str(cli.daemon.socket), "run", "--rm", "-t",
                             "--", "sh",
                             "-c", "tty; test -t 1 && echo IS-A-TTY"],
                            stdin=slave, stdout=slave, stderr=slave, env=cli.env)
    os.close(slave)
    output = _read_all(master).decode(errors="replace")
    os.close(master)
    assert proc.wait(timeout=60) == 0
    assert "/dev/pts/" in output and "IS-A-TTY" in output
