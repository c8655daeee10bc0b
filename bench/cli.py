"""Item 7: how snappy the CLI feels: `stockade ps`, `version` and `--help` start-up.

Set against the bare interpreter (`python -c pass`, the floor for any Python CLI) and
`podman ps` (a Go CLI doing the same job), in a private root; issue 18's goal is `stockade
ps` within 2.5x of `podman ps`. To show what to trim, the in-process cost of what `ps` does
after its imports (one `Client.list()` through the daemon) and `python -X importtime`
grouped by package: each module's own import time
is charged to its top-level package (`stockade.<subpackage>` for ours), so nothing is
counted twice."""

import functools
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from bench.latency import podman_argv
from bench.model import Context, Row, SuiteResult
from bench.sandbox import Sandbox, interleave, repeat, sandbox, stockade_argv, timed_run
from bench.throughput import daemon
from stockade.client import Client

NAME = "cli"
TITLE = "CLI start-up: stockade ps / version / --help"
TOP_PACKAGES = 10
GOAL_VS_PODMAN = 2.5  # issue 18
# The smallest typer program with one flag that does what `ps --json` parses: the floor for
# any CLI built on the installed typer (0.29 builds a pydantic TypeAdapter per parameter).
TYPER_FLOOR = ("import typer\napp = typer.Typer()\n@app.command()\n"
               "def ps(json_: bool = typer.Option(False, '--json')) -> None:\n"
               "    print('HANDLE')\napp()\n")
TYPER_ROW = "typer floor: a one-command typer app"


def run(ctx: Context) -> SuiteResult:
    rounds = ctx.rounds(15, 5)
    result = SuiteResult(NAME, TITLE, params={"rounds": rounds})
    with sandbox(NAME, result.leftovers) as box, daemon(box, Client) as socket:
        samples = interleave(_commands(box, result), rounds)
        _startup_rows(result, {k: _ms(v) for k, v in samples.items()})
        _in_process_rows(result, socket, rounds)
        packages, total, rest = _import_profile(box, ctx.rounds(5, 3))
    imports = result.add(Row.of("stockade ps -X importtime: all imports", "ms", total))
    result.add(Row.of("stockade ps -X importtime: everything else", "ms", rest))
    result.notes.append("-X importtime makes imports slower than in a plain run; the import "
                        "rows show proportions, the plain `stockade ps` row the real total")
    for package, package_samples in packages:
        result.add(Row.of(f"import: {package}", "ms", package_samples).against(
            "all imports", imports.value))
    result.series = {"startup": {r.metric: r.value for r in result.rows
                                 if r.metric.startswith(("python", "podman", "stockade"))
                                 and "vs" not in r.metric and "-X" not in r.metric},
                     "imports": {p: statistics.median(s) for p, s in packages}}
    return result


def _commands(box: Sandbox, result: SuiteResult) -> dict[str, Callable[[], float]]:
    """What is timed, each in the sandbox; podman only when it runs here."""
    argvs = {"python -c pass (interpreter floor)": [sys.executable, "-c", "pass"],
             "stockade ps": stockade_argv("ps"), "stockade version": stockade_argv("version"),
             "stockade --help": stockade_argv("--help"),
             TYPER_ROW: [sys.executable, "-c", TYPER_FLOOR],
             "python -c 'import stockade.cli.main' (imports only)":
                 [sys.executable, "-c", "import stockade.cli.main"]}
    try:
        timed_run(podman_argv(box, "ps"))
        argvs["podman ps (Go CLI, private root)"] = podman_argv(box, "ps")
    except (FileNotFoundError, RuntimeError) as exc:
        result.notes.append(f"podman ps skipped: {exc}")
    env = box.env()
    return {name: functools.partial(timed_run, argv, env) for name, argv in argvs.items()}


def _startup_rows(result: SuiteResult, samples: dict[str, list[float]]) -> None:
    floor = result.add(Row.of("python -c pass (interpreter floor)", "ms",
                              samples.pop("python -c pass (interpreter floor)")))
    podman = samples.pop("podman ps (Go CLI, private root)", None)
    podman_row = result.add(Row.of("podman ps (Go CLI, private root)", "ms", podman)) \
        if podman else None
    imports = samples.pop("python -c 'import stockade.cli.main' (imports only)")
    typer_floor = result.add(Row.of(TYPER_ROW, "ms", samples.pop(TYPER_ROW)).against(
        "python -c pass", floor.value))
    for name, values in samples.items():
        result.add(Row.of(name, "ms", values).against("python -c pass", floor.value))
    ps = result.row("stockade ps")
    if podman_row is not None and ps is not None:
        versus = result.add(Row.of("stockade ps vs podman ps", "ms", ps.samples).against(
            "podman ps", podman_row.value))
        result.add(Row.of(f"{TYPER_ROW} vs podman ps", "ms", typer_floor.samples).against(
            "podman ps", podman_row.value))
        ratio = versus.ratio or 0.0
        result.notes.append(
            f"goal (issue 18): stockade ps <= {GOAL_VS_PODMAN}x podman ps; measured "
            f"{ratio:.1f}x, " + ("met" if ratio <= GOAL_VS_PODMAN else "NOT met"))
    result.add(Row.of("python -c 'import stockade.cli.main' (imports only)", "ms",
                      imports).against("stockade ps", ps.value if ps else None))


def _ms(samples: list[float]) -> list[float]:
    return [s * 1000 for s in samples]


def _in_process_rows(result: SuiteResult, socket: Path, rounds: int) -> None:
    """What `stockade ps` does once its modules are loaded: one list through the daemon."""
    client = Client(socket)
    result.add(Row.of("in-process: Client.list() through the daemon", "ms",
                      _ms(repeat(lambda: _timed(client.list), rounds))))


def _timed(work: Callable[[], object], minus: float = 0.0) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started - minus


def _import_profile(box: Sandbox, rounds: int) -> tuple[list[tuple[str, list[float]]],
                                                       list[float], list[float]]:
    """The heaviest packages by own import time during `stockade ps` (ms samples), the
    total of all imports (including those made while it runs), and the rest of each of
    those runs' wall clock (interpreter start, command, output)."""
    per_package: dict[str, list[float]] = defaultdict(list)
    totals, rests = [], []
    for _ in range(rounds):
        argv = stockade_argv("ps")
        started = time.perf_counter()
        proc = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=box.env(),
                              capture_output=True, text=True, check=True)
        wall = (time.perf_counter() - started) * 1000
        own, total = _parse_importtime(proc.stderr)
        totals.append(total)
        rests.append(wall - total)
        for package, millis in own.items():
            per_package[package].append(millis)
    ranked = sorted(per_package.items(), key=lambda kv: statistics.median(kv[1]), reverse=True)
    return ranked[:TOP_PACKAGES], totals, rests


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
