"""Item 7: how snappy the CLI feels: `stockade ps`, `version` and `--help` start-up, and
the CLI's share of `stockade run --rm -- true`.

Set against the bare interpreter (`python -c pass`, the floor for any Python CLI), the
smallest argparse program (the floor for a CLI on the standard library's parser) and
`podman ps` (a Go CLI doing the same job), in a private root; issue 18's goals are `stockade
ps` within 2.5x of `podman ps`, and at most 40 ms of `stockade run --rm -- true` spent in
the CLI: the CLI's run against the same calls made in this process through the client
(the spec's JSON, create attached, stream, start, destroy), taken in turn. To show what to trim, the
in-process cost of what `ps` does after its imports (one list through the daemon) and
`python -X importtime` grouped by package: each module's own import time is charged to its
top-level package (`stockade.<subpackage>` for ours), so nothing is counted twice."""

import compileall
import functools
import secrets
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from bench.latency import podman_argv
from bench.model import Context, Row, SuiteResult
from bench.sandbox import SRC, Sandbox, interleave, repeat, sandbox, stockade_argv, timed_run
from bench.throughput import daemon
from stockade.client import Client, JsonClient

NAME = "cli"
TITLE = "CLI start-up: stockade ps / version / --help"
TOP_PACKAGES = 10
GOAL_VS_PODMAN = 2.5  # issue 18
GOAL_RUN_SHARE_MS = 40.0  # issue 18: the CLI's share of `stockade run --rm -- true`
# The smallest argparse program with one flag that does what `ps --json` parses: the floor
# for a CLI on the standard library's parser (cli/main.py says why it replaced typer).
PARSER_FLOOR = ("import argparse\nparser = argparse.ArgumentParser(prog='ps')\n"
                "parser.add_argument('--json', action='store_true')\n"
                "parser.parse_args()\nprint('HANDLE')\n")
PARSER_ROW = "argparse floor: a one-flag argparse program"
RUN_CLI = "stockade run --rm -- true (CLI)"
RUN_IN_PROCESS = "in-process: the same run through the client"


def run(ctx: Context) -> SuiteResult:
    rounds = ctx.rounds(15, 5)
    result = SuiteResult(NAME, TITLE, params={"rounds": rounds})
    # Bytecode caches in place, as after an install (pip compiles what it installs; a
    # shell with PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module at each
    # start, about 25 ms of every command here)
    compileall.compile_dir(str(SRC / "stockade"), quiet=1)
    result.notes.append("bytecode caches compiled first (compileall), as after an install")
    with sandbox(NAME, result.leftovers) as box, daemon(box, Client) as socket:
        samples = interleave(_commands(box, result), rounds)
        _startup_rows(result, {k: _ms(v) for k, v in samples.items()})
        _in_process_rows(result, socket, rounds)
        runs = interleave({RUN_CLI: lambda: timed_run(stockade_argv("run", "--rm", "--", "true"),
                                                      box.env()),
                           RUN_IN_PROCESS: functools.partial(_run_in_process, socket)},
                          ctx.rounds(30, 3))  # the pair varies by +-30 ms per round
        _run_rows(result, {k: _ms(v) for k, v in runs.items()})
        packages, total, rest = _import_profile(box, ctx.rounds(5, 3))
    imports = result.add(Row.of("stockade ps -X importtime: all imports", "ms", total))
    result.add(Row.of("stockade ps -X importtime: everything else", "ms", rest))
    result.notes.append("-X importtime makes imports slower than in a plain run; the import "
                        "rows show proportions, the plain `stockade ps` row the real total")
    for package, package_samples in packages:
        result.add(Row.of(f"import: {package}", "ms", package_samples).against(
            "all imports", imports.value))
    result.series = {"startup": {r.metric: r.value for r in result.rows
                                 if r.metric.startswith(("python", "podman", "stockade",
                                                         "argparse"))
                                 and "vs" not in r.metric and "-X" not in r.metric
                                 and "run --rm" not in r.metric},
                     "imports": {p: statistics.median(s) for p, s in packages}}
    return result


def _commands(box: Sandbox, result: SuiteResult) -> dict[str, Callable[[], float]]:
    """What is timed, each in the sandbox; podman only when it runs here."""
    argvs = {"python -c pass (interpreter floor)": [sys.executable, "-c", "pass"],
             "stockade ps": stockade_argv("ps"), "stockade version": stockade_argv("version"),
             "stockade --help": stockade_argv("--help"),
             PARSER_ROW: [sys.executable, "-c", PARSER_FLOOR],
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
    parser_floor = result.add(Row.of(PARSER_ROW, "ms", samples.pop(PARSER_ROW)).against(
        "python -c pass", floor.value))
    for name, values in samples.items():
        result.add(Row.of(name, "ms", values).against("python -c pass", floor.value))
    ps = result.row("stockade ps")
    if podman_row is not None and ps is not None:
        versus = result.add(Row.of("stockade ps vs podman ps", "ms", ps.samples).against(
            "podman ps", podman_row.value))
        result.add(Row.of(f"{PARSER_ROW} vs podman ps", "ms", parser_floor.samples).against(
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
    """What `stockade ps` does once its modules are loaded: one list through the daemon
    (the CLI's JSON, and the typed client's models for comparison)."""
    lean, client = JsonClient(socket), Client(socket)
    result.add(Row.of("in-process: JsonClient.list_json() through the daemon", "ms",
                      _ms(repeat(lambda: _timed(lean.list_json), rounds))))
    result.add(Row.of("in-process: Client.list() through the daemon", "ms",
                      _ms(repeat(lambda: _timed(client.list), rounds))))


def _run_in_process(socket: Path) -> float:
    """`stockade run --rm -- true` made here, its modules already loaded: the spec, the
    attached create, the process stream, the start and the destroy."""
    from stockade.cli import remote_foreground

    started = time.perf_counter()
    spec = {"handle": f"c-{secrets.token_hex(5)}", "image": "busybox",
            "process": {"args": ["true"]}}
    code = remote_foreground.run(JsonClient(socket), spec, interactive=False, remove=True)
    took = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"the in-process run of `true` exited {code}")
    return took


def _run_rows(result: SuiteResult, samples: dict[str, list[float]]) -> None:
    inside = result.add(Row.of(RUN_IN_PROCESS, "ms", samples[RUN_IN_PROCESS]))
    cli = result.add(Row.of(RUN_CLI, "ms", samples[RUN_CLI]).against(
        "in-process", inside.value))
    share = [c - i for c, i in zip(samples[RUN_CLI], samples[RUN_IN_PROCESS], strict=True)]
    result.add(Row.of("the CLI's share of run --rm -- true (CLI - in-process, per round)",
                      "ms", share).against("stockade run (CLI)", cli.value))
    measured = statistics.median(share)
    result.notes.append(
        f"goal (issue 18): the CLI's share of `run --rm -- true` <= {GOAL_RUN_SHARE_MS:.0f} "
        f"ms; measured {measured:.0f} ms, " + ("met" if measured <= GOAL_RUN_SHARE_MS
                                              else "NOT met"))


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
