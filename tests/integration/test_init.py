"""The container init: reaping, signal forwarding, exit codes and Landlock, seen from inside."""

import subprocess
import time
from pathlib import Path

import pytest

from stockade import native
from stockade.engine import Engine
from stockade.host import probe
from tests import containerkit
from tests.integration.helpers import exec_capture, run, start_detached

pytestmark = pytest.mark.integration


def test_exit_code_is_preserved(engine: Engine) -> None:
    assert run(engine, ["sh", "-c", "exit 42"]).code == 42


def test_a_signal_death_is_reported_as_128_plus_signal(engine: Engine) -> None:
    assert run(engine, ["sh", "-c", "kill -SEGV $$"]).code == 128 + 11


def test_zombies_are_reaped(engine: Engine) -> None:
    # the shell's background child is orphaned to the init when the shell execs away
    name = start_detached(engine, ["sh", "-c", "(sleep 0.2 &) ; exec sleep 300"])
    time.sleep(1.0)
    _, out = exec_capture(engine, name, ["sh", "-c", "grep -l '^State:.*Z' /proc/[0-9]*/status "
                                                     "2>/dev/null | wc -l"])
    assert out.strip() == "0"


def test_signals_are_forwarded_to_the_application(engine: Engine) -> None:
    script = "trap 'echo got-usr1; exit 9' USR1; echo ready; while :; do sleep 0.1; done"
    name = start_detached(engine, ["sh", "-c", script])
    time.sleep(0.5)
    engine.signal(engine.inspect(name).handle, "USR1")
    status = engine.wait(name, 10)
    assert status is not None and status.exit_code == 9
    assert b"got-usr1" in containerkit.output(engine, name)[0]


def test_stop_ends_the_application_with_term(engine: Engine) -> None:
    name = start_detached(engine, ["sleep", "300"])
    started = time.monotonic()
    assert engine.stop(name, timeout=5).exit_code == 143
    assert time.monotonic() - started < 4


@pytest.mark.parametrize("target", ["/etc/motd", "/usr/new", "/bin/x"])
def test_landlock_refuses_writes_outside_the_writable_dirs_even_for_root(
        engine: Engine, target: str) -> None:
    script = f"echo x > {target} && echo WROTE; stat -c %a /etc; echo x > /tmp/ok && echo TMP"
    result = run(engine, ["sh", "-c", script], process={"user": "root"})
    assert "WROTE" not in result.out
    assert "Permission denied" in result.err  # EACCES, though root owns the directory
    assert "TMP" in result.out


def test_landlock_refuses_executing_what_was_written(engine: Engine) -> None:
    script = "cp /bin/busybox /tmp/bb && /tmp/bb true && echo RAN; echo done"
    result = run(engine, ["sh", "-c", script])
    assert "RAN" not in result.out and "Permission denied" in result.err


def test_landlock_applies_to_exec_too(engine: Engine) -> None:
    name = start_detached(engine, ["sleep", "300"])
    _, out = exec_capture(engine, name, ["sh", "-c", "echo x > /etc/x || echo DENIED"])
    assert "DENIED" in out


def test_landlock_protects_proc_and_sys_even_where_another_layer_would_allow(
        engine: Engine) -> None:
    result = run(engine, ["sh", "-c", "echo 1 > /proc/self/oom_score_adj || echo DENIED"])
    assert "DENIED" in result.out


def test_unsafe_disable_mac_turns_landlock_off(engine: Engine) -> None:
    result = run(engine, ["sh", "-c", "echo x > /etc/motd && echo WROTE"],
                 process={"user": "root"}, unsafe={"disable_mac": True})
    assert "WROTE" in result.out
    assert "unsafe: disable_mac" in result.info.events


# -- the network part of Landlock (ABI 4+): TCP bind and connect ---------------------------

needs_network_rules = pytest.mark.skipif(not probe().landlock_network,
                                         reason="this kernel's Landlock has no TCP rules")


def _bind(port: int) -> str:
    """Listen for a second: 143 (timed out listening) when allowed, an error when not."""
    return f"timeout 1 nc -l -p {port}; echo bind-{port}=$?; "


def _connect(port: int) -> str:
    return f"echo | nc 127.0.0.1 {port}; "


@pytest.mark.parametrize("rule", ["0", "9-8", "8080x", "-1", "70000", "80-"])
def test_the_init_refuses_a_malformed_port_rule_rather_than_guess(
        tmp_path: Path, rule: str) -> None:
    init = native.binary("init", tmp_path)
    done = subprocess.run([init, "-e", "-N", "-b", rule, "--", "true"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 126 and f"bad or too many rules at -b {rule}" in done.stderr


@needs_network_rules
def test_landlock_limits_tcp_bind_to_published_and_declared_ports(engine: Engine) -> None:
    script = _bind(9001) + _bind(9002) + _bind(9003)
    result = run(engine, ["sh", "-c", script], process={"user": "root"}, listen_ports="9001",
                 ports=[{"host_port": 0, "container_port": 9002}])
    assert "bind-9001=143" in result.out and "bind-9002=143" in result.out
    assert "bind-9003=1" in result.out
    assert "nc: bind: Permission denied" in result.err  # EACCES, for root too


@needs_network_rules
def test_without_declared_ports_the_application_binds_nothing(engine: Engine) -> None:
    result = run(engine, ["sh", "-c", _bind(8080) + _bind(45000)])
    assert "bind-8080=1" in result.out and "bind-45000=1" in result.out
    assert result.err.count("Permission denied") == 2


def test_connect_is_left_to_the_firewall_unless_the_spec_declares_ports(engine: Engine) -> None:
    result = run(engine, ["sh", "-c", _connect(9005)])
    assert "Connection refused" in result.err  # the stack answered: no Landlock rule


@needs_network_rules
def test_declared_connect_ports_limit_tcp_connect(engine: Engine) -> None:
    # its own listen port stays reachable over loopback
    script = ("httpd -p 127.0.0.1:9001 -h /tmp; sleep 0.2; "
              "wget -q -O /dev/null http://127.0.0.1:9001/ 2>&1 | grep -q 404 && echo OWN-OK; "
              + _connect(9005) + _connect(9006))
    result = run(engine, ["sh", "-c", script], listen_ports="9001", connect_ports="9006")
    assert "OWN-OK" in result.out
    assert result.err.count("Permission denied") == 1  # 9005
    assert "Connection refused" in result.err  # 9006 passed Landlock; nothing listens


@needs_network_rules
def test_connect_ports_none_refuses_every_tcp_connect(engine: Engine) -> None:
    result = run(engine, ["sh", "-c", _connect(80) + _connect(45000)], connect_ports="none")
    assert result.err.count("Permission denied") == 2


@needs_network_rules
def test_exec_gets_the_same_network_rules(engine: Engine) -> None:
    name = start_detached(engine, ["sleep", "300"], listen_ports="9001")
    _, out = exec_capture(engine, name, ["sh", "-c", _bind(9001) + _bind(9002)])
    assert "bind-9001=143" in out and "bind-9002=1" in out


def test_unsafe_disable_mac_lifts_the_network_rules_too(engine: Engine) -> None:
    result = run(engine, ["sh", "-c", _bind(45000)], unsafe={"disable_mac": True})
    assert "bind-45000=143" in result.out
