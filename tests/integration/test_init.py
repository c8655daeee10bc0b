"""The container init: reaping, signal forwarding, exit codes and Landlock, seen from inside."""

import time

import pytest

from stockade.engine import Engine
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
    assert b"got-usr1" in engine.logs(name)[0]


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
