"""No 32-bit or x32 side door (issue 16): from inside real containers, a socket the x86_64
rules refuse cannot be had through int 0x80 socketcall or the x32 ABI."""

import json
import subprocess
from pathlib import Path

import pytest

from stockade.engine import Engine
from stockade.verify import Report, verify_container
from stockade.verify.model import Check, Status
from tests.daemonkit import Daemon
from tests.integration.helpers import exec_capture, start_detached

pytestmark = pytest.mark.integration
ROW = "battery.28"


def _row(report: Report) -> Check:
    return next(c for c in report.checks if c.id == ROW)


def test_a_default_container_is_killed_at_the_32bit_and_x32_entry_points(engine: Engine) -> None:
    name = start_detached(engine, ["sleep", "300"])
    row = _row(verify_container(engine, name))
    assert row.status == Status.PASS, row.observed
    # AF_VSOCK, AF_ALG and AF_PACKET through socketcall, and x32 socket(AF_VSOCK): the
    # filter admits no ABI but x86_64, so the kernel never sees the call
    assert row.observed.count("killed by SIGSYS") == 4, row.observed
    assert engine.inspect(name).state == "running"  # only the probe's children died


def test_without_the_filter_the_same_probe_opens_a_vsock_socket(engine: Engine) -> None:
    # The probe can see an open door: with seccomp off, int 0x80 socketcall(AF_VSOCK)
    # succeeds from inside the container (a socket to the hypervisor on this VM).
    name = start_detached(engine, ["sleep", "300"], unsafe={"disable_seccomp": True})
    row = _row(verify_container(engine, name))
    assert row.status == Status.FAIL
    assert "socketcall(SYS_SOCKET, AF_VSOCK) in a child: ok" in row.observed, row.observed


# i386 calls from a 64-bit static program (no 32-bit toolchain needed): int 0x80 takes
# i386 call numbers, and pointers must lie below 4 GiB.
_HELPER = r"""
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static long int80(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c)
             : "memory", "r8", "r9", "r10", "r11");
    return ret;
}

static long call(int what, int family)
{
    uint32_t *args = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    args[0] = family; args[1] = 1; args[2] = 0; /* SOCK_STREAM */
    switch (what) {
    case 0: return int80(20, 0, 0, 0);                      /* getpid */
    case 1: return int80(359, family, 1, 0);                /* socket */
    default: return int80(102, 1, (long)(uintptr_t)args, 0); /* socketcall(SYS_SOCKET) */
    }
}

int main(void)
{
    static const char *names[] = {"getpid", "socket", "socketcall"};
    static const int tries[][2] = {{0, 0}, {1, 2}, {1, 40}, {2, 2}, {2, 40}};
    for (unsigned i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            long r = call(tries[i][0], tries[i][1]);
            printf("%s %d %s\n", names[tries[i][0]], tries[i][1],
                   r >= 0 ? "ok" : r == -1 ? "EPERM" : "other");
            fflush(stdout);
            _exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status))
            printf("%s %d killed %d\n", names[tries[i][0]], tries[i][1], WTERMSIG(status));
    }
    return 0;
}
"""


def _i386_results(engine: Engine, name: str, tmp_path: Path) -> dict[str, str]:
    """'call family' -> ok, EPERM, other or 'killed N', from a helper run inside `name`."""
    source = tmp_path / "i386.c"
    source.write_text(_HELPER)
    binary = engine.volumes.rootfs(engine.layout.container(name)).merged / "usr/bin/i386-calls"
    subprocess.run(["gcc", "-static", "-O1", "-Wall", "-Werror", "-o", str(binary),
                    str(source)], check=True)
    code, out = exec_capture(engine, name, ["/usr/bin/i386-calls"])
    assert code == 0, out
    return {" ".join(line.split()[:2]): " ".join(line.split()[2:]) for line in out.splitlines()}


def test_by_default_every_i386_call_is_killed(engine: Engine, tmp_path: Path) -> None:
    name = start_detached(engine, ["sleep", "300"])
    results = _i386_results(engine, name, tmp_path)
    assert results == dict.fromkeys(["getpid 0", "socket 2", "socket 40", "socketcall 2",
                                     "socketcall 40"], "killed 31")


def test_allow_32bit_runs_i386_calls_but_reopens_no_socket_family(
        engine: Engine, tmp_path: Path) -> None:
    name = start_detached(engine, ["sleep", "300"], allow_32bit=True)
    results = _i386_results(engine, name, tmp_path)
    assert results == {
        "getpid 0": "ok",           # the i386 ABI is admitted
        "socket 2": "ok",           # direct socket(2): the family rules hold, AF_INET passes
        "socket 40": "EPERM",       # ... and AF_VSOCK does not
        "socketcall 2": "EPERM",    # the init's guard: no socket through the multiplexer
        "socketcall 40": "EPERM",
    }
    row = _row(verify_container(engine, name))
    assert row.status == Status.PASS, row.observed
    assert row.observed.count("EPERM") == 3 and "x32 socket(AF_VSOCK) in a child: killed by " \
        "SIGSYS" in row.observed, row.observed


def test_the_cli_flag_reaches_the_container_and_verify_passes_it(daemon: Daemon) -> None:
    handle = daemon.cli("run", "-d", "--allow-32bit", "--", "sleep", "300").stdout.strip()
    result = daemon.cli("verify", handle, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    row = next(c for c in json.loads(result.stdout)["checks"] if c["id"] == ROW)
    # EPERM from the init's guard, not the SIGSYS of a default container
    assert row["status"] == "pass" and row["observed"].count("EPERM") == 3, row
