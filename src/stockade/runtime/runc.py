"""A thin driver for the runc binary: one method per runc command."""

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockade.errors import StockadeError

# runc makes mount points inside the rootfs and the containers' cgroup directories, which
# the containers must traverse, and hands its umask to their processes: it gets the usual
# 022, not the daemon's 077 (the files runc writes on the host are made private around it).
_UMASK = 0o022


class RuncError(StockadeError):
    """runc refused; the message carries runc's own last error line."""


@dataclass(frozen=True)
class Stdio:
    """File descriptors the container process gets as its stdin, stdout and stderr."""

    stdin: int
    stdout: int
    stderr: int


class Runc:
    """Runs runc with its state under a stockade-owned root and a JSON log."""

    def __init__(self, state_root: Path, log_path: Path, binary: str = "runc") -> None:
        self.state_root = state_root
        self.log_path = log_path
        self.binary = binary

    def _argv(self, *args: str, log: Path | None = None) -> list[str]:
        return [self.binary, "--root", str(self.state_root), "--log", str(log or self.log_path),
                "--log-format", "json", *args]

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self._argv(*args), capture_output=True, text=True, check=False,
                              stdin=subprocess.DEVNULL, umask=_UMASK)
        if check and proc.returncode != 0:
            raise RuncError(f"runc {args[0]} failed: {self._reason(proc.stderr)}")
        return proc

    @staticmethod
    def _reason(text: str) -> str:
        """runc writes JSON log lines; the last 'msg' is the useful one."""
        for line in reversed(text.strip().splitlines()):
            try:
                return str(json.loads(line).get("msg", line))
            except (ValueError, AttributeError):
                return line
        return "no error output"

    def create(self, cid: str, bundle: Path, pid_file: Path, stdio: Stdio, log: Path,
               console_socket: Path | None = None) -> None:
        """runc create; the caller must be a subreaper to inherit the init process.

        runc hands its own stdio to the container, so errors come from its log file."""
        args = ["create", "--bundle", str(bundle), "--pid-file", str(pid_file)]
        if console_socket is not None:
            args += ["--console-socket", str(console_socket)]
        proc = subprocess.run(self._argv(*args, cid, log=log), stdin=stdio.stdin,
                              stdout=stdio.stdout, stderr=stdio.stderr, check=False,
                              umask=_UMASK)
        if proc.returncode != 0:
            text = log.read_text(errors="replace") if log.exists() else ""
            reason = self._reason(text).removeprefix("runc create failed: ")
            raise RuncError(f"cannot create the container: {reason}")

    def start(self, cid: str) -> None:
        self._run("start", cid)

    def kill(self, cid: str, signal: str = "TERM", all_processes: bool = True) -> None:
        args = ["kill", *(["--all"] if all_processes else []), cid, signal]
        self._run(*args)

    def state(self, cid: str) -> dict[str, Any] | None:
        """runc's view of the container, or None when runc does not know it."""
        proc = self._run("state", cid, check=False)
        if proc.returncode != 0:
            return None
        result: dict[str, Any] = json.loads(proc.stdout)
        return result

    def delete(self, cid: str) -> None:
        """Force-delete; a container runc does not know is already gone."""
        if self.state(cid) is None:
            return
        self._run("delete", "--force", cid)

    def exec(self, cid: str, process_file: Path, stdio: Stdio,
             console_socket: Path | None = None, pid_file: Path | None = None) -> int:
        """Run a process in the container and wait for it; returns its exit code."""
        args = ["exec", "--process", str(process_file)]
        if console_socket is not None:
            args += ["--console-socket", str(console_socket)]
        if pid_file is not None:
            args += ["--pid-file", str(pid_file)]
        proc = subprocess.run(self._argv(*args, cid), stdin=stdio.stdin, stdout=stdio.stdout,
                              stderr=stdio.stderr, check=False, umask=_UMASK)
        return proc.returncode

    def update(self, cid: str, memory_bytes: int | None = None, cpu_shares: int | None = None,
               pids: int | None = None, cpu_quota: int | None = None) -> None:
        """Change cgroup limits of a live container (swap stays equal to memory: none)."""
        args: list[str] = []
        if memory_bytes is not None:
            args += ["--memory", str(memory_bytes), "--memory-swap", str(memory_bytes)]
        if cpu_shares is not None:
            args += ["--cpu-share", str(cpu_shares)]
        if pids is not None:
            args += ["--pids-limit", str(pids)]
        if cpu_quota is not None:  # within the kernel's default period, as at create
            args += ["--cpu-quota", str(cpu_quota), "--cpu-period", "100000"]
        if args:
            self._run("update", *args, cid)

    def stats(self, cid: str) -> dict[str, Any] | None:
        proc = self._run("events", "--stats", cid, check=False)
        if proc.returncode != 0:
            return None
        data: dict[str, Any] = json.loads(proc.stdout).get("data", {})
        return data
