"""Item 1: create -> first process running -> destroy, side by side with runc and podman.

Each figure is the median of repeated runs in one sandbox:
- `stockade run --rm -- true` through the CLI (embedded image, every hardening layer, own
  network namespace, address and firewall chain), *warm* (another container keeps the
  bridge, nftables table and volume store up, as on a busy host) and *cold* (no other
  container: the run also sets those up and takes them down);
- the same lifecycle driven in-process through the Engine, broken down by phase;
- the floor: `runc run` of a bundle with the same root filesystem (read-only copy), id map,
  seven namespaces and the same compiled hardening (seccomp, capabilities, masked paths,
  cgroup limits), without our network, overlay, monitor or Landlock init;
- `podman run --rm --rootfs` of a copy of the same root filesystem with the same id map,
  through runc too, with private storage and `--network none` (podman's bridge network
  would leave host-wide links and firewall chains behind)."""

import functools
import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from bench.model import Context, Row, SuiteResult
from bench.sandbox import Sandbox, interleave, sandbox, stockade_argv, timed_run
from bench.throughput import daemon
from stockade.client import Client
from stockade.engine import Engine
from stockade.spec import ContainerSpec, ProcessSpec

NAME = "latency"
TITLE = "Lifecycle latency: create, run `true`, destroy"
RESIDENT = "resident"
SHOWN = ("policy", "volume", "network", "runc create", "runc start", "wait for exit",
         "teardown")


def run(ctx: Context) -> SuiteResult:
    result = SuiteResult(NAME, TITLE, params={"rounds": ctx.rounds(25, 5)})
    rounds = result.params["rounds"]
    with sandbox(NAME, result.leftovers) as box, open(os.devnull, "r+b") as null, \
            daemon(box, Client):  # the CLI goes through the API daemon
        engine = box.engine()
        engine.images.get("busybox")  # built once here, not inside a timed run
        resident = _start_resident(engine)
        phases: list[dict[str, float]] = []
        works: dict[str, Callable[[], float]] = {
            "cold": _cold(box, engine), "warm": lambda: _cli(box),
            "engine": _engine_work(engine, phases, null.fileno()),
            "floor": _floor(box, engine, resident)}
        podman, why_not = _podman(box, engine)
        if podman is not None:
            works["podman"] = podman
        samples = interleave(works, rounds)  # side by side: one of each per round
    _report(result, samples, phases[1:], why_not)  # phases[0] was the warm-up
    return result


def _cli(box: Sandbox) -> float:
    return timed_run(stockade_argv("run", "--rm", "--", "true"), env=box.env())


def _start_resident(engine: Engine) -> str:
    """An idle container that keeps the bridge, table and volume store up between runs."""
    spec = ContainerSpec(handle=RESIDENT, process=ProcessSpec(args=["sleep", "3600"]))
    engine.create(spec)
    engine.start(spec.handle)
    return spec.handle


def _cold(box: Sandbox, engine: Engine) -> Callable[[], float]:
    """A CLI run with no other container, so it also sets up and takes down the bridge,
    table and volume store; the resident comes back afterwards for the warm runs."""
    def work() -> float:
        engine.destroy(RESIDENT)
        try:
            return _cli(box)
        finally:
            _start_resident(engine)

    return work


# -- in-process, by phase ------------------------------------------------------------------


def _engine_work(engine: Engine, phases: list[dict[str, float]],
                 null: int) -> Callable[[], float]:
    """One in-process run per call (stdio on `null`), its phases appended to `phases`."""
    counter = itertools.count()

    def work() -> float:
        phases.append(_engine_round(engine, f"lat-{next(counter)}", null))
        return phases[-1]["total"]

    return work


def _engine_round(engine: Engine, handle: str, null: int) -> dict[str, float]:
    """Seconds per phase of one run; `wait for exit` is the time from `start` returning
    to the monitor's exit record (the engine polls for it)."""
    spec = ContainerSpec(handle=handle, process=ProcessSpec(args=["true"]))
    started = time.perf_counter()
    engine.create(spec)
    engine.start(handle)
    running = time.perf_counter()
    if engine.wait(handle, 30) is None:
        raise RuntimeError(f"{handle}: `true` did not finish within 30 s")
    waited = time.perf_counter()
    engine.destroy(handle)
    total = time.perf_counter() - started
    phases = engine.phases.of(handle)
    phases["wait for exit"] = waited - running
    phases["teardown"] = sum(v for k, v in phases.items() if k.startswith("teardown:"))
    named = sum(v for k, v in phases.items() if k != "teardown")
    phases["other (inspect, bookkeeping)"] = total - named
    phases["total"] = total
    return phases


# -- the floor: runc alone ------------------------------------------------------------------


def _copy_rootfs(engine: Engine, target: Path) -> None:
    """The embedded image's layer, ownership already shifted to the container's id range."""
    layer = engine.images.get("busybox").layers[0]
    subprocess.run(["cp", "-a", str(layer), str(target)], check=True)
    os.chown(target, engine.config.id_base, engine.config.id_base)  # root inside owns /


