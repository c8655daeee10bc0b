"""Item 2: throughput through the API: containers created, run and destroyed per second
with 1, 4 and 16 concurrent clients.

A private daemon (`stockade --root R --socket S server`, STOCKADE_ROOT, STOCKADE_SOCKET
and STOCKADE_CGROUP_PARENT set too) serves N client threads, each looping over one
cycle for a fixed time: create a container with an idle init, run `true` in it, destroy
it. The reference, measured in the same run on its own root, is the same cycle driven
through the Engine in-process by one caller (engine create + start + exec + destroy).

The client is the one the lead is building in `stockade.client`; this module assumes:
    Client(socket: Path) as a context manager; .ping();
    .create(spec: ContainerSpec) -> ContainerInfo (the container running its init);
    .run(handle, args: list[str]) -> ProcessResult(exit_code, stdout, stderr);
    .destroy(handle).
Until `stockade.client` imports, the API rows are skipped and say so."""

import contextlib
import importlib
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from bench.model import Context, Row, SuiteResult
from bench.sandbox import Sandbox, sandbox, stockade_argv
from stockade.runtime.runc import Stdio
from stockade.spec import ContainerSpec, ProcessSpec

NAME = "throughput"
TITLE = "Throughput: create, run `true`, destroy per second through the API"
CONCURRENCY = (1, 4, 16)
IDLE = ["sleep", "3600"]
DAEMON_READY_S = 60


class ClientLike(Protocol):
    """The part of `stockade.client.Client` the suite uses."""

    def __enter__(self) -> "ClientLike": ...

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> Any: ...

    def ping(self) -> Any: ...

    def create(self, spec: ContainerSpec) -> Any: ...

    def run(self, handle: str, args: list[str]) -> Any: ...

    def destroy(self, handle: str) -> Any: ...


ClientFactory = Callable[[Path], ClientLike]


@dataclass
class Load:
    """What N clients achieved: completed cycles over the wall clock, each cycle's time."""

    clients: int
    seconds: float = 0.0
    cycles: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return len(self.cycles) / self.seconds if self.seconds else 0.0


def client_factory() -> ClientFactory | None:
    """`stockade.client.Client`, or None while the API daemon's client does not exist."""
    try:
        module = importlib.import_module("stockade.client")
    except ImportError:
        return None
    factory: ClientFactory | None = getattr(module, "Client", None)
    return factory


def run(ctx: Context) -> SuiteResult:
    duration = ctx.rounds(15, 3)
    result = SuiteResult(NAME, TITLE, params={"seconds_per_level": duration,
                                              "concurrency": CONCURRENCY})
    factory = client_factory()
    with sandbox(NAME, result.leftovers) as box:
        reference = result.add(Row(metric="in-process engine, 1 caller (reference)",
                                   unit="/s", value=_engine_reference(box, duration)))
        if factory is None:
            result.status = "skipped"
            result.reason = "API daemon not available (stockade.client is not importable)"
            return result
        with daemon(box, factory) as socket:
            loads = [drive(factory, socket, n, duration) for n in CONCURRENCY]
    _report(result, loads, reference.value)
    return result


# -- the reference: the engine in-process ------------------------------------------------------


def _engine_reference(box: Sandbox, duration: float) -> float:
    """Cycles per second of create + start + exec `true` + destroy by one caller."""
    engine = box.engine(root=box.dir / "reference-root")
    engine.images.get("busybox")
    null = os.open(os.devnull, os.O_RDWR)
    done, began = 0, time.perf_counter()
    try:
        while time.perf_counter() - began < duration:
            handle = f"ref-{done}"
            engine.create(ContainerSpec(handle=handle, process=ProcessSpec(args=IDLE)))
            try:
                engine.start(handle)
                if engine.exec(handle, ["true"], Stdio(null, null, null)) != 0:
                    raise RuntimeError(f"{handle}: `true` failed")
            finally:
                engine.destroy(handle)
            done += 1
    finally:
        os.close(null)
    return done / (time.perf_counter() - began)


# -- the API ------------------------------------------------------------------------------------


@contextlib.contextmanager
def daemon(box: Sandbox, factory: ClientFactory) -> Iterator[Path]:
    """A private daemon on the sandbox's root and socket, stopped whatever happens."""
    socket = box.dir / "stockade.sock"
    log_path = box.dir / "daemon.log"
    argv = stockade_argv("--root", str(box.root), "--socket", str(socket), "server")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, env=box.env(), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log)
    try:
        _wait_ready(proc, factory, socket, log_path)
        yield socket
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(proc: "subprocess.Popen[bytes]", factory: ClientFactory, socket: Path,
                log: Path) -> None:
    deadline = time.monotonic() + DAEMON_READY_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip()[-600:]
            raise RuntimeError(f"the daemon exited with {proc.returncode}: {tail}")
        with contextlib.suppress(Exception), factory(socket) as client:
            client.ping()
            return
        time.sleep(0.2)
    raise RuntimeError(f"the daemon did not answer on {socket} within {DAEMON_READY_S} s")


def drive(factory: ClientFactory, socket: Path, clients: int, duration: float) -> Load:
    """`clients` threads, each with its own client, cycling until `duration` has passed."""
    load = Load(clients)
    lock = threading.Lock()
    deadline = time.monotonic() + duration
    threads = [threading.Thread(target=_worker, args=(factory, socket, n, deadline, load, lock))
               for n in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load.seconds = time.perf_counter() - began
    return load


def _worker(factory: ClientFactory, socket: Path, worker: int, deadline: float, load: Load,
            lock: threading.Lock) -> None:
    number = 0
    with factory(socket) as client:
        while time.monotonic() < deadline:
            handle = f"tp{load.clients}-{worker}-{number}"
            number += 1
            try:
                took = _cycle(client, handle)
            except Exception as exc:  # counted and reported, the others go on
                with lock:
                    load.errors.append(f"{handle}: {type(exc).__name__}: {exc}")
                continue
            with lock:
                load.cycles.append(took)


def _cycle(client: ClientLike, handle: str) -> float:
    started = time.perf_counter()
    client.create(ContainerSpec(handle=handle, process=ProcessSpec(args=IDLE)))
    try:
        outcome = client.run(handle, ["true"])
        if getattr(outcome, "exit_code", 0) != 0:
            raise RuntimeError(f"`true` exited {outcome.exit_code}")
    finally:
        client.destroy(handle)
    return time.perf_counter() - started


def _report(result: SuiteResult, loads: list[Load], reference: float | None) -> None:
    for load in loads:
        result.add(Row(metric=f"{load.clients} client(s): cycles per second", unit="/s",
                       value=load.per_second).against("in-process engine", reference))
        cycles_ms = [c * 1000 for c in load.cycles]
        result.add(Row.of(f"{load.clients} client(s): cycle latency", "ms", cycles_ms))
        if len(cycles_ms) >= 20:
            p95 = statistics.quantiles(cycles_ms, n=20)[-1]
            result.add(Row(metric=f"{load.clients} client(s): cycle latency p95", unit="ms",
                           value=p95))
        if load.errors:
            result.notes.append(f"{load.clients} client(s): {len(load.errors)} failed cycles, "
                                f"first: {load.errors[0]}")
    result.series = {"clients": [load.clients for load in loads],
                     "per_second": [load.per_second for load in loads],
                     "reference": reference}
