"""The per-container monitor (conmon): what runs per container, a lost monitor, the log cap
under a flood, events in one store."""

import os
import signal
import time
from pathlib import Path

import pytest

from stockade.engine import Engine
from stockade.runtime import logfile
from tests import containerkit
from tests.integration.helpers import exec_capture, spec, start_detached

pytestmark = pytest.mark.integration


def _monitor_pid(engine: Engine, handle: str) -> int:
    return int(engine.layout.monitor(handle).monitor_pid_file.read_text())


def _command(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")


def test_each_container_has_one_conmon_and_no_python(engine: Engine) -> None:
    handle = start_detached(engine, ["sleep", "600"])
    pid = engine.inspect(handle).pid
    assert pid is not None
    monitor = _monitor_pid(engine, handle)
    assert Path(_command(monitor)[0].decode()).name == "conmon"
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert parent == monitor  # the init's subreaper is its monitor
    interpreters = [p for p in Path("/proc").glob("[0-9]*") if _mentions(p, handle)
                    and b"python" in Path(p, "cmdline").read_bytes()]
    assert interpreters == []
    assert engine.inspect(handle).monitor == "running"


def _mentions(proc: Path, handle: str) -> bool:
    try:
        return handle.encode() in (proc / "cmdline").read_bytes()
    except OSError:
        return False


def test_a_killed_monitor_leaves_a_container_stop_and_destroy_still_handle(
        engine: Engine) -> None:
    noticed: list[tuple[str, str]] = []
    engine.notice = lambda action, handle, details: noticed.append((action, handle))
    handle = start_detached(engine, ["sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.1; "
                                                 "done"])
    os.kill(_monitor_pid(engine, handle), signal.SIGKILL)
    time.sleep(0.2)
    assert engine.check_monitors() == [handle]
    assert noticed == [("monitor lost", handle)]
    info = engine.inspect(handle)
    assert (info.state, info.monitor) == ("running", "lost")
    assert any(e.startswith("monitor lost") for e in info.events)
    code, out = exec_capture(engine, handle, ["echo", "still here"])
    assert (code, out) == (0, "still here\n")  # exec needs no monitor of the init's
    stopped = engine.stop(handle, timeout=10)
    assert stopped.state == "stopped" and stopped.exit_code is None
    assert stopped.exit_detail is not None and "monitor" in stopped.exit_detail
    assert "exited: unknown: the monitor was lost" in stopped.events
    engine.destroy(handle)
    assert engine.list() == []


def test_reconcile_notices_a_monitor_lost_while_the_daemon_was_down(engine: Engine) -> None:
    handle = start_detached(engine, ["sleep", "600"])
    os.kill(_monitor_pid(engine, handle), signal.SIGKILL)
    time.sleep(0.2)
    lines = engine.reconcile()
    assert any(handle in line and "monitor" in line for line in lines), lines
    assert engine.inspect(handle).monitor == "lost"


def test_an_exit_while_nobody_watched_is_read_into_the_events(engine: Engine) -> None:
    handle = start_detached(engine, ["sh", "-c", "exit 7"])
    deadline = time.monotonic() + 30
    while not (engine.layout.exit_dir / handle).exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert engine.collect_exits() == [handle]
    assert not (engine.layout.exit_dir / handle).exists()  # read into the store, then gone
    assert not engine.layout.monitor(handle).exit_file.exists()
    info = engine.inspect(handle)
    assert (info.state, info.exit_code) == ("stopped", 7)
    assert info.events[-1] == "exited: 7"
    assert [e.kind for e in engine.state.events(handle=handle)] == ["exited"]


def test_the_log_keeps_both_streams_in_the_order_written(engine: Engine) -> None:
    """Two pipes: writes to both within one turn of conmon's loop may swap; a moment apart,
    they are logged in the order written."""
    script = "for i in 1 2 3; do echo out$i; sleep 0.05; echo err$i >&2; sleep 0.05; done"
    handle = start_detached(engine, ["sh", "-c", script])
    engine.wait(handle, 30)
    containerkit.output(engine, handle)
    records = list(logfile.read(engine.log_files(handle)))
    assert [(r.stream.name, r.data) for r in records] == [
        (s, f"{s[3:].lower()}{i}".encode()) for i in (1, 2, 3) for s in ("STDOUT", "STDERR")]


def test_the_log_cap_holds_under_a_flood(engine: Engine) -> None:
    """`yes` for a few seconds against a 256 KiB x 2 cap: the files never pass the cap
    while the engine rotates (as the daemon does every tick), and the newest output is
    kept."""
    request = spec(["yes", "flood"], log={"max_bytes": "256K", "max_files": 2})
    engine.create(request)
    engine.start(request.handle)
    files = engine.log_files(request.handle)
    cap = 2 * 256 * 1024 + 64 * 1024  # a record or two in flight beyond the cap
    largest = 0
    rotated = 0
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        rotated += len(engine.rotate_logs())
        largest = max(largest, files.total_bytes())
        time.sleep(0.05)
    assert rotated > 0
    assert largest <= cap, largest
    assert len(files.paths()) <= 2
    assert engine.metrics(request.handle).log_bytes <= cap
    info = engine.inspect(request.handle)
    assert info.log is not None and (info.log.max_bytes, info.log.max_files) == (256 << 10, 2)
    # the newest output is kept; conmon may split a line across records (partial ones),
    # and the live file may end in the middle of one while `yes` still writes
    text = b"".join(r.payload() for r in logfile.read(files, tail=20))
    lines = text.split(b"\n")[1:-1]  # the first may begin inside a line, the last unended
    assert lines and all(line == b"flood" for line in lines)
    engine.destroy(request.handle)


def test_an_oom_kill_of_a_child_ends_the_whole_container(engine: Engine) -> None:
    """The kernel's OOM killer ends the hog, a child; the init would live on. The monitor
    reports it and the sweep (enforce_oom) kills the rest. conmon writes no stray file
    into anyone's working directory."""
    hog = 'sh -c \'x=$(head -c 200000000 /dev/zero | tr "\\0" a)\'; sleep 600'
    handle = start_detached(engine, ["sh", "-c", hog], limits={"memory_bytes": "32M"})
    deadline = time.monotonic() + 60
    while not engine.enforce_oom():
        assert time.monotonic() < deadline, "no OOM kill was reported"
        time.sleep(0.1)
    status = engine.wait(handle, 30)
    assert status is not None and (status.exit_code, status.oom_killed) == (137, True)
    info = engine.inspect(handle)
    assert "out of memory" in info.events and info.oom_killed
    assert not (Path.cwd() / "oom").exists()
    assert not engine.layout.monitor(handle).oom_file.exists()  # read into the record
