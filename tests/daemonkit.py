"""A private stockade daemon for a test: its own root, socket and cgroup parent."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from stockade.client import Client
from tests import leaks

STOCKADE = str(Path(sys.executable).with_name("stockade"))
_START_TIMEOUT_S = 60


@dataclass
class Daemon:
    root: Path
    marker: str  # the cgroup parent; names every cgroup this daemon's containers get
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = Path("/tmp/stockade-test-logs") / f"{self.root.parent.name}-{self.root.name}.log"
        self.log.parent.mkdir(exist_ok=True)

    @property
    def socket(self) -> Path:
        return self.root.with_name(self.root.name + ".sock")

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "STOCKADE_CGROUP_PARENT": self.marker,
                "STOCKADE_SOCKET": str(self.socket), "COLUMNS": "250"}

    def start(self, config: Path | None = None) -> "Daemon":
        self.root.parent.mkdir(parents=True, exist_ok=True)
        extra = ["--config", str(config)] if config else []
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [STOCKADE, "--root", str(self.root), "--socket", str(self.socket), "server",
                 *extra], env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + _START_TIMEOUT_S
        with Client(self.socket) as client:
            while not client.available():
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"daemon did not start: {self.log.read_text()[-2000:]}")
                time.sleep(0.05)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        self.proc = None

    def client(self) -> Client:
        return Client(self.socket)

    def cli(self, *args: str, stdin: str = "",
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([STOCKADE, "--socket", str(self.socket), *args], input=stdin,
                              capture_output=True, text=True, env=self.env, timeout=timeout,
                              check=False)

    def audit(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([STOCKADE, "--root", str(self.root), "audit", *args],
                              capture_output=True, text=True, env=self.env, timeout=60,
                              check=False)

    def destroy_all(self) -> None:
        with self.client() as client:
            for info in client.list():
                client.destroy(info.handle)

    def leftovers(self) -> dict[str, set[str]]:
        left: dict[str, set[str]] = {}
        scoped = leaks.snapshot(self.marker)
        if scoped.cgroups:
            left["cgroups"] = set(scoped.cgroups)
        here = leaks.snapshot(str(self.root))
        for name in ("mounts", "processes"):
            if getattr(here, name):
                left[name] = set(getattr(here, name))
        return left


@contextlib.contextmanager
def running(root: Path, marker: str) -> Iterator[Daemon]:
    """A started daemon; afterwards every container is destroyed, the daemon stopped, the
    store swept, and nothing of it may remain."""
    daemon = Daemon(root, marker).start()
    try:
        yield daemon
    finally:
        if daemon.proc is None:
            daemon.start()  # a test that killed it: the next start reconciles
        with contextlib.suppress(Exception):
            daemon.destroy_all()
        with contextlib.suppress(Exception), daemon.client() as client:
            client.cleanup()
        daemon.stop()
        left = daemon.leftovers()
        assert not left, f"the daemon left kernel objects behind: {left}"


def events(client: Client, handle: str, kind: str, timeout: float = 30) -> list[dict[str, object]]:
    """Waits for an event of `kind` for `handle`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in client.events_json(0, handle, wait_s=1) if e["kind"] == kind]
        if found:
            return found
    raise AssertionError(f"no {kind!r} event for {handle}: {json.dumps(client.events_json(0))}")
