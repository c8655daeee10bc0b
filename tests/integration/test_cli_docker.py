"""Docker's shape of the command line (issue 18 part 3), each through a private daemon."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.daemonkit import Daemon
from tests.integration.netfixtures import http_get

pytestmark = pytest.mark.integration


def _state(daemon: Daemon, handle: str) -> dict[str, object]:
    shown = daemon.cli("inspect", handle, "--json")
    assert shown.returncode == 0, shown.stderr
    result: dict[str, object] = json.loads(shown.stdout)
    return result


def _one_line_error(result: subprocess.CompletedProcess[str], code: int = 125) -> str:
    assert result.returncode == code, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    return lines[0]


def test_rm_refuses_a_running_container_without_force(daemon: Daemon) -> None:
    assert daemon.cli("run", "-d", "--name", "rm-live", "--", "sleep", "300").returncode == 0
    refused = daemon.cli("rm", "rm-live")
    assert "running" in _one_line_error(refused) and "-f" in refused.stderr
    assert _state(daemon, "rm-live")["state"] == "running"  # refused loses nothing
    forced = daemon.cli("rm", "-f", "rm-live")
    assert (forced.returncode, forced.stdout) == (0, "rm-live\n")
    _one_line_error(daemon.cli("inspect", "rm-live"))
    assert daemon.client().list() == []


def test_rm_removes_stopped_and_created_containers(daemon: Daemon) -> None:
    assert daemon.cli("run", "--name", "rm-done", "--", "true").returncode == 0
    assert daemon.cli("create", "--name", "rm-new", "--", "true").returncode == 0
    removed = daemon.cli("rm", "rm-done", "rm-new")
    assert (removed.returncode, removed.stdout) == (0, "rm-done\nrm-new\n")
    assert daemon.client().list() == []
    _one_line_error(daemon.cli("rm", "rm-done"))


def test_kill_sends_the_named_signal_and_wait_prints_the_code(daemon: Daemon) -> None:
    # the shell traps USR1 and exits 7: the code shows which signal arrived
    script = "trap 'exit 7' USR1; while true; do sleep 0.1; done"
    assert daemon.cli("run", "-d", "--name", "k-usr1", "--", "sh", "-c", script).returncode == 0
    assert daemon.cli("run", "-d", "--name", "k-kill", "--", "sleep", "300").returncode == 0
    assert daemon.cli("kill", "-s", "SIGUSR1", "k-usr1").stdout == "k-usr1\n"
    assert daemon.cli("kill", "k-kill").returncode == 0  # KILL by default
    waited = daemon.cli("wait", "k-usr1", "k-kill")
    assert (waited.returncode, waited.stdout) == (0, "7\n137\n")
    assert _state(daemon, "k-kill")["state"] == "stopped"
    assert "not running" in _one_line_error(daemon.cli("kill", "k-kill"))
    assert "signal" in _one_line_error(daemon.cli("kill", "-s", "BOGUS", "k-usr1"))
    daemon.cli("rm", "k-usr1", "k-kill")


def test_wait_blocks_until_the_process_ends(daemon: Daemon) -> None:
    assert daemon.cli("run", "-d", "--name", "w-slow", "--", "sh", "-c",
                      "sleep 2; exit 4").returncode == 0
    waited = daemon.cli("wait", "w-slow")
    assert (waited.returncode, waited.stdout) == (0, "4\n")
    _one_line_error(daemon.cli("wait", "no-such-box"))
    daemon.cli("rm", "w-slow")


def test_ps_lists_running_by_default_and_filters(daemon: Daemon) -> None:
    assert daemon.cli("run", "-d", "--name", "ps-web", "--", "sleep", "300").returncode == 0
    assert daemon.cli("run", "--name", "ps-done", "--", "true").returncode == 0
    assert daemon.cli("create", "--name", "ps-new", "--", "true").returncode == 0
    with daemon.client() as client:
        client.set_properties("ps-web", {"tier": "front"})
        client.set_properties("ps-done", {"tier": "back"})

    def handles(*args: str) -> list[str]:
        listed = daemon.cli("ps", *args)
        assert listed.returncode == 0, listed.stderr
        return sorted(listed.stdout.split())

    assert handles("-q") == ["ps-web"]
    assert handles("-a", "-q") == ["ps-done", "ps-new", "ps-web"]
    assert [c["handle"] for c in json.loads(daemon.cli("ps", "--json").stdout)] == ["ps-web"]
    assert handles("-q", "--filter", "status=exited") == ["ps-done"]  # docker's alias
    assert handles("-q", "-f", "status=created", "-f", "status=stopped") == [
        "ps-done", "ps-new"]
    assert handles("-aq", "--filter", "label=tier") == ["ps-done", "ps-web"]
    assert handles("-aq", "--filter", "label=tier=back") == ["ps-done"]
    assert handles("-aq", "--filter", "name=ps-", "--filter", "label=tier=front") == ["ps-web"]
    assert handles("-aq", "--filter", "name=nothing") == []
    assert "filter" in _one_line_error(daemon.cli("ps", "--filter", "colour=red"))
    daemon.cli("rm", "-f", "ps-web", "ps-done", "ps-new")


def test_format_on_ps_inspect_and_image_ls(daemon: Daemon) -> None:
    assert daemon.cli("run", "-d", "--name", "fmt-box", "--pids", "48", "--",
                      "sleep", "300").returncode == 0
    shown = daemon.cli("ps", "--format", "{{.handle}} {{.State}} {{.limits.pids}}")
    assert (shown.returncode, shown.stdout) == (0, "fmt-box running 48\n")
    table = daemon.cli("ps", "--format", "table {{.handle}}\\t{{.image}}")
    assert table.stdout.splitlines() == ["HANDLE    IMAGE", "fmt-box   busybox"]
    one = daemon.cli("inspect", "fmt-box", "--format", "{{json .ports}} {{.pid}}")
    ports, pid = one.stdout.split()
    assert json.loads(ports) == [] and int(pid) == _state(daemon, "fmt-box")["pid"]
    whole = json.loads(daemon.cli("inspect", "fmt-box", "--format", "{{json .}}").stdout)
    assert whole["handle"] == "fmt-box" and whole["limits"]["pids"] == 48
    images = daemon.cli("image", "ls", "--format", "{{.name}}={{json .in_use}}")
    assert "busybox=[\"fmt-box\"]" in images.stdout.splitlines(), images.stdout
    # a template is checked before anything runs, and a missing field is one line
    assert "not a field" in _one_line_error(daemon.cli("ps", "--format", "{{call .x}}"))
    assert "no field" in _one_line_error(daemon.cli("inspect", "fmt-box", "--format",
                                                    "{{.nope}}"))
    assert _one_line_error(daemon.cli("image", "ls", "--format", "{{"))
    daemon.cli("rm", "-f", "fmt-box")


def test_run_takes_the_image_first_like_docker(daemon: Daemon) -> None:
    ran = daemon.cli("run", "--rm", "busybox", "echo", "hi")
    assert (ran.returncode, ran.stdout) == (0, "hi\n"), ran.stderr
    embedded = daemon.cli("run", "--rm", "--", "sh", "-c", "echo via dashes")
    assert (embedded.returncode, embedded.stdout) == (0, "via dashes\n")
    alias = daemon.cli("run", "--rm", "--image", "busybox", "--", "echo", "alias")
    assert (alias.returncode, alias.stdout) == (0, "alias\n")
    assert daemon.cli("create", "--name", "cr-img", "busybox", "sh", "-c",
                      "exit 6").returncode == 0
    assert daemon.cli("start", "cr-img").returncode == 0
    assert daemon.cli("wait", "cr-img").stdout == "6\n"
    assert _state(daemon, "cr-img")["command"] == ["sh", "-c", "exit 6"]
    daemon.cli("rm", "cr-img")
    # a missing image is one line and creates nothing
    assert "no-such-image" in _one_line_error(daemon.cli("run", "--rm", "no-such-image",
                                                         "echo", "hi"))
    assert daemon.client().list() == []


def test_restart_runs_it_again_and_top_lists_its_processes(daemon: Daemon) -> None:
    assert daemon.cli("run", "-d", "--name", "again", "--", "sh", "-c",
                      "echo started; sleep 300").returncode == 0
    first = _state(daemon, "again")["pid"]
    restarted = daemon.cli("restart", "--time", "2", "again")
    assert restarted.stdout == "again running\n", restarted.stderr
    assert _state(daemon, "again")["pid"] not in (None, first)
    shown = daemon.cli("top", "again")
    assert shown.returncode == 0 and "sleep 300" in shown.stdout
    assert shown.stdout.splitlines()[0].split()[:2] == ["PID", "USER"]
    assert daemon.cli("logs", "again").stdout == "started\nstarted\n"
    _one_line_error(daemon.cli("restart", "nope"))


def test_cp_copies_both_ways(daemon: Daemon, tmp_path: Path) -> None:
    assert daemon.cli("run", "-d", "--name", "files", "--user", "root", "--", "sh", "-c",
                      "mkdir -p /tmp/out/sub && echo deep > /tmp/out/sub/f && "
                      "sleep 300").returncode == 0
    for _ in range(100):
        if daemon.cli("exec", "files", "test", "-e", "/tmp/out/sub/f").returncode == 0:
            break
    copied = daemon.cli("cp", "files:/tmp/out", str(tmp_path / "here"))
    assert copied.returncode == 0, copied.stderr
    assert (tmp_path / "here/sub/f").read_text() == "deep\n"
    assert (tmp_path / "here/sub/f").stat().st_uid == os.getuid()
    (tmp_path / "send").mkdir()
    (tmp_path / "send/note").write_text("to the box\n")
    sent = daemon.cli("cp", str(tmp_path / "send"), "files:/tmp")
    assert sent.returncode == 0, sent.stderr
    assert daemon.cli("exec", "files", "cat", "/tmp/send/note").stdout == "to the box\n"
    assert "between a container and the host" in _one_line_error(
        daemon.cli("cp", str(tmp_path), str(tmp_path)))
    _one_line_error(daemon.cli("cp", "files:/no/such", str(tmp_path)))


def test_attach_follows_from_now_and_returns_the_exit_code(daemon: Daemon) -> None:
    script = "echo before; sleep 2; echo after; exit 6"
    assert daemon.cli("run", "-d", "--name", "watched", "--", "sh", "-c",
                      script).returncode == 0
    attached = daemon.cli("attach", "--no-stdin", "watched")
    assert attached.returncode == 6, attached.stderr
    assert attached.stdout == "after\n"  # only what came after attaching


def test_run_flags_for_hostname_entrypoint_cpus_and_log_options(daemon: Daemon) -> None:
    ran = daemon.cli("run", "--rm", "--hostname", "web-1", "--entrypoint", "sh",
                     "--cpus", "0.5", "--log-opt", "max-size=1m", "--", "-c",
                     "hostname; cat /sys/fs/cgroup/cpu*/cpu.cfs_quota_us | head -1")
    assert (ran.returncode, ran.stdout) == (0, "web-1\n50000\n"), ran.stderr


def test_publish_on_one_host_address(daemon: Daemon) -> None:
    script = ("mkdir -p /tmp/w && echo hello-lo > /tmp/w/index.html && "
              "exec httpd -f -p 8080 -h /tmp/w")
    started = daemon.cli("run", "-d", "--name", "pub-lo", "-p", "127.0.0.1::8080", "--",
                         "sh", "-c", script)
    assert started.returncode == 0, started.stderr
    ports = _state(daemon, "pub-lo")["ports"]
    assert isinstance(ports, list) and len(ports) == 1
    assert ports[0]["host_ip"] == "127.0.0.1" and ports[0]["container_port"] == 8080
    host_port = ports[0]["host_port"]
    deadline = time.monotonic() + 10
    while (body := http_get("127.0.0.1", host_port, timeout=1)) is None \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert body == "hello-lo"
    listed = daemon.cli("ps")
    assert f"127.0.0.1:{host_port}->8080/tcp" in listed.stdout, listed.stdout
    # the same address and port again: one line; IPv6: one line, before the daemon is asked
    again = daemon.cli("run", "-d", "--name", "pub-again", "-p", f"127.0.0.1:{host_port}:8080",
                       "--", "sleep", "30")
    assert f"127.0.0.1:{host_port}/tcp is already in use" in _one_line_error(again)
    assert "IPv6 is not supported" in _one_line_error(
        daemon.cli("run", "-d", "-p", "[::1]:8080:8080", "--", "true"))
    assert daemon.cli("rm", "-f", "pub-lo").returncode == 0
    assert daemon.client().list() == []