def _floor_bundle(box: Sandbox, engine: Engine, resident: str) -> Path:
    """The resident container's compiled config, minus what only our orchestration adds:
    the overlay (read-only copy instead), our bind mounts, the Landlock init."""
    config = json.loads((engine.layout.bundle(resident) / "config.json").read_text())
    rootfs = box.dir / "floor-rootfs"
    _copy_rootfs(engine, rootfs)
    config["root"] = {"path": str(rootfs), "readonly": True}
    config["process"]["args"] = ["/bin/true"]
    config["mounts"] = [m for m in config["mounts"]
                        if not str(m.get("source", "")).startswith(str(box.dir))]
    config["linux"]["cgroupsPath"] = f"/{box.cgroup_parent}/floor"
    bundle = box.dir / "floor-bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def _floor(box: Sandbox, engine: Engine, resident: str) -> Callable[[], float]:
    """One `runc run` of the prepared bundle per call."""
    bundle = _floor_bundle(box, engine, resident)
    state = box.dir / "runc-floor"
    counter = itertools.count()
    return lambda: timed_run(["runc", "--root", str(state), "run", "--bundle", str(bundle),
                              f"floor-{next(counter)}"])


# -- podman ---------------------------------------------------------------------------------


def podman_argv(box: Sandbox, *args: str) -> list[str]:
    """podman with every piece of its state under the sandbox, and runc as the runtime."""
    state = box.dir / "podman"
    return ["podman", "--root", str(state / "root"), "--runroot", str(state / "run"),
            "--tmpdir", str(state / "tmp"), "--network-config-dir", str(state / "net"),
            "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
            "--events-backend", "none", "--runtime", "runc", *args]


def _podman(box: Sandbox, engine: Engine) -> tuple[Callable[[], float] | None, str]:
    """One `podman run --rm` per call, or why podman cannot run here (tried once)."""
    if shutil.which("podman") is None:
        return None, "podman is not installed (run `python -m bench --setup`)"
    rootfs = box.dir / "podman-rootfs"
    _copy_rootfs(engine, rootfs)
    ids = f"0:{engine.config.id_base}:65536"
    argv = podman_argv(box, "run", "--rm", "--network", "none",
                       "--cgroup-parent", f"/{box.tag}-podman",
                       "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                       "--uidmap", ids, "--gidmap", ids, "--rootfs", str(rootfs), "true")
    try:
        timed_run(argv)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return None, f"podman cannot run here: {exc}"
    return functools.partial(timed_run, argv), ""


# -- report ---------------------------------------------------------------------------------


def _ms(samples: list[float]) -> list[float]:
    return [s * 1000 for s in samples]


def _report(result: SuiteResult, samples: dict[str, list[float]],
            phases: list[dict[str, float]], why_not: str) -> None:
    floor_row = result.add(Row.of("runc run (the floor)", "ms", _ms(samples["floor"])))
    podman_row = None
    if "podman" in samples:
        podman_row = result.add(Row.of("podman run --rm", "ms", _ms(samples["podman"])).against(
            "runc run", floor_row.value))
    else:
        result.notes.append(f"podman skipped: {why_not}")
    warm = _ms(samples["warm"])
    warm_row = result.add(Row.of("stockade run --rm (CLI, warm)", "ms", warm).against(
        "runc run", floor_row.value))
    if podman_row is not None:
        result.add(Row.of("stockade run --rm (CLI, warm) vs podman", "ms", warm).against(
            "podman run", podman_row.value))
    result.add(Row.of("stockade run --rm (CLI, cold)", "ms", _ms(samples["cold"])).against(
        "runc run", floor_row.value))
    total = result.add(Row.of("engine in-process total", "ms", _ms(samples["engine"])).against(
        "runc run", floor_row.value))
    if podman_row is not None:
        result.add(Row.of("engine in-process total vs podman", "ms", total.samples).against(
            "podman run", podman_row.value))
    _phase_rows(result, phases, total.value or 0.0)
    _overhead_rows(result, warm_row, total, floor_row)
    result.series = {
        "compare": {r.metric: r.value for r in result.rows
                    if not r.metric.startswith("phase: ") and r.unit == "ms" and r.samples
                    and " vs " not in r.metric and "interpreter" not in r.metric},
        "phases": {r.metric.removeprefix("phase: "): r.value for r in result.rows
                   if r.metric.startswith("phase: ")},
    }
    result.notes.append("cold and warm CLI, in-process engine, runc and podman were measured in "
                        "turn, one of each per round")


def _phase_rows(result: SuiteResult, phases: list[dict[str, float]], total: float) -> None:
    names = [*SHOWN, *sorted({k for p in phases for k in p if k.startswith("teardown:")}),
             "state", "image", "other (inspect, bookkeeping)"]
    rows = [Row.of(f"phase: {name}", "ms", _ms([p.get(name, 0.0) for p in phases])).against(
        "share of total", total) for name in names]
    result.rows.extend(rows)
    slowest = max((r for r in rows if r.metric.removeprefix("phase: ") in SHOWN),
                  key=lambda r: r.value or 0.0)
    result.notes.append(f"slowest phase: {slowest.metric.removeprefix('phase: ')} "
                        f"({slowest.value:.1f} ms, {100 * (slowest.ratio or 0):.0f}% of the "
                        "in-process total)")
    result.notes.append("runc create includes starting the container's monitor (conmon, which "
                        "runs runc create); teardown is the sum of the teardown: rows")


def _overhead_rows(result: SuiteResult, warm: Row, total: Row, floor: Row) -> None:
    create = result.row("phase: runc create")
    if create is not None:
        result.add(Row.of("phase runc create (conmon + runc create) vs the floor", "ms",
                          create.samples).against("runc run (whole lifecycle)", floor.value))
    if warm.value is not None and total.value is not None:
        result.add(Row(metric="CLI process overhead (warm CLI - in-process)", unit="ms",
                       value=warm.value - total.value).against("stockade run (CLI, warm)",
                                                               warm.value))
