"""`stockade logs` through a private daemon and real containers (issue 17): both streams in
one log in the order written, --tail with -t, --since, --stdout/--stderr, -f live and
ending with the container, ^C. The log is conmon's ctr.log (runtime/logfile.py)."""

import re
import signal
import subprocess
import time

import pytest

from stockade.wire.logs import parse_since
from tests.daemonkit import STOCKADE, Daemon

pytestmark = pytest.mark.integration

# one line at a time, so conmon reads each from its pipe before the next is written
_INTERLEAVED = ("for i in 1 2 3 4 5 6; do echo out$i; sleep 0.05; echo err$i >&2; "
                "sleep 0.05; done")
_WRITTEN = [(stream, f"{stream[3:]}{i}\n".encode()) for i in range(1, 7)
            for stream in ("stdout", "stderr")]
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z ")


def _ended(daemon: Daemon, name: str, script: str) -> None:
    started = daemon.cli("run", "-d", "--name", name, "--", "sh", "-c", script)
    assert started.returncode == 0, started.stderr
    waited = daemon.cli("wait", name)
    assert waited.stdout == "0\n", waited


def _logs(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([STOCKADE, "--socket", str(daemon.socket), "logs", *args],
                          capture_output=True, env=daemon.env, timeout=60, check=False)


def _lines(written: list[tuple[str, bytes]], stream: str) -> bytes:
    return b"".join(data for name, data in written if name == stream)


def test_one_log_in_the_order_written(daemon: Daemon) -> None:
    _ended(daemon, "lg-order", _INTERLEAVED)
    with daemon.client() as client:
        records = list(client.logs("lg-order"))
    assert [(record.stream, record.payload()) for record in records] == _WRITTEN
    times = [parse_since(record.time, 0) for record in records]
    assert times == sorted(times)
    shown = _logs(daemon, "lg-order")
    assert shown.returncode == 0, shown.stderr
    assert (shown.stdout, shown.stderr) == (_lines(_WRITTEN, "stdout"),
                                            _lines(_WRITTEN, "stderr"))
    only = _logs(daemon, "--stderr", "lg-order")
    assert (only.stdout, only.stderr) == (b"", _lines(_WRITTEN, "stderr"))


def test_tail_with_timestamps_and_since(daemon: Daemon) -> None:
    _ended(daemon, "lg-tail", _INTERLEAVED)
    tail = _logs(daemon, "--tail", "5", "-t", "lg-tail")
    assert tail.returncode == 0, tail.stderr
    last = _WRITTEN[-5:]  # err4 out5 err5 out6 err6
    for stream, output in (("stdout", tail.stdout), ("stderr", tail.stderr)):
        lines = output.decode().splitlines(keepends=True)
        assert all(_STAMP.match(line) for line in lines), lines
        assert "".join(_STAMP.sub("", line, count=1) for line in lines).encode() == \
            _lines(last, stream)
    with daemon.client() as client:
        fourth_out = list(client.logs("lg-tail"))[6]  # out4
    assert fourth_out.payload() == b"out4\n"
    since = _logs(daemon, "--since", fourth_out.time, "lg-tail")
    assert (since.stdout, since.stderr) == (_lines(_WRITTEN[6:], "stdout"),
                                            _lines(_WRITTEN[6:], "stderr"))
    assert _logs(daemon, "--since", "1h", "lg-tail").stdout == _lines(_WRITTEN, "stdout")
    assert _logs(daemon, "--since", "2999-01-01T00:00:00Z", "lg-tail").stdout == b""
    refused = _logs(daemon, "--since", "whenever", "lg-tail")
    assert refused.returncode == 125 and refused.stderr.count(b"\n") == 1
    missing = _logs(daemon, "no-such-container")
    assert missing.returncode == 125 and b"no such container" in missing.stderr


def test_follow_is_live_and_ends_with_the_container(daemon: Daemon) -> None:
    script = "for i in 1 2 3 4 5 6 7 8 9 10; do echo tick$i; sleep 0.3; done"
    started = daemon.cli("run", "-d", "--name", "lg-follow", "--", "sh", "-c", script)
    assert started.returncode == 0, started.stderr
    follow = subprocess.Popen([STOCKADE, "--socket", str(daemon.socket), "logs", "-f",
                               "lg-follow"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=daemon.env)
    try:
        assert follow.stdout is not None
        first = follow.stdout.readline()
        with daemon.client() as client:
            assert client.inspect("lg-follow").state == "running"  # it came while running
        rest, err = follow.communicate(timeout=30)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert follow.returncode == 0, err
    assert first + rest == b"".join(b"tick%d\n" % i for i in range(1, 11))


def test_ctrl_c_ends_a_follow_quietly(daemon: Daemon) -> None:
    started = daemon.cli("run", "-d", "--name", "lg-int", "--", "sh", "-c",
                         "echo up; sleep 300")
    assert started.returncode == 0, started.stderr
    follow = subprocess.Popen([STOCKADE, "--socket", str(daemon.socket), "logs", "-f",
                               "lg-int"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=daemon.env)
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline() == b"up\n"
        time.sleep(0.2)
        follow.send_signal(signal.SIGINT)
        _, err = follow.communicate(timeout=10)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert (follow.returncode, err) == (130, b"")
