"""Find and run the real runc. Imported on every call: nothing but os and signal."""

import os
import signal
import sys

CANDIDATES = ("/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc")


class NoRunc(Exception):
    pass


def find_runc() -> str:
    """$STOCKADE_OCI_RUNC, else the first runc installed; never stockade-oci itself."""
    chosen = os.environ.get("STOCKADE_OCI_RUNC")
    candidates = (chosen,) if chosen else CANDIDATES
    for path in candidates:
        if os.access(path, os.X_OK):
            if os.path.realpath(path) == os.path.realpath(sys.argv[0]):
                raise NoRunc(f"{path} is stockade-oci itself; point STOCKADE_OCI_RUNC at runc")
            return path
    raise NoRunc(f"runc not found (looked at {', '.join(candidates)})")


# What a caller of runc may send it while we wait (a terminal's resize among them).
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
              signal.SIGUSR2, signal.SIGWINCH)


def exec_runc(argv: list[str]) -> int:
    """Become runc: the fast path, and the last step of a hardened call."""
    runc = find_runc()
    os.execv(runc, [runc, *argv])
    return 127  # not reached


def run_runc(argv: list[str]) -> int:
    """runc as a child (every fd inherited, our signals forwarded), for callers with work
    left after it; its exit code, 128+N when a signal N ended it."""
    runc = find_runc()
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(runc, [runc, *argv])
        finally:
            os._exit(127)
    for signum in _FORWARDED:
        signal.signal(signum, lambda number, _frame: os.kill(pid, number))
    _, status = os.waitpid(pid, 0)
    for signum in _FORWARDED:
        signal.signal(signum, signal.SIG_DFL)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(
        status)
