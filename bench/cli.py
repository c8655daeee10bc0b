"""Item 7: how snappy the CLI feels: `stockade ps`, `version` and `--help` start-up.

Set against the bare interpreter (`python -c pass`, the floor for any Python CLI) and
`podman ps` (a Go CLI doing the same job), in a private root. To show what to trim, the
in-process cost of what `ps` does after its imports (host probe, opening the engine,
listing) and `python -X importtime` grouped by package: each module's own import time
is charged to its top-level package (`stockade.<subpackage>` for ours), so nothing is
counted twice."""

import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable

from bench.latency import podman_argv
from bench.model import Context, Row, SuiteResult
from bench.sandbox import Sandbox, repeat, sandbox, stockade_argv, timed_run
from stockade.engine import Engine
from stockade.host import probe

NAME = "cli"
TITLE = "CLI start-up: stockade ps / version / --help"
TOP_PACKAGES = 10


def run(ctx: Context) -> SuiteResult:
    rounds = ctx.rounds(15, 5)
    result = SuiteResult(NAME, TITLE, params={"rounds": rounds})
    with sandbox(NAME, result.leftovers) as box:
        floor = result.add(Row.of("python -c pass (interpreter floor)", "ms", _times(
            [sys.executable, "-c", "pass"], box, rounds)))
        podman = _podman_ps(box, rounds, result)
        for args in (("ps",), ("version",), ("--help",)):
            samples = _times(stockade_argv(*args), box, rounds)
            result.add(Row.of(f"stockade {' '.join(args)}", "ms", samples).against(
                "python -c pass", floor.value))
            if args == ("ps",) and podman is not None:
                result.add(Row.of("stockade ps vs podman ps", "ms", samples).against(
                    "podman ps", podman.value))
        _in_process_rows(result, box, rounds)
        packages, total = _import_profile(box, ctx.rounds(5, 3))
    imports = result.add(Row.of("stockade ps: all imports (-X importtime)", "ms", total))
    ps = result.row("stockade ps")
    if ps is not None and ps.value is not None and imports.value is not None:
        result.add(Row(metric="stockade ps: everything else", unit="ms",
                       value=ps.value - imports.value).against("stockade ps", ps.value))
    for package, samples in packages:
        result.add(Row.of(f"import: {package}", "ms", samples).against(
            "all imports", imports.value))
    result.series = {"startup": {r.metric: r.value for r in result.rows
                                 if r.metric.startswith(("python", "podman", "stockade"))
                                 and "vs" not in r.metric},
                     "imports": {p: statistics.median(s) for p, s in packages}}
    return result


def _ms(samples: list[float]) -> list[float]:
    return [s * 1000 for s in samples]


def _times(argv: list[str], box: Sandbox, rounds: int) -> list[float]:
    """ms of `rounds` runs of a command in the sandbox, after one warm-up."""
    return _ms(repeat(lambda: timed_run(argv, env=box.env()), rounds))


def _podman_ps(box: Sandbox, rounds: int, result: SuiteResult) -> Row | None:
    try:
        samples = repeat(lambda: timed_run(podman_argv(box, "ps")), rounds)
    except (FileNotFoundError, RuntimeError) as exc:
        result.notes.append(f"podman ps skipped: {exc}")
        return None
    return result.add(Row.of("podman ps (Go CLI, private root)", "ms", _ms(samples)))


def _in_process_rows(result: SuiteResult, box: Sandbox, rounds: int) -> None:
    """What `stockade ps` does once its modules are loaded."""
    def probe_once() -> float:
        return _timed(probe)

    result.add(Row.of("in-process: host probe", "ms", _ms(repeat(probe_once, rounds))))
    engines: list[Engine] = []

    def open_engine() -> float:
        return _timed(lambda: engines.append(Engine(box.config(), probe())), probe_once())

    result.add(Row.of("in-process: open the engine", "ms", _ms(repeat(open_engine, rounds))))
    engine = engines[-1]
    result.add(Row.of("in-process: list containers", "ms",
                      _ms(repeat(lambda: _timed(engine.list), rounds))))
    for opened in engines:
        opened.close()


def _timed(work: Callable[[], object], minus: float = 0.0) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started - minus


def _import_profile(box: Sandbox, rounds: int) -> tuple[list[tuple[str, list[float]]],
                                                       list[float]]:
    """The heaviest packages by own import time during `stockade ps` (ms samples), and the
    total of all imports, including those made while it runs."""
    per_package: dict[str, list[float]] = defaultdict(list)
    totals = []
    for _ in range(rounds):
        argv = stockade_argv("ps")
        proc = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=box.env(),
                              capture_output=True, text=True, check=True)
        own, total = _parse_importtime(proc.stderr)
        totals.append(total)
        for package, micros in own.items():
            per_package[package].append(micros)
    ranked = sorted(per_package.items(), key=lambda kv: statistics.median(kv[1]), reverse=True)
    return ranked[:TOP_PACKAGES], totals


def _parse_importtime(text: str) -> tuple[dict[str, float], float]:
    """(ms of own import time per package, ms of all imports together)."""
    own: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, module = (f.strip() for f in line[12:].split("|"))
        parts = module.split(".")
        package = ".".join(parts[:2]) if parts[0] == "stockade" else parts[0]
        own[package] += int(self_us) / 1000
    return own, sum(own.values())
